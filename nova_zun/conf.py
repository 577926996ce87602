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

"""Every configuration option of nova-zun, in one place.

The driver reads ``[zun]`` from nova.conf; the native API reads the same
group from its own file. ``list_opts`` feeds oslo-config-generator.
"""

import importlib.util
import os

from oslo_config import cfg

zun_group = cfg.OptGroup(
    'zun', title='nova-zun container runtime',
    help='Containers as Nova instances: the container engine and how '
         'instances map onto it.')

runtime_opts = [
    cfg.StrOpt('engine_url',
               default=os.environ.get('DOCKER_HOST',
                                      'unix:///var/run/docker.sock'),
               sample_default='$DOCKER_HOST, else '
                              'unix:///var/run/docker.sock',
               help='Endpoint of the Docker Engine API (dockerd, or Podman '
                    'through its Docker-compatible socket). Only a local '
                    'unix socket is safe: the engine is root on this host.'),
    cfg.IntOpt('engine_timeout', default=120, min=1,
               help='Seconds to wait for the engine to answer one call '
                    '(stop and restart add their own grace period), and, '
                    'as nova-compute starts on a host with instances, for '
                    'the engine to come up.'),
    cfg.StrOpt('sandbox_binary', default='/bin/busybox',
               help='A statically linked busybox (Debian: busybox-static). '
                    'The pod sandbox image, which owns each instance\'s '
                    'network namespace, is built from it on first use; '
                    'nothing is pulled.'),
]


driver_opts = [
    cfg.DictOpt('runtimes',
                default={'runc': 'runc', 'runsc': 'runsc', 'kata': 'kata'},
                help='OCI runtimes instances may ask for, as '
                     'name:engine_runtime pairs. A flavor chooses one with '
                     'the extra spec zun:runtime=<name> (an image with the '
                     'property zun_runtime, within image_runtimes); the '
                     'engine must have engine_runtime registered '
                     '(dockerd --add-runtime or '
                     'daemon.json "runtimes"). Hosts advertise '
                     'CUSTOM_ZUN_RUNTIME_<NAME> for each name whose engine '
                     'runtime exists.'),
    cfg.StrOpt('default_runtime', default='runc',
               help='Name (a key of runtimes) used when neither the flavor '
                    'nor the image asks for a runtime.'),
    cfg.ListOpt('image_runtimes', default=[],
                help='Names (keys of runtimes) that a Glance image\'s '
                     'zun_runtime property may choose besides '
                     'default_runtime. An image owner is not the operator: '
                     'list only runtimes that isolate at least as well as '
                     'default_runtime (with default_runtime = runc, e.g. '
                     'runsc,kata). An image naming any other runtime fails '
                     'to boot with a fault that says so. Empty: images may '
                     'only name default_runtime. A flavor\'s zun:runtime '
                     '(flavors are the operator\'s) is not bounded by this '
                     'and wins over the image\'s property.'),
    cfg.IntOpt('pids_limit', default=4096, min=16,
               help='Most processes and threads one instance may run; a '
                    'flavor may set its own with zun:pids_limit.'),
    cfg.IntOpt('console_log_max_bytes', default=100 * 1024, min=1024,
               help='Most bytes of container output returned as the '
                    'console log (the newest part is kept).'),
    cfg.IntOpt('stop_timeout', default=10, min=0,
               help='Seconds a workload gets to exit after SIGTERM on soft '
                    'reboot and rebuild before it is killed (power off uses '
                    'the timeout Nova passes, [DEFAULT] shutdown_timeout).'),
]


scheduler_opts = [
    cfg.StrOpt('tenant_isolation', default='off',
               choices=[
                   ('off', 'Projects may share hosts.'),
                   ('all', 'Every instance gets a host whose instances all '
                           'belong to its own project.'),
                   ('flavor', 'Only instances whose flavor has the extra '
                              'spec zun:tenant_isolation=true are isolated: '
                              'they get a host holding only their project\'s '
                              'instances, and no other project\'s instance '
                              'is placed beside them afterwards.'),
               ],
               help='Keep each host to one project (tenant). Read by '
                    'nova-scheduler, where TenantIsolationFilter '
                    '(nova_zun.scheduler.filters.TenantIsolationFilter in '
                    '[filter_scheduler] available_filters and '
                    'enabled_filters) applies it, and by nova-compute, '
                    'where the driver checks it again when it claims the '
                    'host for an instance, so two projects\' concurrent '
                    'boots never end up together: the later one is '
                    'rescheduled. Set the same value on both. The filter '
                    'reads the scheduler\'s view of the instances on each '
                    'host, which [filter_scheduler] track_instance_changes '
                    '= True (the default) keeps current without database '
                    'queries; with it off, the filter reads the projects '
                    'of each host\'s instances from the database on every '
                    'request.'),
]


