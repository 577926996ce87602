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

"""Neutron ports into pod sandboxes: os-vif for the host side, a veth for
the container side.

For each VIF of Nova's network_info (in order):

1. Nova's own conversion (:mod:`nova.network.os_vif_util`) makes the os-vif
   object; only the ``ovs`` plugin's VIFs are supported (ML2/OVS and OVN):
   ``VIFOpenVSwitch`` (the device joins the integration bridge) and
   ``VIFBridge`` (OVS hybrid: a per-port Linux bridge ``qbr...`` linked to
   the integration bridge by the ``qvb``/``qvo`` veth, for iptables
   security groups).
2. A veth pair: the host end carries the os-vif device name
   (``tap<port-id>``), the other end goes into the sandbox's network
   namespace.
3. ``os_vif.plug``: plain OVS adds the host end to the bridge with the
   external ids Neutron and OVN bind on (``iface-id``, ``attached-mac``,
   ``vm-uuid``); hybrid builds its bridge and the host end joins it.
4. In the namespace the interface becomes ``eth<N>`` with the port's MAC,
   the network's MTU and every fixed IP; the first NIC gets the subnets'
   gateways as default routes, every NIC its subnets' host routes.

The subnets' DNS servers (:func:`nameservers`) go into the sandbox's spec:
the engine writes resolv.conf at the sandbox's start, the driver rewrites
it only when the servers change later (:func:`resolv_conf`).

Unplugging removes the host end (the namespace's end goes with it) and runs
``os_vif.unplug``; it needs nothing from the namespace, so it works when the
sandbox is already gone.
"""

import ipaddress
import os
import shlex
import socket
import sys

from nova import exception
from nova.network import model as network_model
from nova.network import os_vif_util
import os_vif
from os_vif import exception as osv_exception
from os_vif import objects as osv_objects
from oslo_config import cfg
from oslo_log import log as logging

from nova_zun import privileged

LOG = logging.getLogger(__name__)

DEFAULT_MTU = 1500
DATAPATH_NETDEV = 'netdev'
#: privsep contexts whose helper command we set when running as root.
PRIVSEP_SECTIONS = ('vif_plug_ovs_privileged', 'nova_zun_privileged')


def configure_privsep(conf=cfg.CONF, sections=PRIVSEP_SECTIONS):
    """Make the privsep helpers of os-vif and of nova-zun start.

    With ``sections``, the helpers are those of the contexts it names, whose
    options must be registered.

    Like Nova, an operator's ``helper_command`` in a context's section wins,
    and without one a non-root service uses the root helper Nova set up at
    start (``sudo nova-rootwrap ...``). A service that already runs as root
    needs no helper: it runs ``privsep-helper`` (of its own installation)
    directly, so hosts without sudo work.
    """
    import vif_plug_ovs.privsep  # noqa: F401 (registers its section)
    if os.geteuid() != 0:
        return
    helper = os.path.join(os.path.dirname(sys.executable), 'privsep-helper')
    if not os.path.exists(helper):
        helper = 'privsep-helper'
    cmd = [helper]
    for option, flag in (('config_file', '--config-file'),
                         ('config_dir', '--config-dir')):
        try:
            paths = conf[option] or ()
        except cfg.NoSuchOptError:
            paths = ()  # a ConfigOpts that was never parsed
        if isinstance(paths, str):
            paths = [paths]
        for path in paths:
            cmd += [flag, path]
    for section in sections:
        conf.set_default('helper_command', shlex.join(cmd), group=section)


def initialize(conf=cfg.CONF):
    """Configure privsep and load the os-vif plugins.

    os-vif's OVS plugin reads ``[os_vif_ovs] ovsdb_connection`` when it is
    first loaded.
    """
    configure_privsep(conf)
    os_vif.initialize()


def container_veth_name(vif):
    return ('zc' + vif['id'])[:14]


def _osvif(vif):
    try:
        obj = os_vif_util.nova_to_osvif_vif(vif)
    except exception.NovaException as exc:
        raise exception.VirtualInterfacePlugException(
            'port %s: %s' % (vif['id'], exc))
    if not isinstance(obj, (osv_objects.vif.VIFOpenVSwitch,
                            osv_objects.vif.VIFBridge)):
        raise exception.VirtualInterfacePlugException(
            'port %s: vif_type %r (vnic_type %r) cannot be plugged into a '
            'container; nova-zun supports Open vSwitch ports (ML2/OVS, '
            'OVN), plain or hybrid' % (vif['id'], vif['type'],
                                       vif.get('vnic_type')))
    if isinstance(obj, osv_objects.vif.VIFOpenVSwitch):
        # We make the device ourselves (libvirt does for VMs): os-vif adds
        # it to the bridge.
        obj.port_profile.create_port = True
    return obj


