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

"""The native API's network operations on real ports: network_attach,
network_detach and network_list through Nova's interface attach, detach and
list, and exposed ports' security group on the container's port.

Nova's framework as in test_native_api_nova.py, with Neutron's ports bound
to a private Open vSwitch (run it under the OVS lock).
"""

from nova_zun_workshop.polling import wait_for
from tests.functional import base
from tests.functional.native_api_support import assert_documented
from tests.functional.native_api_support import assert_zun_error
from tests.functional.native_api_support import Caller
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional import test_native_api_nova as harness


class NativeApiNetworksTestCase(base.NetworkFixtureMixin,
                                harness.NovaHarness):

    def _interfaces(self, uuid):
        """``{ifname}`` of the container's NICs but lo."""
        out = self.runtime.exec('nova-%s' % uuid,
                                ['cat', '/proc/net/dev']).output.decode()
        return {line.split(':')[0].strip() for line in out.splitlines()
                if ':' in line} - {'lo'}

    def _port_on(self, uuid, network):
        return [p for p in self.ports_of({'id': uuid})
                if p['network_id'] == network['id']]

    def test_network_attach_detach_and_list_through_nova(self):
        self._serve_with_neutron()
        zun = self.zun()
        net_a, net_b = self.neutron.net_a, self.neutron.net_b
        uuid = self.cli_run('wired', '--net', 'network=' + net_a['id'],
                            '--expose-port', '80')
        self.wait_for_status(zun, uuid, 'Running')
        # Exposed ports: the container's port has its group alone.
        (port_a,) = self._port_on(uuid, net_a)
        (group,) = self._groups('zun-' + uuid)
        self.assertEqual([group['id']], port_a['security_groups'])
        started = self.workload({'id': uuid}).started_at
        self.assertEqual({'eth0'}, self._interfaces(uuid))

        # zun network-attach by the network's name: Nova's interface
        # attach, plugged live.
        attached = self.zun_cli('network-attach', '--network', 'net-b',
                                'wired')
        self.assertEqual(0, attached.returncode, attached.stderr)
        self.assertNotIn('failed', attached.stdout)
        (port_b,) = self._port_on(uuid, net_b)
        wait_for(lambda: self._interfaces(uuid) == {'eth0', 'eth1'},
                 'eth1 in the container')
        listed = self.zun_cli('network-list', 'wired')
        self.assertEqual(0, listed.returncode, listed.stderr)
        for port in (port_a, port_b):
            self.assertIn(port['id'], listed.stdout)
        alice = self.native()
        answer = alice.get('/v1/containers/%s/network_list' % uuid)
        self.assertEqual(200, answer.status_code, answer.text)
        assert_documented('network_list', answer)
        self.assertEqual(
            {(net_a['id'], port_a['id']), (net_b['id'], port_b['id'])},
            {(n['net_id'], n['port_id']) for n in answer.json()['networks']})
        self.assertEqual(
            [{'subnet_id': ip['subnet_id'], 'ip_address': ip['ip_address'],
              'version': 4 if '.' in ip['ip_address'] else 6}
             for ip in port_b['fixed_ips']],
            next(n['fixed_ips'] for n in answer.json()['networks']
                 if n['port_id'] == port_b['id']))
        # Before 1.18, an address each (Zun's legacy shape); before 1.13
        # none.
        legacy = Caller(self.native_url, self.identities.token('alice'),
                        version='container 1.17').get(
            '/v1/containers/%s/network_list' % uuid)
        self.assertIn(port_b['fixed_ips'][0]['ip_address'],
                      [n['ip_address'] for n in legacy.json()['networks']])

        # Raw HTTP: detach by port, attach again with a fixed IP, zun
        # network-detach by network.
        self.assertEqual(202, alice.post(
            '/v1/containers/%s/network_detach' % uuid,
            params={'port': port_b['id']}).status_code)
        wait_for(lambda: not self._port_on(uuid, net_b), 'port_b deleted')
        wait_for(lambda: self._interfaces(uuid) == {'eth0'},
                 'eth1 gone from the container')
        address = self.neutron.subnet_b4['cidr'].replace('0/24', '200')
        answer = alice.post('/v1/containers/%s/network_attach' % uuid,
                            params={'network': net_b['id'],
                                    'fixed_ip': address})
        self.assertEqual(200, answer.status_code, answer.text)
        (port_b,) = self._port_on(uuid, net_b)
        self.assertEqual([address], [ip['ip_address']
                                     for ip in port_b['fixed_ips']])
        wait_for(lambda: address in self.runtime.exec(
            'nova-%s' % uuid, ['ip', '-o', 'addr']).output.decode(),
            'the fixed IP in the container')
        detached = self.zun_cli('network-detach', '--network',
                                net_b['id'], 'wired')
        self.assertEqual(0, detached.returncode, detached.stderr)
        self.assertNotIn('failed', detached.stdout)
        wait_for(lambda: not self._port_on(uuid, net_b), 'port_b deleted')
        # Live all along: the workload never restarted.
        self.assertEqual(started, self.workload({'id': uuid}).started_at)

        # Refused, as Zun refuses them; nothing changes.
        ports = sorted(p['id'] for p in self.ports_of({'id': uuid}))
        for query, status in (({'network': net_a['id']}, 400),
                              ({'network': net_b['id'], 'port': 'x'}, 400),
                              ({}, 400),
                              ({'network': net_b['id'],
                                'fixed_ip': 'nope'}, 400)):
            assert_zun_error(alice.post(
                '/v1/containers/%s/network_attach' % uuid, params=query),
                status)
        assert_zun_error(alice.post(
            '/v1/containers/%s/network_detach' % uuid,
            params={'network': net_b['id']}), 400)
        assert_zun_error(Caller(
            self.native_url, self.identities.token('alice'),
            version='container 1.7').post(
                '/v1/containers/%s/network_attach' % uuid,
                params={'network': net_b['id']}), 406)
        assert_zun_error(self.native('bob').post(
            '/v1/containers/%s/network_attach' % uuid,
            params={'network': net_b['id']}), 404)
        assert_zun_error(self.native('carol').post(
            '/v1/containers/%s/network_detach' % uuid,
            params={'network': net_a['id']}), 403)
        self.assertEqual(ports, sorted(p['id'] for p in
                                       self.ports_of({'id': uuid})))

        # The group goes once the container's port is gone.
        self.assertEqual(204, alice.request(
            'DELETE', '/v1/containers/' + uuid).status_code)
        self._wait_until_deleted({'id': uuid})
        self._wait_for_no_group('zun-' + uuid)
