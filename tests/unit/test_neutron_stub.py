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

"""The stand-in Neutron answers what Zun asks (nova_zun_workshop.zun_side)."""

import io
import ipaddress
import json

from nova_zun_workshop import neutron_stub


def call(method, path, query='', body=None):
    data = json.dumps(body).encode() if body is not None else b''
    answered = {}

    def start_response(status, headers):
        answered['status'] = int(status.split()[0])

    environ = {'REQUEST_METHOD': method, 'PATH_INFO': path,
               'QUERY_STRING': query, 'CONTENT_LENGTH': str(len(data)),
               'wsgi.input': io.BytesIO(data)}
    out = b''.join(neutron_stub.application(environ, start_response))
    return answered['status'], json.loads(out) if out else None


def test_zun_finds_the_shared_network_only_when_asking_for_shared():
    # zun.network.neutron.get_available_network: the project's own
    # networks first, then the shared ones.
    _, own = call('GET', '/v2.0/networks', 'tenant_id=p1&shared=False')
    _, shared = call('GET', '/v2.0/networks', 'shared=True')
    assert own == {'networks': []}
    assert [n['id'] for n in shared['networks']] == [
        neutron_stub.NETWORK_ID]
    _, by_id = call('GET', '/v2.0/networks',
                    'id=%s' % neutron_stub.NETWORK_ID)
    assert by_id['networks'][0]['shared'] is True


def test_a_port_has_an_address_of_the_subnet_until_deleted():
    status, made = call('POST', '/v2.0/ports', body={'port': {
        'network_id': neutron_stub.NETWORK_ID, 'device_id': 'c1',
        'tenant_id': 'p1'}})
    assert status == 201
    port = made['port']
    address = port['fixed_ips'][0]['ip_address']
    assert ipaddress.ip_address(address) in ipaddress.ip_network(
        neutron_stub.CIDR)
    assert port['device_id'] == 'c1'
    _, listed = call('GET', '/v2.0/ports', 'id=%s' % port['id'])
    assert [p['id'] for p in listed['ports']] == [port['id']]
    status, updated = call('PUT', '/v2.0/ports/%s' % port['id'],
                           body={'port': {'device_id': ''}})
    assert status == 200 and updated['port']['device_id'] == ''
    assert call('DELETE', '/v2.0/ports/%s' % port['id'])[0] == 204
    assert call('DELETE', '/v2.0/ports/%s' % port['id'])[0] == 404


def test_subnets_and_extensions():
    _, subnets = call('GET', '/v2.0/subnets',
                      'network_id=%s' % neutron_stub.NETWORK_ID)
    assert subnets['subnets'][0]['cidr'] == neutron_stub.CIDR
    assert call('GET', '/v2.0/extensions')[1] == {'extensions': []}