def _datapath(obj):
    profile = obj.port_profile
    return getattr(profile, 'datapath_type', None) if \
        'datapath_type' in profile else None


def _mtu(vif):
    network = vif.get('network')
    mtu = network.get_meta('mtu') if network else None
    return mtu or DEFAULT_MTU


def _subnets(vif):
    return (vif.get('network') or {}).get('subnets') or []


def addresses(vif):
    """``[(address, prefixlen)]`` of every fixed IP of the port."""
    result = []
    for subnet in _subnets(vif):
        prefixlen = ipaddress.ip_network(subnet['cidr'],
                                         strict=False).prefixlen
        for ip in subnet.get('ips') or []:
            if ip.get('type', 'fixed') == 'fixed':
                result.append((ip['address'], prefixlen))
    return result


def first_address(network_info):
    """The first fixed IP of the first port that has one, or None."""
    for vif in network_info:
        for address, _ in addresses(vif):
            return address
    return None


def routes(vif, primary):
    """``[(dst, gateway)]``: the routes of a VIF's subnets.

    These are the subnets' host routes, and their gateways as default routes on
    the primary NIC.
    """
    result = []
    for subnet in _subnets(vif):
        if not subnet.get('ips'):
            continue
        for route in subnet.get('routes') or []:
            gateway = (route.get('gateway') or {}).get('address')
            result.append((route['cidr'], gateway))
        gateway = (subnet.get('gateway') or {}).get('address')
        if primary and gateway:
            result.append(('default', gateway))
    return result


def nameservers(network_info):
    """DNS servers of every subnet with an address, in order, once each."""
    found = []
    for vif in network_info:
        for subnet in _subnets(vif):
            if not subnet.get('ips'):
                continue
            for dns in subnet.get('dns') or []:
                if dns['address'] not in found:
                    found.append(dns['address'])
    return found


def resolv_conf(servers):
    """What the sandbox's engine writes at its start for these servers.

    That is, no search domains and the resolver's default options.
    """
    lines = ['nameserver %s' % s for s in servers] + ['options ndots:1']
    return '\n'.join(lines) + '\n'


def _reachable(connection, timeout=1):
    """Whether an ovsdb endpoint answers now.

    The endpoint is ``unix:PATH`` or ``tcp:HOST:PORT``.
    """
    kind, _, rest = connection.partition(':')
    if kind == 'unix':
        return os.path.exists(rest)
    if kind in ('tcp', 'ssl'):
        host, _, port = rest.rpartition(':')
        try:
            with socket.create_connection((host.strip('[]'), int(port)),
                                          timeout=timeout):
                return True
        except (OSError, ValueError):
            return False
    return True


def _os_vif_ovs():
    """``(ovsdb helper, connected)`` of os-vif's loaded OVS plugin.

    The helper is a ``vif_plug_ovs.ovsdb.ovsdb_lib.BaseOVS``; without the
    plugin this is ``(None, False)``.

    os-vif offers no public way to its plugins, nor says whether the helper has
    connected: this is the one place that reads os-vif's private state
    (tests/unit/test_network.py checks it on the installed version). A
    connection of our own would hold a second copy of the switch's database.
    """
    ext = os_vif._EXT_MANAGER
    if ext is None or 'ovs' not in ext.names():
        return None, False
    base = ext['ovs'].obj.ovsdb
    return base, base._ovsdb is not None


