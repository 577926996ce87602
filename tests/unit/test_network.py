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

"""Nova network_info -> what goes into a container's namespace."""

from nova import exception
from nova.network import model
import os_vif
from oslo_config import cfg
import pytest
from vif_plug_ovs.ovsdb import ovsdb_lib

from nova_zun import network


def _vif(port_id='0f8a1b2c-3d4e-5f60-7182-93a4b5c6d7e8', active=False,
         hybrid=False, mtu=1400, datapath='netdev', v6=True):
    subnet4 = model.Subnet(
        cidr='10.1.0.0/24',
        gateway=model.IP(address='10.1.0.1', type='gateway'),
        ips=[model.FixedIP(address='10.1.0.5')],
        dns=[model.IP(address='10.1.0.53', type='dns')],
        routes=[model.Route(cidr='172.16.0.0/16',
                            gateway=model.IP(address='10.1.0.254',
                                             type='gateway'))])
    subnets = [subnet4]
    if v6:
        subnets.append(model.Subnet(
            cidr='fd00:1::/64',
            gateway=model.IP(address='fd00:1::1', type='gateway'),
            ips=[model.FixedIP(address='fd00:1::5', version=6)],
            dns=[model.IP(address='10.1.0.53', type='dns'),
                 model.IP(address='fd00:1::53', type='dns')]))
    net = model.Network(id='6b1d7a9e-0c1f-4a57-9f3e-2d8c5b4a3e21',
                        bridge='br-int', label='net', subnets=subnets,
                        meta={'mtu': mtu} if mtu else {})
    return model.VIF(
        id=port_id, address='fa:16:3e:00:00:05', network=net, type='ovs',
        details={'port_filter': True, 'ovs_hybrid_plug': hybrid,
                 'datapath_type': datapath},
        devname=('tap' + port_id)[:14], ovs_interfaceid=port_id,
        vnic_type='normal', active=active)


def test_every_fixed_ip_with_its_prefix():
    assert network.addresses(_vif()) == [('10.1.0.5', 24),
                                         ('fd00:1::5', 64)]


def test_the_first_address_is_the_first_ports_first_fixed_ip():
    bare = _vif(port_id='11111111-2222-3333-4444-555555555555')
    bare['network']['subnets'] = []
    assert network.first_address([bare, _vif()]) == '10.1.0.5'
    assert network.first_address([bare]) is None
    assert network.first_address([]) is None


def test_default_routes_only_on_the_primary_nic():
    vif = _vif()
    assert network.routes(vif, primary=True) == [
        ('172.16.0.0/16', '10.1.0.254'), ('default', '10.1.0.1'),
        ('default', 'fd00:1::1')]
    assert network.routes(vif, primary=False) == [
        ('172.16.0.0/16', '10.1.0.254')]


def test_nameservers_in_order_once_each():
    other = _vif(port_id='11111111-2222-3333-4444-555555555555', v6=False)
    assert network.nameservers([_vif(), other]) == ['10.1.0.53',
                                                    'fd00:1::53']


def test_resolv_conf_is_what_the_engine_writes_at_a_sandbox_start():
    # As in tests/functional/test_runtime_sandboxes.py: after a restart the
    # file looks the same as after a hot attach.
    assert network.resolv_conf(['10.1.0.53', 'fd00:1::53']) == (
        'nameserver 10.1.0.53\nnameserver fd00:1::53\noptions ndots:1\n')


def test_mtu_defaults_when_neutron_gives_none():
    assert network._mtu(_vif(mtu=None)) == network.DEFAULT_MTU
    assert network._mtu(_vif(mtu=1450)) == 1450


def test_events_only_for_ports_not_up_yet():
    down, up = _vif(active=False), _vif(active=True)
    assert network.neutron_events([down, up]) == [
        ('network-vif-plugged', down['id'])]


def test_os_vif_objects_plain_and_hybrid():
    import os_vif.objects
    os_vif.objects.register_all()
    plain = network._osvif(_vif())
    assert plain.obj_name() == 'VIFOpenVSwitch'
    assert plain.port_profile.create_port is True
    assert network._datapath(plain) == 'netdev'
    assert plain.vif_name == 'tap0f8a1b2c-3d'
    hybrid = network._osvif(_vif(hybrid=True))
    assert hybrid.obj_name() == 'VIFBridge'
    assert hybrid.bridge_name == 'qbr0f8a1b2c-3d'


def test_an_unsupported_vif_type_is_refused_with_the_port():
    vif = _vif()
    vif['type'] = 'hw_veb'
    vif['vnic_type'] = 'direct'
    vif['profile'] = {'pci_slot': '0000:00:01.0'}
    with pytest.raises(exception.VirtualInterfacePlugException) as info:
        network._osvif(vif)
    assert vif['id'] in str(info.value)


def test_privsep_helper_needs_no_sudo_when_root(monkeypatch):
    conf = cfg.ConfigOpts()
    from oslo_privsep import priv_context
    for section in network.PRIVSEP_SECTIONS:
        conf.register_opts(priv_context.OPTS, group=section)
    conf([], project='nova-zun-test')
    monkeypatch.setattr(network.os, 'geteuid', lambda: 0)
    network.configure_privsep(conf)
    for section in network.PRIVSEP_SECTIONS:
        command = conf[section].helper_command
        assert 'sudo' not in command
        assert command.split()[0].endswith('privsep-helper')


def test_a_switch_that_is_not_there_is_not_waited_for(tmp_path):
    assert not network._reachable('unix:%s' % (tmp_path / 'db.sock'))
    (tmp_path / 'db.sock').touch()
    assert network._reachable('unix:%s' % (tmp_path / 'db.sock'))
    # Nothing listens on port 1 of the loopback address.
    assert not network._reachable('tcp:127.0.0.1:1')


def test_os_vif_still_keeps_its_ovs_plugin_where_we_read_it(monkeypatch):
    # network._os_vif_ovs reads os-vif's private state (no public way
    # leads to its plugins): when os-vif changes, this fails, not a host.
    # A fresh load: tests run earlier in this process may have loaded
    # the plugins against a switch of theirs.
    monkeypatch.setattr(os_vif, '_EXT_MANAGER', None)
    os_vif.initialize()
    base, connected = network._os_vif_ovs()
    assert isinstance(base, ovsdb_lib.BaseOVS)
    assert cfg.CONF.os_vif_ovs.ovsdb_connection == base.connection
    # Loading the plugin connects to nothing.
    assert connected is False