image_opts = [
    cfg.IntOpt('image_cache_unused_age', default=24 * 3600, min=0,
               help='Seconds an image loaded from Glance (or pulled for a '
                    'Glance image, or kept from a snapshot) may go unused '
                    'by every instance on this host before the image cache '
                    'pass removes it from the engine. The pass runs every '
                    '[image_cache] manager_interval seconds; with '
                    '[image_cache] remove_unused_base_images = False no '
                    'image is removed. Images in use are always kept.'),
    cfg.StrOpt('registry_reference_property',
               default='zun_registry_reference',
               help='Glance image property that names a registry image '
                    '(e.g. registry.example.com:5000/team/app:1.2). An image '
                    'that carries it and holds no data (size 0) is pulled '
                    'from that registry instead of downloaded from Glance; '
                    'an image with data is always loaded from its data.'),
    cfg.ListOpt('allowed_registries', default=[],
                help='Registries (host or host:port, as in the first part '
                     'of a reference; docker.io for references without '
                     'one) that registry images may name. A Glance image '
                     'naming any other registry fails to boot. Empty: any '
                     'registry (the engine fetches from wherever a tenant\'s '
                     'image points).'),
    cfg.StrOpt('registry_username',
               help='User name for the registries in registry_auth_hosts, '
                    'used when a registry image is pulled from one of '
                    'them. Unset: pull anonymously.'),
    cfg.StrOpt('registry_password', secret=True,
               help='Password for registry_username. Never logged.'),
    cfg.ListOpt('registry_auth_hosts', default=[],
                help='Registries (host or host:port) that get '
                     'registry_username and registry_password. Pulls from '
                     'any other registry are anonymous, so a tenant\'s image '
                     'cannot send the credentials to a registry of its '
                     'choosing. Empty: the credentials go to no registry.'),
    cfg.BoolOpt('snapshot_pause', default=True,
                help='Freeze a running workload while its filesystem is '
                     'committed for a snapshot, so the snapshot is '
                     'consistent (it runs again before the upload to Glance '
                     'starts).'),
]


network_opts = [
    cfg.BoolOpt('allow_bridged_traffic', default=True,
                help='For OVS hybrid ports (a per-port Linux bridge, used '
                     'with the iptables security group driver), accept '
                     'traffic bridged through the instance\'s device in '
                     'the host\'s FORWARD chain. With br_netfilter loaded '
                     '(bridge-nf-call-iptables=1) bridged packets pass '
                     'FORWARD, whose DROP policy (Docker sets one) eats '
                     'them otherwise. The rules sit in chain '
                     'nova-zun-FORWARD, jumped to at the end of FORWARD, '
                     'so Neutron\'s security group chains, inserted '
                     'before, still decide first. Removed on unplug.'),
]


volume_opts = [
    cfg.StrOpt('volume_mount_dir', default='$state_path/zun-volumes',
               help='Where the driver mounts the filesystems of Cinder '
                    'volumes on this host, one directory per instance '
                    '(<dir>/<instance uuid>/<device>, e.g. .../vdb). The '
                    'driver makes the directory a shared mount of its own '
                    '(mount --bind, --make-shared) so a volume mounted here '
                    'later appears inside the running container (rslave '
                    'propagation). Use a local directory nothing else '
                    'mounts below.'),
]


def register_opts(conf):
    conf.register_group(zun_group)
    conf.register_opts(runtime_opts, group=zun_group)
    conf.register_opts(driver_opts, group=zun_group)
    conf.register_opts(network_opts, group=zun_group)
    conf.register_opts(scheduler_opts, group=zun_group)
    conf.register_opts(image_opts, group=zun_group)
    conf.register_opts(volume_opts, group=zun_group)


def _nova_state_path():
    """Nova's default [DEFAULT] state_path, found without loading Nova.

    The default is $pybasedir: the directory Nova is installed in.
    """
    spec = importlib.util.find_spec('nova')
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.dirname(spec.submodule_search_locations[0])


def register_privsep_opts(conf):
    """Register what nova-zun's privsep daemons read from Nova's config files.

    They read nova-compute's configuration files: [zun], and Nova's [DEFAULT]
    state_path, which volume_mount_dir's default names (registered only where
    Nova did not register it: the daemons load nothing of Nova).
    """
    register_opts(conf)
    if 'state_path' not in conf:
        conf.register_opt(cfg.StrOpt(
            'state_path', default=_nova_state_path(),
            help='Nova\'s [DEFAULT] state_path, as Nova reads it.'))


def list_opts():
    return [(zun_group, (runtime_opts + driver_opts + scheduler_opts +
                         image_opts + network_opts + volume_opts))]


CONF = cfg.CONF
register_opts(CONF)