class VIFPlugger:
    """Plugs and unplugs one instance's VIFs; stateless between calls."""

    def __init__(self, allow_bridged_traffic=True):
        self.allow_bridged_traffic = allow_bridged_traffic

    @staticmethod
    def _instance_info(instance):
        return os_vif_util.nova_to_osvif_instance(instance)

    def plug(self, instance, vif, netns_path, ifname):
        """Plug one VIF into the namespace as ``ifname``.

        On failure whatever was made of it is removed.
        """
        obj = _osvif(vif)
        host_dev = obj.vif_name
        peer = container_veth_name(vif)
        mtu = _mtu(vif)
        try:
            privileged.create_veth(
                host_dev, peer, mtu,
                peer_tx_checksum=_datapath(obj) != DATAPATH_NETDEV)
            os_vif.plug(obj, self._instance_info(instance))
            if isinstance(obj, osv_objects.vif.VIFBridge):
                privileged.set_master(host_dev, obj.bridge_name)
                if self.allow_bridged_traffic:
                    privileged.allow_bridged(host_dev)
            privileged.move_into_netns(
                peer, netns_path, ifname, vif['address'], mtu,
                addresses(vif), routes(vif, primary=ifname == 'eth0'))
        except Exception as exc:
            LOG.error('Plugging port %s failed: %s', vif['id'], exc,
                      instance=instance)
            self.unplug(instance, vif, quiet=True)
            if isinstance(exc, exception.VirtualInterfacePlugException):
                raise
            raise exception.VirtualInterfacePlugException(
                'port %s: %s' % (vif['id'], exc)) from exc
        LOG.info('Plugged port %s as %s (host device %s)', vif['id'],
                 ifname, host_dev, instance=instance)

    def unplug(self, instance, vif, quiet=False):
        """Remove everything of one VIF from the host.

        What is gone already is fine. Errors are raised unless ``quiet`` (they
        are logged then).
        """
        try:
            obj = _osvif(vif)
        except exception.VirtualInterfacePlugException as exc:
            # Nothing of ours was ever plugged for it.
            LOG.info('Not unplugging port %s: %s', vif['id'], exc,
                     instance=instance)
            return
        host_dev = obj.vif_name
        errors = []
        for step in (lambda: privileged.disallow_bridged(host_dev),
                     lambda: privileged.delete_link(host_dev),
                     lambda: privileged.delete_link(
                         container_veth_name(vif)),
                     lambda: os_vif.unplug(obj,
                                           self._instance_info(instance))):
            try:
                step()
            except (osv_exception.ExceptionBase, Exception) as exc:
                LOG.warning('Unplugging port %s: %s', vif['id'], exc,
                            instance=instance)
                errors.append(exc)
        if errors and not quiet:
            raise exception.InternalError(
                'port %s was not fully unplugged: %s'
                % (vif['id'], '; '.join(str(e) for e in errors)))

    def plug_all(self, instance, network_info, netns_path):
        """Plug every VIF as eth0, eth1, ... in network_info order.

        On a failure the ones already plugged are unplugged again.
        """
        done = []
        try:
            for index, vif in enumerate(network_info):
                self.plug(instance, vif, netns_path, 'eth%d' % index)
                done.append(vif)
        except Exception:
            for vif in done:
                self.unplug(instance, vif, quiet=True)
            raise

    def unplug_all(self, instance, network_info, quiet=False):
        errors = []
        for vif in network_info or []:
            try:
                self.unplug(instance, vif, quiet=quiet)
            except exception.InternalError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    @staticmethod
    def _switch():
        """The ovsdb API of os-vif's loaded OVS plugin.

        It uses the same connection and the same ``[os_vif_ovs]`` settings.
        """
        base, connected = _os_vif_ovs()
        if base is None:
            return None
        if not connected and not _reachable(base.connection):
            # No switch on this host: nothing of it to sweep, and no
            # connection attempt that waits [os_vif_ovs] ovs_vsctl_timeout.
            return None
        return base.ovsdb

    def unplug_leftovers(self, instance_uuid):
        """Remove what the host still has of an instance's ports.

        The ports are found by the ``vm-uuid`` os-vif records on the switch.
        This is for an instance whose network info is gone (deleted while the
        service was down, or an empty info cache) and after a failed unplug.
        Returns the port name prefixes handled.
        """
        api = self._switch()
        if api is None:
            return []
        rows = api.db_find(
            'Interface', ('external_ids', '=', {'vm-uuid': instance_uuid}),
            columns=['name']).execute(check_error=True) or []
        done = []
        for row in rows:
            name = row['name']
            if name[:3] not in ('tap', 'qvo'):
                continue
            suffix = name[3:]
            api.del_port(name, if_exists=True).execute(check_error=True)
            privileged.disallow_bridged('tap' + suffix)
            for prefix in ('tap', 'qvb', 'qvo', 'qbr'):
                privileged.delete_link(prefix + suffix)
            done.append(suffix)
            LOG.info('Removed leftovers of port %s... of instance %s from '
                     'the host', suffix, instance_uuid)
        return done

    @staticmethod
    def next_ifname(netns_path):
        present = privileged.netns_links(netns_path)
        index = 0
        while 'eth%d' % index in present:
            index += 1
        return 'eth%d' % index

    @staticmethod
    def plugged(netns_path):
        return privileged.netns_links(netns_path)

    @staticmethod
    def counters(netns_path):
        """The kernel's counters of each port in a namespace, by name.

        The engine knows nothing of the ports plugged here (the sandbox has
        no network of its own): they are read from the namespace.
        """
        return privileged.netns_counters(netns_path)


def neutron_events(network_info):
    """The network-vif-plugged events to wait for: ports not up yet.

    This is what Nova's libvirt driver waits for.
    """
    return [('network-vif-plugged', vif['id'])
            for vif in network_info
            if vif.get('active', True) is False and
            vif['vnic_type'] != network_model.VNIC_TYPE_REMOTE_MANAGED]
