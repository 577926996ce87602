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

"""Configuration files of the all-in-one cloud's services."""

import os
import shutil
import sys

from nova_zun_workshop.allinone import ovn
from nova_zun_workshop import processes

# Every service user shares it; the cloud answers on 127.0.0.1 only.
SERVICE_PASSWORD = 'service-secret'
REGION = 'RegionOne'


def service_auth(keystone_url, username):
    """keystoneauth password options of a service user."""
    return {'auth_type': 'password', 'auth_url': keystone_url,
            'username': username, 'password': SERVICE_PASSWORD,
            'project_name': 'service', 'user_domain_name': 'Default',
            'project_domain_name': 'Default', 'region_name': REGION}


def authtoken(keystone_url, username):
    return dict(service_auth(keystone_url, username),
                www_authenticate_uri=keystone_url)


def copy_paste_config(project, name, directory):
    """Copy a service's paste pipeline next to its configuration.

    The pipeline is installed under the virtualenv's ``etc/``.
    """
    shutil.copy(os.path.join(sys.prefix, 'etc', project, name), directory)


def placement(cloud):
    d = cloud.dirs['placement']
    processes.write_ini(os.path.join(d, 'placement.conf'), {
        'placement_database': {
            'connection': cloud.mariadb_url('placement')},
        'api': {'auth_strategy': 'keystone'},
        'keystone_authtoken': authtoken(cloud.keystone_url, 'placement'),
    })


def nova(cloud):
    d = cloud.dirs['nova']
    copy_paste_config('nova', 'api-paste.ini', d)
    processes.write_ini(os.path.join(d, 'nova.conf'), {
        'DEFAULT': {
            'host': cloud.host,
            'my_ip': '127.0.0.1',
            'compute_driver': 'zun.ZunDriver',
            'transport_url': cloud.transport_url,
            'state_path': d,
            'instances_path': os.path.join(d, 'instances'),
            # After stop and up, servers that ran run again.
            'resume_guests_state_on_host_boot': 'true',
            # Resize keeps the pod on its host when the scheduler says so
            # (doc/driver.rst); with several hosts it may move.
            'allow_resize_to_same_host': 'true',
        },
        'api': {'auth_strategy': 'keystone'},
        'wsgi': {'api_paste_config': os.path.join(d, 'api-paste.ini')},
        'api_database': {'connection': cloud.mariadb_url('nova_api')},
        'database': {'connection': cloud.mariadb_url('nova')},
        'keystone_authtoken': authtoken(cloud.keystone_url, 'nova'),
        'service_user': dict(service_auth(cloud.keystone_url, 'nova'),
                             send_service_user_token='true'),
        'placement': service_auth(cloud.keystone_url, 'placement'),
        'neutron': service_auth(cloud.keystone_url, 'neutron'),
        'glance': {'region_name': REGION},
        'oslo_concurrency': {'lock_path': os.path.join(d, 'lock')},
        # os-vif plugs the ports into the cloud's own switch.
        'os_vif_ovs': {'ovsdb_connection': cloud.switch.ovs_connection},
        'vnc': {'enabled': 'false'},
        # The compute host appears in its cell as soon as it reports.
        'scheduler': {'discover_hosts_in_cells_interval': '2',
                      'workers': '1'},
        'conductor': {'workers': '1'},
    })


