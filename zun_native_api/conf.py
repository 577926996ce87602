#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Options of the native API, in its own file (``zun-native-api.conf``).

It reads ``[zun]`` (the engine endpoint, shared with the driver, see
:mod:`nova_zun.conf`), ``[native_api]`` below, ``[keystone_authtoken]``
(keystonemiddleware), ``[oslo_policy]`` and oslo.log's options.
``list_opts`` feeds oslo-config-generator (namespace ``zun_native_api``).
"""

import socket

from oslo_config import cfg

from nova_zun import conf as zun_conf

native_api_group = cfg.OptGroup(
    'native_api', title='nova-zun native API',
    help='The Zun-compatible container API that runs on every container '
         'host.')

opts = [
    cfg.HostAddressOpt('bind_host', default='0.0.0.0',
                       help='Address the API listens on.'),
    cfg.PortOpt('bind_port', default=9517,
                help='Port the API listens on (Zun uses 9517).'),
    cfg.IntOpt('workers', default=2, min=1,
               help='WSGI server worker processes.'),
    cfg.IntOpt('threads', default=8, min=1,
               help='Threads per worker: requests answered at the same '
                    'time by one worker (exec, logs and forwarding wait '
                    'on the engine or a peer).'),
    cfg.StrOpt('host', default=socket.gethostname(),
               sample_default='<hostname>',
               help='Name of this compute host, as nova-compute calls it '
                    '([DEFAULT] host of nova.conf): containers whose '
                    'org.openstack.nova-zun.host label is this name are '
                    'served here.'),
    cfg.DictOpt('hosts', default={},
                help='Native API URL of every container host, as '
                     'host:url pairs (e.g. compute2:http://10.0.0.12:9517). '
                     'A runtime operation on a container of another host '
                     'is forwarded there with the caller\'s token.'),
    cfg.BoolOpt('engine_shared', default=False,
                help='True when one engine serves several host names (test '
                     'and demo setups): a container of another host is then '
                     'found by its host label on this engine. Otherwise '
                     'Nova says which host runs a container.'),
    cfg.IntOpt('forward_timeout', default=60, min=1,
               help='Seconds to wait for a peer host to answer a forwarded '
                    'request.'),
    cfg.IntOpt('max_body_bytes', default=16 * 1024 * 1024, min=1024,
               help='Largest request body accepted (put_archive data '
                    'included); larger requests get 413.'),
    cfg.IntOpt('max_output_bytes', default=1024 * 1024, min=1024,
               help='Most bytes of exec output and of logs returned (the '
                    'newest part of logs is kept). logs asks the engine '
                    'for at most max_output_bytes / 16 of the newest '
                    'lines (a tail asked for beyond that is cut to it) '
                    'and holds at most twice max_output_bytes of them at '
                    'a time.'),
    cfg.IntOpt('max_archive_bytes', default=16 * 1024 * 1024, min=1024,
               help='Largest archive get_archive returns; larger paths '
                    'get 413. The archive is held in memory until it is '
                    'sent (its JSON, base64 or escaped, is made as it is '
                    'sent), so one worker process holds at most '
                    'archive_concurrency x max_archive_bytes of archives '
                    '(32 MiB by default).'),
    cfg.IntOpt('archive_concurrency', default=2, min=1,
               help='get_archive requests one worker process answers at '
                    'once (each holds up to max_archive_bytes until its '
                    'caller has read the answer); more get 429.'),
    cfg.IntOpt('max_limit', default=1000, min=1,
               help='Most containers one list answer holds (Zun\'s [api] '
                    'max_limit); its next link continues. The limit '
                    'parameter asks for fewer. The list is read from Nova '
                    'page after page, whatever Nova\'s own max_limit.'),
    cfg.IntOpt('exec_timeout', default=5, min=1,
               help='Seconds a non-interactive exec may run (Zun\'s '
                    '[docker] execute_timeout).'),
    cfg.StrOpt('nova_endpoint', default=None,
               help='Compute API URL; by default the compute endpoint of '
                    'the caller\'s service catalog.'),
    cfg.StrOpt('neutron_endpoint', default=None,
               help='Network API URL (security groups of exposed_ports, '
                    'network names of network_attach and network_detach, '
                    'the project network of default_networks); by '
                    'default the network endpoint of the caller\'s '
                    'service catalog.'),
    cfg.StrOpt('glance_endpoint', default=None,
               help='Image API URL (commit uploads there, create looks '
                    'image names up there); by default the image endpoint '
                    'of the caller\'s service catalog.'),
    cfg.StrOpt('default_image_driver', default='glance',
               choices=[('glance', 'image names a Glance image (UUID or '
                                   'name)'),
                        ('docker', 'image is a registry reference, pulled '
                                   'through a Glance image naming it')],
               help='How create reads image when the request gives no '
                    'image_driver. Zun\'s default is docker; glance keeps '
                    'Glance names working without --image-driver.'),
    cfg.IntOpt('glance_timeout', default=600, min=1,
               help='Seconds a commit may take to upload its image to '
                    'Glance.'),
    cfg.StrOpt('nova_interface', default='public',
               choices=['public', 'internal', 'admin'],
               help='Catalog interface of the compute, image and network '
                    'endpoints.'),
    cfg.StrOpt('nova_region', default=None,
               help='Region of the compute, image and network endpoints.'),
    cfg.StrOpt('nova_microversion', default='2.90',
               help='Compute API microversion used (2.90 or later: server '
                    'bodies embed their flavor, and every caller may give '
                    'and see a server\'s hostname).'),
    cfg.StrOpt('container_flavor_spec',
               default='trait:CUSTOM_ZUN_CONTAINER_HOST',
               help='Flavor extra spec (set to "required") that marks '
                    'container flavors; list, show and create consider '
                    'only servers and flavors that carry it.'),
    cfg.StrOpt('default_networks', default='project',
               choices=['project', 'auto', 'none'],
               help='Networks of a container created without nets: '
                    '"project" picks one as Zun does (the oldest network '
                    'of the project that is not shared, else the oldest '
                    'shared one; never an external one; Nova\'s "auto" '
                    'when there is none), "auto" is Nova\'s (the '
                    'project\'s only network, or one made for it), '
                    '"none" none.'),
    cfg.IntOpt('create_timeout', default=60, min=1,
               help='Seconds create waits for Nova to accept a server.'),
    cfg.URIOpt('console_url', default=None, schemes=['ws', 'wss'],
               help='WebSocket base URL (ws:// or wss://) at which clients '
                    'reach this host\'s native API, for attach and '
                    'interactive exec (the URL handed out ends in '
                    '/console?token=...). By default this host\'s URL in '
                    'hosts, else the URL the request came in on, with ws '
                    'for http and wss for https.'),
    cfg.StrOpt('console_token_dir',
               default='/run/zun-native-api/console-tokens',
               help='Directory (made if missing, mode 0700) where the '
                    'worker processes of this host share the single-use '
                    'tokens of console URLs, and count the open consoles '
                    '(one lock file per max_consoles).'),
    cfg.IntOpt('console_token_ttl', default=30, min=1,
               help='Seconds a console URL stays valid (it works once).'),
    cfg.IntOpt('console_idle_timeout', default=900, min=1,
               help='Seconds a console may pass without a byte either way '
                    'before it is closed (the process goes on: an exec '
                    'shell sees its stdin end).'),
    cfg.IntOpt('max_consoles', default=8, min=1,
               help='Consoles (attach, exec -i) open at once on this host, '
                    'over all its worker processes; more get 429. Each '
                    'holds a worker thread as long as it is open: keep it '
                    'below workers x threads, so requests still find '
                    'one.'),
]


def _group_like(group):
    return cfg.OptGroup(group.name, title=group.title, help=group.help)


def register_opts(conf):
    # oslo.config keeps overrides in the OptGroup object: a group object
    # of this ConfigOpts' own, so that set_override on one configuration
    # (a test's, Nova's global CONF) never changes another.
    conf.register_group(_group_like(zun_conf.zun_group))
    zun_conf.register_opts(conf)
    conf.register_group(_group_like(native_api_group))
    conf.register_opts(opts, group=native_api_group.name)


#: The [zun] image options create reads for image_driver docker.
_REGISTRY_OPTS = ('allowed_registries', 'registry_reference_property')


def list_opts():
    return [(native_api_group, opts),
            (zun_conf.zun_group, zun_conf.runtime_opts +
             [o for o in zun_conf.image_opts if o.name in _REGISTRY_OPTS])]
