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

"""Networking for the driver's functional tests: a private Open vSwitch, a
Neutron fixture with two networks (IPv4 and IPv6, DNS, host routes) whose
ports are bound to that switch, and a fake OVS agent that reports ports up
(``network-vif-plugged``) when their device appears on the switch, as
Neutron's agents do."""

import copy
import ipaddress
import logging
import random
import subprocess
import tempfile
import threading
import time

from nova.tests.fixtures import neutron as neutron_fixture
import os_vif
from oslo_config import cfg
from oslo_utils import uuidutils
from vif_plug_ovs import ovs as vif_plug_ovs

from nova_zun import privileged
from nova_zun_workshop import ovs as ovs_tool
from nova_zun_workshop.polling import wait_for

LOG = logging.getLogger(__name__)
DEVICE_PREFIXES = ('tap', 'qbr', 'qvb', 'qvo', 'zc')


def start_private_ovs():
    """A started ovsdb-server and ovs-vswitchd of the caller's own.

    Raises OVSStartError or OSError, leaving nothing behind.
    """
    switch = ovs_tool.PrivateOVS(
        tempfile.mkdtemp(prefix='nova-zun-ovs-', dir='/tmp'))
    try:
        switch.start()
    except Exception:
        switch.stop()
        raise
    return switch


def stop_private_ovs(switch):
    """Remove what is left on the switch and stop it.

    The privsep daemons that were started stop too. Returns the bridges that
    were left.
    """
    bridges = switch.bridges()
    for bridge in bridges:
        switch.vsctl('--if-exists', 'del-br', bridge)
    import vif_plug_ovs.privsep
    for context in (privileged.net_admin, vif_plug_ovs.privsep.vif_plug):
        context.stop()
    switch.stop()
    _remove_empty_chain()
    return bridges


def _remove_empty_chain():
    """The hybrid tests' FORWARD chain, if no rule is left in it."""
    chain = privileged.IPTABLES_CHAIN
    for binary in ('iptables', 'ip6tables'):
        listed = subprocess.run([binary, '-w', '-S', chain],
                                capture_output=True, text=True)
        if listed.returncode or listed.stdout.strip() != '-N ' + chain:
            continue
        subprocess.run([binary, '-w', '-D', 'FORWARD', '-j', chain],
                       capture_output=True)
        subprocess.run([binary, '-w', '-X', chain], capture_output=True)


def _allocator(cidr, first=10):
    network = ipaddress.ip_network(cidr)
    hosts = (str(network.network_address + n)
             for n in range(first, network.num_addresses))
    return hosts


