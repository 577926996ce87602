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

"""``/v1/hosts`` and ``/v1/services`` (admin): Nova's container hosts
shaped as Zun's compute nodes and zun-compute services.

Nova answers with the caller's token, so its own policy (admin) applies
as well.
"""

import flask

from zun_native_api import containers
from zun_native_api import validation

blueprint = flask.Blueprint('hosts', __name__)


def _admin_nova(operation, rule):
    validation.query(operation)
    validation.no_body()
    return containers.authorized_nova(rule)


def _host(hypervisor):
    """A Nova hypervisor as Zun's host (zun/api/controllers/v1/views).

    What the engine alone knows (OS, kernel, runtimes) is not in Nova: null.
    """
    href = '%sv1/hosts/%s' % (flask.request.host_url, hypervisor['id'])
    return {
        'uuid': hypervisor['id'],
        'links': [{'href': href, 'rel': 'self'},
                  {'href': href, 'rel': 'bookmark'}],
        'hostname': (hypervisor.get('service') or {}).get('host'),
        'mem_total': hypervisor.get('memory_mb'),
        'mem_used': hypervisor.get('memory_mb_used'),
        'cpus': hypervisor.get('vcpus'),
        'cpu_used': hypervisor.get('vcpus_used'),
        'disk_total': hypervisor.get('local_gb'),
        'disk_used': hypervisor.get('local_gb_used'),
        'total_containers': hypervisor.get('running_vms'),
        # An object since compute API 2.28.
        'architecture': (hypervisor.get('cpu_info') or {}).get('arch'),
        'os_type': 'linux',
        'os': None,
        'kernel_version': None,
        'labels': {},
        'runtimes': None,
        'disk_quota_supported': None,
        'enable_cpu_pinning': False,
    }


def _service(service):
    """A nova-compute service as Zun's zun-compute service."""
    return {
        'id': service['id'],
        'host': service.get('host'),
        'binary': service.get('binary'),
        'availability_zone': service.get('zone'),
        'state': service.get('state'),
        'disabled': service.get('status') == 'disabled',
        'disabled_reason': service.get('disabled_reason'),
        'forced_down': bool(service.get('forced_down')),
        'last_seen_up': service.get('updated_at'),
        'updated_at': service.get('updated_at'),
        'created_at': None,
        'report_count': None,
    }


@blueprint.route('/v1/hosts', methods=['GET'], strict_slashes=False)
def host_list():
    nova = _admin_nova('host_list', 'host:get_all')
    return flask.jsonify({
        'hosts': [_host(h) for h in
                  containers.nova_call(nova.container_hypervisors)],
        'next': None})


@blueprint.route('/v1/services', methods=['GET'], strict_slashes=False)
def service_list():
    nova = _admin_nova('service_list', 'zun-service:get_all')
    hosts = {(h.get('service') or {}).get('host') for h in
             containers.nova_call(nova.container_hypervisors)}
    return flask.jsonify({
        'services': [_service(s) for s in
                     containers.nova_call(nova.compute_services)
                     if s.get('host') in hosts]})
