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

from nova_zun_workshop import processes

# Every service user shares it; the cloud answers on 127.0.0.1 only.
SERVICE_PASSWORD = 'service-secret'
REGION = 'RegionOne'


def sqlite(path):
    return 'sqlite:///' + path


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
        'vnc': {'enabled': 'false'},
        # The compute host appears in its cell as soon as it reports.
        'scheduler': {'discover_hosts_in_cells_interval': '2',
                      'workers': '1'},
        'conductor': {'workers': '1'},
    })


def neutron(cloud):
    d = cloud.dirs['neutron']
    copy_paste_config('neutron', 'api-paste.ini', d)
    processes.write_ini(os.path.join(d, 'neutron.conf'), {
        'DEFAULT': {
            'api_paste_config': os.path.join(d, 'api-paste.ini'),
            # get_ports loads the ports' port forwardings: the plugin
            # must be there (devstack enables it too).
            'core_plugin': 'ml2',
            'service_plugins': 'router,port_forwarding',
            'auth_strategy': 'keystone',
            'transport_url': cloud.transport_url,
            'state_path': d,
            'notify_nova_on_port_status_changes': 'false',
            'notify_nova_on_port_data_changes': 'false',
        },
        'database': {'connection': sqlite(os.path.join(d, 'neutron.sqlite'))},
        'keystone_authtoken': authtoken(cloud.keystone_url, 'neutron'),
        'oslo_concurrency': {'lock_path': os.path.join(d, 'lock')},
    })
    processes.write_ini(os.path.join(d, 'ml2_conf.ini'), {
        'ml2': {'type_drivers': 'flat', 'tenant_network_types': '',
                'mechanism_drivers': '', 'extension_drivers': ''},
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
DEFAULT_FILTERS = ('ComputeFilter', 'ComputeCapabilitiesFilter',
                   'ImagePropertiesFilter', 'ServerGroupAntiAffinityFilter',
                   'ServerGroupAffinityFilter')


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
