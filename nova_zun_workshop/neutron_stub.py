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

"""The few Neutron calls Zun makes, answered from memory (no switch).

Zun has no networking without Neutron: its API picks a Neutron network
for every container (``zun.common.utils.build_requested_networks``) and
its Docker driver makes a Neutron port for it (``zun.network.
kuryr_network``). For Zun side by side (``nova_zun_workshop.zun_side``)
this stub answers them: one shared network with one IPv4 subnet, ports
with an address of that subnet. Zun's engine has a Docker bridge network
of the same name and subnet made beforehand, so Zun's kuryr driver finds
it and never asks for the kuryr-libnetwork plugin. No token is checked:
the stub listens on 127.0.0.1 for the side-by-side tools only.

Served by gunicorn with one worker (the ports are in its memory):
``gunicorn nova_zun_workshop.neutron_stub:application``.
"""

import ipaddress
import itertools
import json
import os
import threading
import uuid

NETWORK_ID = os.environ.get('NEUTRON_STUB_NETWORK_ID',
                            '9a3c1d52-7a38-4c41-9f39-5a1f3f4a0b01')
SUBNET_ID = '9a3c1d52-7a38-4c41-9f39-5a1f3f4a0b02'
# Of the benchmarking range (RFC 2544), never routed; Zun's engine keeps
# the bridge internal. Not TEST-NET-1: hosts here have their own address
# and gateway there, which a bridge holding 192.0.2.1 would take over.
CIDR = os.environ.get('NEUTRON_STUB_CIDR', '198.18.0.0/24')
CREATED_AT = '2026-01-01T00:00:00Z'

_lock = threading.Lock()
_ports = {}
_hosts = itertools.count(2)


def network():
    return {'id': NETWORK_ID, 'name': 'zun-side', 'shared': True,
            'router:external': False, 'status': 'ACTIVE',
            'subnets': [SUBNET_ID], 'tenant_id': '', 'project_id': '',
            'admin_state_up': True, 'mtu': 1500, 'created_at': CREATED_AT,
            'provider:physical_network': None}


def subnet():
    net = ipaddress.ip_network(CIDR)
    return {'id': SUBNET_ID, 'network_id': NETWORK_ID, 'ip_version': 4,
            'cidr': CIDR, 'gateway_ip': str(net[1]), 'enable_dhcp': False,
            'created_at': CREATED_AT}


def _new_port(body):
    net = ipaddress.ip_network(CIDR)
    host = next(_hosts)
    port_id = str(uuid.uuid4())
    port = {'id': port_id, 'network_id': NETWORK_ID, 'status': 'DOWN',
            'mac_address': '02:42:c6:12:%02x:%02x' % (host // 256,
                                                      host % 256),
            'fixed_ips': [{'subnet_id': SUBNET_ID,
                           'ip_address': str(net[host])}],
            'security_groups': [], 'device_id': '', 'device_owner': '',
            'tenant_id': '', 'binding:vif_type': 'unbound',
            'binding:profile': {}, 'created_at': CREATED_AT}
    port.update({k: v for k, v in body.items() if k != 'fixed_ips'})
    port['project_id'] = port['tenant_id']
    return port


def _matches(item, query):
    for key, values in query.items():
        if key in ('fields',):
            continue
        value = item.get(key)
        wanted = [str(v).lower() for v in values]
        if str(value).lower() not in wanted:
            return False
    return True


def _query(environ):
    query = {}
    for pair in environ.get('QUERY_STRING', '').split('&'):
        if '=' in pair:
            key, value = pair.split('=', 1)
            query.setdefault(key, []).append(value)
    return query


def _answer(method, path, query, body):
    """``(status, document)`` of one request."""
    parts = [p for p in path.split('/') if p]
    if parts[:1] == ['v2.0']:
        parts = parts[1:]
    if not parts:
        return 200, {'resources': []}
    resource, rest = parts[0].replace('.json', ''), parts[1:]
    rest = [r.replace('.json', '') for r in rest]
    if resource == 'extensions':
        return 200, {'extensions': []}
    if resource == 'networks':
        nets = [n for n in [network()] if _matches(n, query)]
        if rest:
            return (200, {'network': network()}) if rest[0] == NETWORK_ID \
                else (404, {'NeutronError': {'type': 'NetworkNotFound'}})
        return 200, {'networks': nets}
    if resource == 'subnets':
        return 200, {'subnets': [s for s in [subnet()]
                                 if _matches(s, query)]}
    if resource in ('security-groups', 'security-group-rules'):
        return 200, {resource.replace('-', '_'): []}
    if resource != 'ports':
        return 404, {'NeutronError': {'type': 'NotFound'}}
    with _lock:
        if method == 'POST':
            port = _new_port(body.get('port', {}))
            _ports[port['id']] = port
            return 201, {'port': port}
        if not rest:
            return 200, {'ports': [p for p in _ports.values()
                                   if _matches(p, query)]}
        port = _ports.get(rest[0])
        if port is None:
            return 404, {'NeutronError': {'type': 'PortNotFound',
                                          'message': 'Port not found'}}
        if method == 'PUT':
            port.update(body.get('port', {}))
        elif method == 'DELETE':
            del _ports[rest[0]]
            return 204, None
        return 200, {'port': port}


def application(environ, start_response):
    length = int(environ.get('CONTENT_LENGTH') or 0)
    raw = environ['wsgi.input'].read(length) if length else b''
    body = json.loads(raw) if raw else {}
    status, document = _answer(environ['REQUEST_METHOD'],
                               environ.get('PATH_INFO', '/'),
                               _query(environ), body)
    data = b'' if document is None else json.dumps(document).encode()
    reason = {200: 'OK', 201: 'Created', 204: 'No Content',
              404: 'Not Found'}[status]
    start_response('%d %s' % (status, reason),
                   [('Content-Type', 'application/json'),
                    ('Content-Length', str(len(data)))])
    return [data]