class ZunNeutronFixture(neutron_fixture.NeutronFixture):
    """Neutron with OVS ports on ``bridge``.

    Every port starts DOWN and goes ACTIVE (with a network-vif-plugged event to
    Nova) once a device with its iface-id is on the switch.
    """

    tenant_id = neutron_fixture.NeutronFixture.tenant_id

    def __init__(self, test, switch, bridge, hybrid=False):
        super().__init__(test)
        self.switch = switch
        self.bridge = bridge
        self.hybrid = hybrid
        #: Port ids whose up event the agent holds back.
        self.silent_ports = set()
        #: Events sent to Nova, in order: (event name, port id).
        self.sent = []
        #: Every port ever made here: {port id: network id} (Nova deletes
        #: the ports it made when a build fails).
        self.created = {}
        base = random.randint(1, 200)
        self.net_a = self._network('net-a', 1400)
        self.net_b = self._network('net-b', 1450)
        self.net_jumbo = self._network('net-jumbo', 70000)
        self.subnet_a4 = self._subnet(
            self.net_a, 4, '10.%d.1.0/24' % base, '10.%d.1.1' % base,
            dns=['10.%d.1.53' % base, '10.%d.1.54' % base],
            routes=[{'destination': '172.31.%d.0/24' % base,
                     'nexthop': '10.%d.1.254' % base}])
        self.subnet_a6 = self._subnet(
            self.net_a, 6, 'fd00:%x:1::/64' % base, 'fd00:%x:1::1' % base)
        self.subnet_b4 = self._subnet(
            self.net_b, 4, '10.%d.2.0/24' % base, '10.%d.2.1' % base,
            dns=['10.%d.2.53' % base])
        self.subnet_jumbo = self._subnet(
            self.net_jumbo, 4, '10.%d.3.0/24' % base, '10.%d.3.1' % base)
        self._networks = {n['id']: n for n in (self.net_a, self.net_b,
                                               self.net_jumbo)}
        self._subnets = {s['id']: s for s in (
            self.subnet_a4, self.subnet_a6, self.subnet_b4,
            self.subnet_jumbo)}
        self._pools = {s['id']: _allocator(s['cidr']) for s in
                       self._subnets.values()}
        self._ports = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._agent = None

    def _network(self, name, mtu):
        net = copy.deepcopy(self.network_1)
        net.update(id=uuidutils.generate_uuid(), name=name, mtu=mtu,
                   subnets=[])
        return net

    def _subnet(self, net, version, cidr, gateway, dns=(), routes=()):
        subnet = copy.deepcopy(self.subnet_1 if version == 4
                               else self.subnet_ipv6_1)
        subnet.update(id=uuidutils.generate_uuid(), network_id=net['id'],
                      cidr=cidr, gateway_ip=gateway,
                      dns_nameservers=list(dns), host_routes=list(routes),
                      name='%s-v%d' % (net['name'], version))
        if version == 6:
            subnet.update(ipv6_address_mode='dhcpv6-stateful',
                          ipv6_ra_mode='dhcpv6-stateful')
        net['subnets'].append(subnet['id'])
        return subnet

    def setUp(self):
        super().setUp()
        # NeutronFixture switches the wait off; ports here do come up.
        self.test.flags(vif_plugging_timeout=60)
        self._agent = threading.Thread(target=self._agent_loop, daemon=True)
        self._agent.start()
        self.addCleanup(self._stop_agent)

    def _stop_agent(self):
        self._stop.set()
        self._agent.join(10)

    # -- Neutron API ----------------------------------------------------

    def list_subnets(self, retrieve_all=True, **_params):
        return {'subnets': self._list_resource(self._subnets, retrieve_all,
                                               **_params)}

    def vif_details(self):
        return {'port_filter': True, 'ovs_hybrid_plug': self.hybrid,
                'datapath_type': self.switch.datapath_type,
                'bridge_name': self.bridge}

    def create_port(self, body=None):
        request = copy.deepcopy((body or {}).get('port', {}))
        network = self._networks[request.get('network_id',
                                             self.net_a['id'])]
        with self._lock:
            fixed_ips = [dict(ip, subnet_id=ip.get('subnet_id') or
                              self._subnet_of(network, ip['ip_address']))
                         for ip in request.get('fixed_ips') or ()] or [
                {'subnet_id': sid,
                 'ip_address': next(self._pools[sid])}
                for sid in network['subnets']]
        port = copy.deepcopy(self.port_2)
        port.update(request)
        port.update({
            'id': uuidutils.generate_uuid(),
            'network_id': network['id'],
            'mac_address': 'fa:16:3e:%02x:%02x:%02x' % tuple(
                random.randint(0, 255) for _ in range(3)),
            'fixed_ips': fixed_ips,
            'status': 'DOWN',
            'binding:vif_type': 'ovs',
            'binding:vif_details': self.vif_details(),
        })
        self._ports[port['id']] = port
        self.created[port['id']] = network['id']
        return {'port': copy.deepcopy(port)}

    def _subnet_of(self, network, address):
        # As Neutron: a fixed IP asked without its subnet is on the
        # network's subnet that holds it.
        return next(sid for sid in network['subnets']
                    if ipaddress.ip_address(address) in
                    ipaddress.ip_network(self._subnets[sid]['cidr']))

    def port(self, port_id):
        return copy.deepcopy(self._ports[port_id])

    # -- the OVS agent ----------------------------------------------------

    def _agent_loop(self):
        while not self._stop.is_set():
            try:
                self._agent_pass()
            except Exception:
                # The switch or the API is between states: look again.
                LOG.exception('fake OVS agent pass failed')
            self._stop.wait(0.2)

    def _agent_pass(self):
        bound = {ids.get('iface-id') for ids in
                 self.switch.interfaces().values()}
        for port in list(self._ports.values()):
            if port['id'] in self.silent_ports:
                continue
            if port['status'] == 'DOWN' and port['id'] in bound:
                # Up only once Nova was told, so a failed send is retried.
                if port.get('device_id'):
                    self._send('network-vif-plugged', port)
                port['status'] = 'ACTIVE'
            elif port['status'] == 'ACTIVE' and port['id'] not in bound:
                port['status'] = 'DOWN'

    def _send(self, name, port):
        self.test.admin_api.create_server_external_events([{
            'name': name, 'server_uuid': port['device_id'],
            'tag': port['id'], 'status': 'completed'}])
        self.sent.append((name, port['id']))


