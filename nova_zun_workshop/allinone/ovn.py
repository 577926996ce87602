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

"""Open vSwitch and OVN of the all-in-one cloud, as devstack runs them for
ML2/OVN: a switch with the userspace (netdev) datapath, OVN's northbound and
southbound databases, ovn-northd and ovn-controller, all private to the
cloud's base directory (databases, sockets, control sockets) with their logs
in its ``log/``.

The host is the only chassis and the gateway chassis: its ``br-ex`` bridge
carries the ``public`` physical network, and the bridge's own port holds
the public network's gateway address, so the host reaches routers and
floating IPs directly.
"""

import json
import os
import subprocess
import time

from nova_zun_workshop import ovs as ovs_tool

NB_SCHEMA = '/usr/share/ovn/ovn-nb.ovsschema'
SB_SCHEMA = '/usr/share/ovn/ovn-sb.ovsschema'
INTEGRATION_BRIDGE = 'br-int'
EXTERNAL_BRIDGE = 'br-ex'
PHYSNET = 'public'
PUBLIC_CIDR = '198.51.100.0/24'
PUBLIC_GATEWAY = '198.51.100.1'
PUBLIC_POOL = ('198.51.100.10', '198.51.100.250')
PRIVATE_CIDR = '10.0.0.0/24'
# Neutron's default subnet pool: the networks it auto-allocates for a
# project (Nova's "auto" network) take their subnets from it.
DEFAULT_SUBNET_POOL = ('10.1.0.0/16', 26)
# Services in start order; stop goes the other way.
SERVICES = ('ovsdb-server', 'ovs-vswitchd', 'ovn-nb', 'ovn-sb',
            'ovn-northd', 'ovn-controller')