def neutron(cloud):
    d = cloud.dirs['neutron']
    switch = cloud.switch
    copy_paste_config('neutron', 'api-paste.ini', d)
    processes.write_ini(os.path.join(d, 'neutron.conf'), {
        'DEFAULT': {
            'host': cloud.host,
            'api_paste_config': os.path.join(d, 'api-paste.ini'),
            # get_ports loads the ports' port forwardings: the plugin
            # must be there (devstack enables it too); auto_allocate
            # gives a project that names no network one of its own.
            'core_plugin': 'ml2',
            'service_plugins': 'ovn-router,port_forwarding,auto_allocate',
            'auth_strategy': 'keystone',
            'transport_url': cloud.transport_url,
            'state_path': d,
            # A port OVN reports up becomes Nova's network-vif-plugged.
            'notify_nova_on_port_status_changes': 'true',
            'notify_nova_on_port_data_changes': 'true',
        },
        'database': {'connection': cloud.mariadb_url('neutron')},
        'keystone_authtoken': authtoken(cloud.keystone_url, 'neutron'),
        'nova': service_auth(cloud.keystone_url, 'nova'),
        'oslo_concurrency': {'lock_path': os.path.join(d, 'lock')},
    })
    processes.write_ini(os.path.join(d, 'ml2_conf.ini'), {
        # devstack's ML2/OVN: geneve tenant networks, a flat provider
        # network for the external one.
        'ml2': {'type_drivers': 'flat,geneve',
                'tenant_network_types': 'geneve',
                'mechanism_drivers': 'ovn',
                'extension_drivers': 'port_security'},
        'ml2_type_flat': {'flat_networks': ovn.PHYSNET},
        'ml2_type_geneve': {'vni_ranges': '1:65536',
                            'max_header_size': '38'},
        'securitygroup': {'enable_security_group': 'true'},
        'ovn': {'ovn_nb_connection': switch.nb_connection,
                'ovn_sb_connection': switch.sb_connection,
                'ovn_l3_scheduler': 'leastloaded',
                # Servers get their addresses from the driver, and no
                # metadata agent runs.
                'ovn_metadata_enabled': 'false'},
    })


def compute(cloud, host):
    """nova-compute's own options on compute ``host``, after nova.conf."""
    processes.write_ini(host.compute_conf, {
        'DEFAULT': {
            'host': host.host,
            'state_path': host.state_dir,
            'instances_path': os.path.join(host.state_dir, 'instances'),
        },
        'oslo_concurrency': {'lock_path': os.path.join(host.state_dir,
                                                       'lock')},
        'zun': {'engine_url': host.engine.url},
        # As for libvirt (doc/driver.rst, "Serial console").
        'serial_console': {
            'enabled': 'true',
            'base_url': cloud.urls['serialproxy'],
            'proxyclient_address': '127.0.0.1',
            'port_range': '%d:%d' % host.serial_ports},
    })


def serialproxy(cloud):
    processes.write_ini(cloud.serialproxy_conf, {
        'serial_console': {
            'serialproxy_host': '127.0.0.1',
            'serialproxy_port': str(cloud.ports['serialproxy'])},
    })


# Multi-valued (oslo.config's own syntax, which configparser cannot write).
_SCHEDULING = """[filter_scheduler]
available_filters = nova.scheduler.filters.all_filters
available_filters = nova_zun.scheduler.filters.TenantIsolationFilter
enabled_filters = %(filters)s

[zun]
tenant_isolation = %(mode)s
"""
# Nova's defaults but AvailabilityZoneFilter (placement filters zones):
# same_host and different_host hints work, as Tempest's multi-node tests
# expect.
DEFAULT_FILTERS = ('ComputeFilter', 'ComputeCapabilitiesFilter',
                   'ImagePropertiesFilter', 'ServerGroupAntiAffinityFilter',
                   'ServerGroupAffinityFilter', 'SameHostFilter',
                   'DifferentHostFilter')


def scheduling(cloud):
    """TenantIsolationFilter and its mode, for nova-scheduler and computes.

    doc/scheduling.rst: both read ``[zun] tenant_isolation``.
    """
    with open(cloud.scheduling_conf, 'w') as f:
        f.write(_SCHEDULING % {
            'filters': ','.join(DEFAULT_FILTERS + ('TenantIsolationFilter',)),
            'mode': cloud.tenant_isolation})


