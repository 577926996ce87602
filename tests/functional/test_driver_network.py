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

"""Neutron ports in containers through the real Nova API: os-vif plugs them
into a real Open vSwitch (userspace datapath where the kernel has no
openvswitch module), the container end of a veth lands in the pod
sandbox, and containers talk to each other through the switch."""

import ipaddress
import re


from nova_zun import network
from nova_zun import privileged
from nova_zun_workshop.functional.base import privsep_capabilities
from nova_zun_workshop.polling import wait_for
from tests.functional import base


class NetworkTestCase(base.NetworkFixtureMixin,
                      base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')

    # -- helpers -----------------------------------------------------------

    def nics(self, server):
        """``{ifname: {'mac', 'mtu', 'addrs'}}`` as the container sees them."""
        nics = {}
        out = self.ok(server, 'ip -o link; ip -o addr')
        for line in out.splitlines():
            m = re.match(r'\d+: (\w+)[@:].* mtu (\d+) .*link/ether '
                         r'([0-9a-f:]+)', line)
            if m:
                nics.setdefault(m.group(1), {'addrs': set()}).update(
                    mtu=int(m.group(2)), mac=m.group(3))
            m = re.match(r'\d+: (\w+)\s+inet6? ([0-9a-f.:]+/\d+)', line)
            if m and m.group(1) != 'lo' and 'scope link' not in line:
                nics.setdefault(m.group(1), {'addrs': set()})[
                    'addrs'].add(m.group(2))
        return nics

    def expected_addrs(self, port):
        addrs = set()
        for ip in port['fixed_ips']:
            subnet = self.neutron._subnets[ip['subnet_id']]
            prefix = ipaddress.ip_network(subnet['cidr']).prefixlen
            addrs.add('%s/%d' % (ip['ip_address'], prefix))
        return addrs

    def assertNicIs(self, nic, port, mtu):
        self.assertEqual(port['mac_address'], nic['mac'])
        self.assertEqual(mtu, nic['mtu'])
        self.assertEqual(self.expected_addrs(port), nic['addrs'])

    def assertNothingLeft(self, servers, port_ids):
        for server in servers:
            self.assertEqual([], self.pod_containers(server))
        self.assertEqual([], self.host_leftovers(port_ids))

    def delete_all(self, *servers):
        ports = [p['id'] for s in servers for p in self.ports_of(s)]
        netns = [self.runtime.get_sandbox('nova-%s-sandbox' % s['id'])
                 .netns_path for s in servers]
        for server in servers:
            self._delete_server(server)
        self.assertNothingLeft(servers, ports)
        for path in netns:
            self.assertEqual({}, privileged.netns_links(path))

    # -- tests -------------------------------------------------------------

    def test_two_servers_on_a_network_talk_through_the_switch(self):
        one = self.boot_on(self.neutron.net_a)
        two = self.boot_on(self.neutron.net_a)
        port_one, = self.ports_of(one)
        port_two, = self.ports_of(two)
        # Nova waited for Neutron to report each port up.
        self.assertIn(('network-vif-plugged', port_one['id']),
                      self.neutron.sent)
        self.assertEqual('ACTIVE', self.neutron.port(port_one['id'])
                         ['status'])
        nics = self.nics(one)
        self.assertEqual({'eth0'}, set(nics) - {'lo'})
        self.assertNicIs(nics['eth0'], port_one, 1400)
        routes = self.ok(one, 'ip route; ip -6 route')
        gw4 = self.neutron.subnet_a4['gateway_ip']
        gw6 = self.neutron.subnet_a6['gateway_ip']
        self.assertIn('default via %s dev eth0' % gw4, routes)
        self.assertIn('default via %s dev eth0' % gw6, routes)
        route = self.neutron.subnet_a4['host_routes'][0]
        self.assertIn('%s via %s dev eth0' % (route['destination'],
                                              route['nexthop']), routes)
        # The engine wrote the subnet's DNS servers as it made the sandbox.
        dns = self.neutron.subnet_a4['dns_nameservers']
        self.assertEqual(tuple(dns), self.pod_sandbox(one).dns_servers)
        self.assertEqual(network.resolv_conf(dns), self.resolv_conf(one))
        # ... and the pod's name on its first fixed IP into /etc/hosts.
        address, *names = self.ok(one, 'cat /etc/hosts').splitlines()[-1]\
            .split()
        self.assertIn(address, [ip['ip_address']
                                for ip in port_one['fixed_ips']])
        self.assertEqual([self.ok(one, 'hostname').strip()], names)
        # The host end is on the switch with the ids Neutron binds on.
        ids = self.switch.interfaces()[self.host_device(port_one)]
        self.assertEqual(port_one['id'], ids['iface-id'])
        self.assertEqual(port_one['mac_address'], ids['attached-mac'])
        self.assertEqual(one['id'], ids['vm-uuid'])
        self.assertTcpWorks(one, two, self.v4(port_two))
        self.assertTcpWorks(two, one, self.v4(port_one), port=5556)
        self.ok(one, 'ping -c 1 -W 5 %s' % self.v4(port_two))
        self.delete_all(one, two)
        # All of the above needed no more than these.
        self.assertEqual({'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'},
                         privsep_capabilities('net_admin'))

    def pod_sandbox(self, server):
        return self.runtime.get_sandbox('nova-%s-sandbox' % server['id'])

    def resolv_conf(self, server):
        return self.ok(server, 'cat /etc/resolv.conf')

    def host_device(self, port):
        prefix = 'qvo' if self.hybrid else 'tap'
        return (prefix + port['id'])[:14]

    def test_a_server_with_two_ports_has_both_nics(self):
        server = self.boot_on(self.neutron.net_a, self.neutron.net_b)
        ports = {p['network_id']: p for p in self.ports_of(server)}
        nics = self.nics(server)
        self.assertEqual({'eth0', 'eth1'}, set(nics) - {'lo'})
        self.assertNicIs(nics['eth0'], ports[self.neutron.net_a['id']],
                         1400)
        self.assertNicIs(nics['eth1'], ports[self.neutron.net_b['id']],
                         1450)
        routes = self.ok(server, 'ip route')
        # Only the first NIC carries the default route.
        self.assertEqual(1, routes.count('default'))
        self.assertIn('dev eth0', [line for line in routes.splitlines()
                                   if line.startswith('default')][0])
        self.assertEqual(
            network.resolv_conf(self.neutron.subnet_a4['dns_nameservers'] +
                                self.neutron.subnet_b4['dns_nameservers']),
            self.resolv_conf(server))
        self.delete_all(server)

    def test_diagnostics_count_the_traffic_of_each_port(self):
        # Nova's diagnostics object names no container driver
        # (doc/driver.rst).
        self.flags(response_validation='warn', group='api')
        one = self.boot_on(self.neutron.net_a)
        two = self.boot_on(self.neutron.net_a)
        self.ok(one, 'ping -c 3 -W 5 %s' % self.v4(self.ports_of(two)[0]))
        self.admin_api.microversion = '2.48'
        diags = self.admin_api.api_get(
            '/servers/%s/diagnostics' % one['id']).body
        nic, = diags['nic_details']
        self.assertEqual(self.ports_of(one)[0]['mac_address'],
                         nic['mac_address'])
        self.assertGreaterEqual(nic['tx_packets'], 3)
        self.assertGreaterEqual(nic['rx_packets'], 3)
        self.assertGreater(nic['rx_octets'], 0)
        self.assertEqual(0, nic['tx_errors'])
        self.delete_all(one, two)

    def test_reboots_and_stop_start_keep_the_addresses(self):
        one = self.boot_on(self.neutron.net_a)
        two = self.boot_on(self.neutron.net_a)
        port_one, = self.ports_of(one)
        before = self.nics(one), self.resolv_conf(one)
        one = self._reboot_server(one, hard=True)
        self.assertEqual(before, (self.nics(one), self.resolv_conf(one)))
        one = self._stop_server(one)
        one = self._start_server(one)
        self.assertEqual(before, (self.nics(one), self.resolv_conf(one)))
        self.assertTcpWorks(two, one, self.v4(port_one))
        self.delete_all(one, two)

    def test_hot_attach_and_detach_on_a_running_server(self):
        one = self.boot_on(self.neutron.net_a)
        other = self.boot_on(self.neutron.net_b)
        other_port, = self.ports_of(other)
        started = self.workload(one).started_at
        self.api.attach_interface(one['id'], {'interfaceAttachment': {
            'net_id': self.neutron.net_b['id']}})
        port = next(p for p in self.ports_of(one)
                    if p['network_id'] == self.neutron.net_b['id'])
        nics = self.nics(one)
        self.assertNicIs(nics['eth1'], port, 1450)
        # Usable at once, and no restart.
        self.assertTcpWorks(other, one, self.v4(port))
        self.assertEqual(started, self.workload(one).started_at)
        self.api.detach_interface(one['id'], port['id'])
        wait_for(lambda: 'eth1' not in self.nics(one),
                 'eth1 gone from the container')
        wait_for(lambda: not self.host_leftovers([port['id']]),
                 'the detached port gone from the host')
        self.assertEqual(started, self.workload(one).started_at)
        self.assertIn('eth0', self.nics(one))
        self.delete_all(one, other)

    def test_hot_attach_brings_its_subnets_dns_servers_to_stay(self):
        one = self.boot_on(self.neutron.net_a)
        self.api.attach_interface(one['id'], {'interfaceAttachment': {
            'net_id': self.neutron.net_b['id']}})
        both = network.resolv_conf(
            self.neutron.subnet_a4['dns_nameservers'] +
            self.neutron.subnet_b4['dns_nameservers'])
        self.assertEqual(both, self.resolv_conf(one))
        # A sandbox that starts again (after the host's restart, say) gets
        # the servers it was created with from the engine; the server's
        # start plugs the ports again and rewrites them.
        one = self._stop_server(one)
        self.runtime.stop(self.pod_sandbox(one).id, timeout=0)
        one = self._start_server(one)
        self.assertEqual({'eth0', 'eth1'}, set(self.nics(one)) - {'lo'})
        self.assertEqual(both, self.resolv_conf(one))
        self.delete_all(one)

    def test_deleting_a_server_whose_sandbox_vanished_unplugs_it(self):
        one = self.boot_on(self.neutron.net_a)
        port, = self.ports_of(one)
        for c in self.pod_containers(one):
            self.runtime.remove(c.id, force=True)
        self._delete_server(one)
        self.assertNothingLeft([one], [port['id']])

    def test_a_plug_failure_fails_the_build_and_leaves_nothing(self):
        # The second port cannot be made (an MTU no device takes) after
        # the first was plugged.
        self.flags(max_attempts=1, group='scheduler')
        server = self.boot_on(self.neutron.net_a, self.neutron.net_jumbo,
                              expected_state='ERROR')
        jumbo = next(port_id for port_id, net in self.neutron.created.items()
                     if net == self.neutron.net_jumbo['id'])
        fault = server['fault']['message']
        self.assertIn('port %s' % jumbo, fault)
        self.assertIn('Invalid argument', fault)
        self.assertNothingLeft([server], list(self.neutron.created))

    def test_ports_never_reported_up_fail_the_build_after_the_timeout(self):
        self.flags(vif_plugging_timeout=3)
        self.flags(max_attempts=1, group='scheduler')
        port = self.neutron.create_port({'port': {
            'network_id': self.neutron.net_a['id']}})['port']
        self.neutron.silent_ports.add(port['id'])
        server = self.boot_on(ports=[port['id']], expected_state='ERROR')
        self.assertIn('Failed to allocate the network',
                      server['fault']['message'])
        self.assertNothingLeft([server], [port['id']])


class HybridNetworkTestCase(NetworkTestCase):
    """OVS hybrid plug: a per-port Linux bridge before the switch.

    The bridge sits between the container and the switch, as for the iptables
    security group driver.
    """

    hybrid = True

    def test_bridged_traffic_is_allowed_while_the_port_lives(self):
        one = self.boot_on(self.neutron.net_a)
        port, = self.ports_of(one)
        tap = ('tap' + port['id'])[:14]
        self.assertTrue(privileged.link_exists(('qbr' + port['id'])[:14]))
        self.assertTrue(privileged.bridged_rules(tap))
        self.delete_all(one)
        self.assertFalse(privileged.bridged_rules(tap))


class PortsFollowAMoveTestCase(base.TwoComputesMixin,
                               base.NetworkFixtureMixin,
                               base.ZunDriverTestCase):
    def setUp(self):
        super().setUp()
        self.start_two_computes()
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')

    def sh(self, server, script, timeout=30):
        """Run ``script`` in the workload, on the engine of its host now."""
        host = self.api.get_server(server['id'])['OS-EXT-SRV-ATTR:host']
        result = self.host_runtime(host).exec(
            'nova-%s' % server['id'], ['/bin/sh', '-c', script],
            timeout=timeout)
        return result.exit_code, result.output.decode(errors='replace')

    def test_a_migrated_server_keeps_its_port_and_addresses(self):
        peer = self.boot_on(self.neutron.net_a, host='compute1')
        mover = self.boot_on(self.neutron.net_a, host='compute1')
        port, = self.ports_of(mover)
        mover = self._migrate_server(mover)
        self.assertEqual('compute2', mover['OS-EXT-SRV-ATTR:host'])
        links = self.ok(mover, 'ip -o link; ip -o addr')
        self.assertIn(port['mac_address'], links)
        self.assertIn(' %s/' % self.v4(port), links)
        self.assertTcpWorks(peer, mover, self.v4(port))
        mover = self._confirm_resize(mover)
        # One device on the switch for the port: the destination's.
        self.assertEqual(1, [ids.get('iface-id') for ids in
                             self.switch.interfaces().values()]
                         .count(port['id']))
        self.assertTcpWorks(mover, peer, self.v4(self.ports_of(peer)[0]),
                            port=5556)
        self._delete_server(mover)
        self._delete_server(peer)
        self.assertEqual([], self.host_leftovers([port['id']]))