class Switch:
    """Paths, daemons and host setup of the cloud's OVS and OVN.

    ``base_dir`` holds the databases and sockets, ``log_dir`` the logs;
    ``host`` is the chassis' host name: Nova's compute host, so Neutron
    binds the ports Nova asks for on it.
    """

    def __init__(self, base_dir, log_dir, host):
        self.ovs_dir = os.path.join(base_dir, 'ovs')
        self.ovn_dir = os.path.join(base_dir, 'ovn')
        self.log_dir = log_dir
        self.host = host
        self.ovs_socket = os.path.join(self.ovs_dir, 'db.sock')
        self.nb_socket = os.path.join(self.ovn_dir, 'nb.sock')
        self.sb_socket = os.path.join(self.ovn_dir, 'sb.sock')
        #: ovsdb connections: os-vif's, Neutron's.
        self.ovs_connection = 'unix:' + self.ovs_socket
        self.nb_connection = 'unix:' + self.nb_socket
        self.sb_connection = 'unix:' + self.sb_socket

    def env(self):
        """The daemons' and the tools' environment.

        ovs-vswitchd makes ``br-int.mgmt`` in ``OVS_RUNDIR``, where
        ovn-controller looks for it.
        """
        return {'OVS_RUNDIR': self.ovs_dir, 'OVS_DBDIR': self.ovs_dir,
                'OVS_SYSCONFDIR': self.ovs_dir, 'OVS_LOGDIR': self.log_dir,
                'OVN_RUNDIR': self.ovn_dir, 'OVN_DBDIR': self.ovn_dir,
                'OVN_SYSCONFDIR': self.ovn_dir, 'OVN_LOGDIR': self.log_dir,
                'OVN_NB_DB': self.nb_connection,
                'OVN_SB_DB': self.sb_connection}

    def _log(self, name):
        return os.path.join(self.log_dir, name + '.log')

    def _ctl(self, directory, name):
        return os.path.join(directory, name + '.ctl')

    def commands(self):
        """``{service: (command, readiness)}`` for every daemon.

        Each runs in the foreground and logs to its file only.
        """
        quiet = ['-vconsole:off']
        ovs_ctl = self._ctl(self.ovs_dir, 'ovs-vswitchd')
        return {
            'ovsdb-server': (ovs_tool.ovsdb_server_command(
                os.path.join(self.ovs_dir, 'conf.db'), self.ovs_socket,
                self._ctl(self.ovs_dir, 'ovsdb-server'),
                self._log('ovsdb-server')) + quiet,
                {'socket_path': self.ovs_socket}),
            'ovs-vswitchd': (ovs_tool.vswitchd_command(
                self.ovs_connection, ovs_ctl, self._log('ovs-vswitchd')) +
                quiet, {'socket_path': ovs_ctl}),
            'ovn-nb': (ovs_tool.ovsdb_server_command(
                os.path.join(self.ovn_dir, 'ovnnb.db'), self.nb_socket,
                self._ctl(self.ovn_dir, 'ovn-nb'), self._log('ovn-nb')) +
                quiet, {'socket_path': self.nb_socket}),
            'ovn-sb': (ovs_tool.ovsdb_server_command(
                os.path.join(self.ovn_dir, 'ovnsb.db'), self.sb_socket,
                self._ctl(self.ovn_dir, 'ovn-sb'), self._log('ovn-sb')) +
                quiet, {'socket_path': self.sb_socket}),
            'ovn-northd': (['ovn-northd', '--ovnnb-db=' + self.nb_connection,
                            '--ovnsb-db=' + self.sb_connection,
                            '--unixctl=' + self._ctl(self.ovn_dir,
                                                     'ovn-northd'),
                            '--log-file=' + self._log('ovn-northd'),
                            '--no-chdir'] + quiet,
                           {'socket_path': self._ctl(self.ovn_dir,
                                                     'ovn-northd')}),
            # ovn-controller takes no --unixctl: its control socket is
            # ovn-controller.<pid>.ctl in OVN_RUNDIR. Ready is when its
            # chassis is (wait_chassis).
            'ovn-controller': (['ovn-controller', self.ovs_connection,
                                '--log-file=' + self._log('ovn-controller'),
                                '--no-chdir'] + quiet, {}),
        }

    def create_databases(self):
        """The three database files, unless they exist."""
        os.makedirs(self.ovs_dir, exist_ok=True)
        os.makedirs(self.ovn_dir, exist_ok=True)
        ovs_tool.create_db(os.path.join(self.ovs_dir, 'conf.db'),
                           ovs_tool.SCHEMA)
        ovs_tool.create_db(os.path.join(self.ovn_dir, 'ovnnb.db'), NB_SCHEMA)
        ovs_tool.create_db(os.path.join(self.ovn_dir, 'ovnsb.db'), SB_SCHEMA)

    def check_datapath_free(self):
        """Fail unless this host's userspace datapath is free (or ours)."""
        if ovs_tool.userspace_datapath_in_use():
            raise ovs_tool.OVSStartError(
                'another Open vSwitch with a userspace datapath runs on '
                'this host (device %s exists); only one can'
                % ovs_tool.NETDEV_DEVICE)

    def _run(self, *command):
        result = subprocess.run(list(command), capture_output=True,
                                text=True, env=dict(os.environ, **self.env()),
                                timeout=60)
        if result.returncode:
            raise ovs_tool.OVSStartError('%s failed: %s' % (
                ' '.join(command), result.stderr.strip()))
        return result.stdout

    def vsctl(self, *args):
        return self._run('ovs-vsctl', '--db=' + self.ovs_connection,
                         '--timeout=30', *args)

    def sbctl(self, *args):
        return self._run('ovn-sbctl', '--db=' + self.sb_connection, *args)

    def nbctl(self, *args):
        return self._run('ovn-nbctl', '--db=' + self.nb_connection, *args)

    def configure_chassis(self):
        """Set the chassis' settings and make the bridges, at every start.

        They are all set again even where the database kept them:
        ovn-controller reports ``br-int``'s datapath type in its chassis
        (Neutron puts it in the ports' binding details, from which the
        driver knows to switch checksum offload off), so ``br-int`` must
        exist as a netdev bridge before ovn-controller starts. That also
        spares the first binding ovn-controller's 1 s reconnect to a
        bridge it had to make itself.
        """
        netdev = ovs_tool.DATAPATH_NETDEV
        self.vsctl(
            '--no-wait', 'init', '--',
            'set', 'Open_vSwitch', '.',
            'external_ids:system-id=%s' % self.host,
            'external_ids:hostname=%s' % self.host,
            'external_ids:ovn-remote=%s' % self.sb_connection,
            'external_ids:ovn-encap-type=geneve',
            'external_ids:ovn-encap-ip=127.0.0.1',
            'external_ids:ovn-bridge=%s' % INTEGRATION_BRIDGE,
            'external_ids:ovn-bridge-datapath-type=%s' % netdev,
            'external_ids:ovn-bridge-mappings=%s:%s' % (
                PHYSNET, EXTERNAL_BRIDGE),
            'external_ids:ovn-cms-options=enable-chassis-as-gw')
        self.vsctl(
            '--may-exist', 'add-br', INTEGRATION_BRIDGE, '--',
            'set', 'Bridge', INTEGRATION_BRIDGE, 'datapath_type=%s' % netdev,
            'fail_mode=secure', 'other_config:disable-in-band=true', '--',
            '--may-exist', 'add-br', EXTERNAL_BRIDGE, '--',
            'set', 'Bridge', EXTERNAL_BRIDGE, 'datapath_type=%s' % netdev)
        # The bridge's port is a tap device made by ovs-vswitchd as it
        # starts: its address goes with it.
        prefix = PUBLIC_CIDR.split('/')[1]
        self._run('ip', 'address', 'replace', '%s/%s' % (PUBLIC_GATEWAY,
                                                         prefix),
                  'dev', EXTERNAL_BRIDGE)
        self._run('ip', 'link', 'set', EXTERNAL_BRIDGE, 'up')

    def chassis(self):
        """This host's Chassis row as a dict (None before it registers)."""
        out = json.loads(self.sbctl('--format=json', '--columns=name,'
                                    'hostname,other_config', 'find',
                                    'Chassis', 'hostname="%s"' % self.host))
        for name, hostname, other_config in out['data']:
            return {'name': name, 'hostname': hostname,
                    'other_config': dict(other_config[1])}
        return None

    def controller_connected(self, pid):
        """Whether ovn-controller ``pid`` is connected to the southbound DB."""
        ctl = os.path.join(self.ovn_dir, 'ovn-controller.%d.ctl' % pid)
        result = subprocess.run(['ovn-appctl', '-t', ctl,
                                 'connection-status'], capture_output=True,
                                text=True, timeout=30)
        return result.stdout.strip() == 'connected'

    def wait_chassis(self, pid, alive, timeout=60):
        """Wait until ovn-controller ``pid`` registered the chassis.

        It must be connected (after a restart the database still has the
        chassis of the one before) and say that ``br-int`` is a netdev
        bridge. ``alive`` is a callable: False fails at once
        (ovn-controller exited).
        """
        deadline = time.monotonic() + timeout
        found = None
        while time.monotonic() < deadline:
            if not alive():
                raise ovs_tool.OVSStartError('ovn-controller exited')
            found = self.chassis()
            if (found and found['other_config'].get('datapath-type') ==
                    ovs_tool.DATAPATH_NETDEV and
                    self.controller_connected(pid)):
                return found
            time.sleep(0.2)
        raise ovs_tool.OVSStartError(
            'ovn-controller registered no chassis for %s with a netdev '
            'br-int within %d s (found: %s)' % (self.host, timeout, found))

    def exit_vswitchd(self):
        """Ask ovs-vswitchd to exit and remove its devices.

        Killed, the userspace datapath leaves its tap devices (``br-int``,
        ``br-ex``, ``ovs-netdev``) behind.
        """
        ctl = self._ctl(self.ovs_dir, 'ovs-vswitchd')
        if os.path.exists(ctl):
            subprocess.run(['ovs-appctl', '-T', '30', '-t', ctl, 'exit',
                            '--cleanup'], capture_output=True, timeout=60)

    def remove_devices(self):
        """Remove the datapath's devices a killed ovs-vswitchd left.

        Only with no ovs-vswitchd of this cloud running (the caller's).
        """
        for name in (INTEGRATION_BRIDGE, EXTERNAL_BRIDGE,
                     ovs_tool.NETDEV_DEVICE):
            if os.path.exists('/sys/class/net/' + name):
                subprocess.run(['ip', 'link', 'delete', name],
                               capture_output=True)