def native_api(cloud, host):
    options = {'bind_host': '127.0.0.1',
               'bind_port': str(host.native_api_port),
               'host': host.host,
               'nova_endpoint': cloud.urls['compute']}
    if len(cloud.computes) > 1:
        # Requests for another host's containers are forwarded there.
        options['hosts'] = ','.join('%s:%s' % (c.host, c.native_api_url)
                                    for c in cloud.computes)
    processes.write_ini(host.native_api_conf, {
        'native_api': options,
        'zun': {'engine_url': host.engine.url},
        'keystone_authtoken': dict(authtoken(cloud.keystone_url, 'zun'),
                                   service_token_roles_required='true'),
    })


# The dashboard's Django settings: Horizon's own, then the cloud's. Its
# static files are collected and compressed once (``COMPRESS_OFFLINE``) into
# ``static/``, which the dashboard serves itself (there is no web server in
# front of gunicorn here).
_DASHBOARD_SETTINGS = '''\
from openstack_dashboard.settings import *  # noqa

DEBUG = False
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
SECRET_KEY = %(secret_key)r
OPENSTACK_HOST = '127.0.0.1'
OPENSTACK_KEYSTONE_URL = %(keystone_url)r
OPENSTACK_KEYSTONE_DEFAULT_ROLE = 'member'
# No routers, floating IPs or quotas: Neutron runs ML2 without agents.
OPENSTACK_NEUTRON_NETWORK = {'enable_router': False, 'enable_quotas': False,
                             'enable_fip_topology_check': False}
STATIC_ROOT = %(static_root)r
COMPRESS_OFFLINE = True
# No memcached here: one worker process, its own cache; sessions are in
# signed cookies (Horizon's default).
CACHES = {'default': {
    'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}
ROOT_URLCONF = 'dashboard_urls'
# zun-ui's Console tab frames the dashboard's own console page, which
# Django's default (DENY) would refuse to show.
X_FRAME_OPTIONS = 'SAMEORIGIN'
# Into the service's log: gunicorn's output.
LOGGING = {'version': 1, 'disable_existing_loggers': False,
           'handlers': {'console': {'class': 'logging.StreamHandler'}},
           'root': {'handlers': ['console'], 'level': 'INFO'}}
'''

_DASHBOARD_URLS = '''\
from django.conf import settings
from django.urls import re_path
from django.views import static

from openstack_dashboard.urls import urlpatterns as dashboard

urlpatterns = [re_path(r'^static/(?P<path>.*)$', static.serve,
                       {'document_root': settings.STATIC_ROOT})] + dashboard
'''

DASHBOARD_APP_IMPORT = (
    "import os\n"
    "os.environ['DJANGO_SETTINGS_MODULE'] = 'dashboard_settings'\n"
    "from django.core.wsgi import get_wsgi_application\n"
    "application = get_wsgi_application()")


def dashboard(cloud):
    """Horizon's settings, URLs and WSGI module in ``cloud.dirs['horizon']``.

    zun-ui's panels are enabled in Horizon's ``local/enabled`` as zun-ui's
    installation guide says (a copy of its ``enabled`` files).
    """
    import openstack_dashboard.local.enabled
    import zun_ui.enabled
    d = cloud.dirs['horizon']
    with open(os.path.join(d, 'dashboard_settings.py'), 'w') as f:
        f.write(_DASHBOARD_SETTINGS % {
            'secret_key': os.urandom(32).hex(),
            'keystone_url': cloud.keystone_url,
            'static_root': os.path.join(d, 'static')})
    with open(os.path.join(d, 'dashboard_urls.py'), 'w') as f:
        f.write(_DASHBOARD_URLS)
    processes.write_wsgi_module(d, 'dashboard_app', DASHBOARD_APP_IMPORT)
    enabled = os.path.dirname(zun_ui.enabled.__file__)
    for name in sorted(os.listdir(enabled)):
        if name.startswith('_') and name.endswith('.py') and \
                name != '__init__.py':
            shutil.copy(os.path.join(enabled, name),
                        os.path.dirname(openstack_dashboard.local.enabled
                                        .__file__))