class NetworkFixtureMixin:
    """Networking for ZunDriverTestCase subclasses, on a private switch.

    ``self.neutron`` is the fixture above, the private switch ``self.switch``
    (set before setUp) backs it, and whatever a test left on the host (devices,
    bridge, rules) goes after it, also on failure.
    """

    hybrid = False

    def setUp(self):
        super().setUp()
        # Nova cuts bridge names to 14 characters.
        self.bridge = ovs_tool.unique_name('brzt', 14)
        # os-vif registers its options when it first loads its plugins,
        # and reads ovsdb_connection then: register them now to set it.
        cfg.CONF.register_opts(vif_plug_ovs.OvsPlugin.CONFIG_OPTS,
                               group='os_vif_ovs')
        self.flags(ovsdb_connection=self.switch.connection,
                   group='os_vif_ovs')
        # An earlier test in this process may have loaded the plugins with
        # the default connection: load them again with this one.
        os_vif.initialize(reset=True)
        self.neutron = self.useFixture(ZunNeutronFixture(
            self, self.switch, self.bridge, hybrid=self.hybrid))
        self.addCleanup(self._remove_network_leftovers)

    def boot_on(self, *networks, expected_state='ACTIVE', ports=(),
                flavor=None, host=None):
        """A server of ``self.image`` with a port on each network.

        It uses ``self.flavor`` unless told, and has the given ports too;
        it goes to ``host`` if given.
        """
        nets = [{'uuid': net['id']} for net in networks]
        nets += [{'port': port_id} for port_id in ports]
        body = {'name': 'zun-net', 'imageRef': self.image,
                'flavorRef': flavor or self.flavor, 'networks': nets}
        if host:
            body['availability_zone'] = 'nova:%s' % host
        server = self.api.post_server({'server': body})
        return self._wait_for_state_change(server, expected_state,
                                           max_retries=120)

    def ports_of(self, server):
        return [p for p in self.neutron._ports.values()
                if p.get('device_id') == server['id']]

    def sh(self, server, script, timeout=30):
        result = self.runtime.exec('nova-%s' % server['id'],
                                   ['/bin/sh', '-c', script],
                                   timeout=timeout)
        return result.exit_code, result.output.decode(errors='replace')

    def ok(self, server, script, timeout=30):
        code, output = self.sh(server, script, timeout)
        self.assertEqual(0, code, 'in %s: %s -> %s'
                         % (server['id'], script, output))
        return output

    def v4(self, port):
        return next(ip['ip_address'] for ip in port['fixed_ips']
                    if ':' not in ip['ip_address'])

    def assertTcpWorks(self, client, server_, address, port=5555):
        """A TCP exchange both ways, from inside the containers."""
        # Both ends keep their input open a moment, so neither closes
        # before the other's line arrives.
        self.ok(server_, 'rm -f /tmp/got; ((echo pong; sleep 3) | '
                         'nc -l -p %d > /tmp/got) >/dev/null 2>&1 &' % port)
        deadline = time.monotonic() + 30
        while True:
            code, out = self.sh(client, '(echo ping; sleep 1) | '
                                'nc -w 3 %s %d' % (address, port))
            if 'pong' in out:
                break
            if time.monotonic() > deadline:
                self.fail('no TCP answer from %s: %s %s\n%s\n%s\n%s' % (
                    address, code, out, self.switch.vsctl('show'),
                    self.switch._log_tails(40),
                    self.ok(client, 'ip -s link; ip neigh')))
            time.sleep(0.5)
        self.assertIn('ping', wait_for(
            lambda: self.sh(server_, 'cat /tmp/got')[1], 'ping received'))

    def port_devices(self, port_id):
        return ['%s%s' % (prefix, port_id)[:14] for prefix in
                DEVICE_PREFIXES]

    def host_leftovers(self, port_ids):
        """What of these ports is still on the host.

        Devices, switch ports and iptables rules are looked for.
        """
        found = []
        for port_id in port_ids:
            for name in self.port_devices(port_id):
                if privileged.link_exists(name):
                    found.append('device %s' % name)
                found += privileged.bridged_rules(name)
        names = self.switch.interfaces()
        for name, ids in names.items():
            if ids.get('iface-id') in port_ids:
                found.append('switch interface %s' % name)
        return found

    def _remove_network_leftovers(self):
        self.switch.vsctl('--if-exists', 'del-br', self.bridge)
        for name, ids in self.switch.interfaces().items():
            if ids.get('iface-id') in self.neutron.created:
                self.switch.vsctl('--if-exists', 'del-port', name)
        for port_id in list(self.neutron.created):
            for name in self.port_devices(port_id):
                privileged.disallow_bridged(name)
                privileged.delete_link(name)
