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

"""A private Open vSwitch: its own database, sockets, run and log directory.

Tests and the demo start one so they never touch (or depend on) the host's
switch::

    python -m nova_zun_workshop.ovs start --base-dir /tmp/ovs  # prints the
    python -m nova_zun_workshop.ovs stop --base-dir /tmp/ovs   # ovsdb socket

Without the openvswitch kernel module (many CI hosts, nested guests) bridges
use the userspace datapath (``datapath_type=netdev``): ovs-vswitchd moves the
packets itself, which is slow but real. Its datapath device is called
``ovs-netdev`` on every host, so only one such switch can run at a time.
Bridge names are kernel devices shared by the whole host, so callers pick
names of their own (:func:`unique_name`).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

from nova_zun_workshop import engine as engine_tool

SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'
DATAPATH_NETDEV = 'netdev'
DATAPATH_SYSTEM = 'system'
#: The userspace datapath's device: one name per host.
NETDEV_DEVICE = 'ovs-netdev'


class OVSStartError(Exception):
    pass


def create_db(path, schema):
    """Create an ovsdb database file from ``schema`` unless it exists."""
    if not os.path.exists(path):
        subprocess.run(['ovsdb-tool', 'create', path, schema],
                       check=True, capture_output=True)


def ovsdb_server_command(db_path, socket_path, ctl, log):
    """An ovsdb-server in the foreground serving ``db_path`` on a socket."""
    return ['ovsdb-server', db_path, '--remote=punix:' + socket_path,
            '--unixctl=' + ctl, '--log-file=' + log, '--no-chdir']


def vswitchd_command(connection, ctl, log):
    """An ovs-vswitchd in the foreground on the database at ``connection``."""
    return ['ovs-vswitchd', connection, '--unixctl=' + ctl,
            '--log-file=' + log, '--no-chdir']


def userspace_datapath_in_use():
    """Whether a userspace datapath exists on this host (only one can)."""
    return os.path.exists('/sys/class/net/' + NETDEV_DEVICE)


def unique_name(prefix, length=15):
    """A device name no other test run on this host uses (IFNAMSIZ-1)."""
    return (prefix + uuid.uuid4().hex)[:length]


def kernel_datapath_available():
    return os.path.isdir('/sys/module/openvswitch')


class PrivateOVS:

    def __init__(self, base_dir):
        self.base_dir = os.path.abspath(base_dir)
        self.db_path = os.path.join(self.base_dir, 'conf.db')
        self.db_socket = os.path.join(self.base_dir, 'db.sock')
        #: What os-vif's ``[os_vif_ovs] ovsdb_connection`` takes.
        self.connection = 'unix:' + self.db_socket
        self._procs = {}
        #: The datapath bridges should use on this host (looked at once).
        self.datapath_type = (DATAPATH_SYSTEM if kernel_datapath_available()
                              else DATAPATH_NETDEV)

    def _env(self):
        return dict(os.environ, OVS_RUNDIR=self.base_dir,
                    OVS_DBDIR=self.base_dir, OVS_LOGDIR=self.base_dir,
                    OVS_SYSCONFDIR=self.base_dir)

    def _pidfile(self, name):
        return os.path.join(self.base_dir, name + '.pid')

    def _ctl(self, name):
        return os.path.join(self.base_dir, name + '.ctl')

    def _log(self, name):
        return os.path.join(self.base_dir, name + '.log')

    def pid(self, name):
        try:
            with open(self._pidfile(name)) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if engine_tool._alive(pid) else None

    def vsctl(self, *args, check=True, timeout=30):
        """Run ovs-vsctl against this switch; return its stdout."""
        result = subprocess.run(
            ['ovs-vsctl', '--db=' + self.connection,
             '--timeout=%d' % timeout] + list(args),
            capture_output=True, text=True, env=self._env())
        if check and result.returncode:
            raise OVSStartError('ovs-vsctl %s failed: %s'
                                % (' '.join(args), result.stderr.strip()))
        return result.stdout

    def _spawn(self, name, cmd):
        with open(self._log(name) + '.out', 'ab') as out:
            self._procs[name] = subprocess.Popen(
                cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                env=self._env(), start_new_session=True)

    def _wait_for(self, what, check, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            dead = [n for n, p in self._procs.items() if p.poll() is not None]
            if dead:
                break
            time.sleep(0.1)
        raise OVSStartError('%s not ready within %ss; %s' % (
            what, timeout, self._log_tails()))

    def _log_tails(self, lines=10):
        tails = []
        for name in ('ovsdb-server', 'ovs-vswitchd'):
            for path in (self._log(name), self._log(name) + '.out'):
                try:
                    with open(path, errors='replace') as f:
                        tail = ''.join(f.readlines()[-lines:])
                except OSError:
                    continue
                tails.append('%s:\n%s' % (path, tail))
        return '\n'.join(tails)

    def running(self):
        return bool(self.pid('ovsdb-server') and self.pid('ovs-vswitchd'))

    def start(self, timeout=30):
        """Start ovsdb-server and ovs-vswitchd.

        Returns the ovsdb connection string.
        """
        if self.running():
            return self.connection
        engine_tool.ensure_packages({'ovs-vswitchd': 'openvswitch-switch'})
        if not os.path.exists(SCHEMA):
            raise OVSStartError('%s missing: install openvswitch-common'
                                % SCHEMA)
        if (self.datapath_type == DATAPATH_NETDEV and
                userspace_datapath_in_use()):
            # The userspace datapath's device has one name per host.
            raise OVSStartError(
                'another Open vSwitch with a userspace datapath runs on '
                'this host (device ovs-netdev exists); only one can')
        os.makedirs(self.base_dir, exist_ok=True)
        create_db(self.db_path, SCHEMA)
        self._spawn('ovsdb-server', ovsdb_server_command(
            self.db_path, self.db_socket, self._ctl('ovsdb-server'),
            self._log('ovsdb-server')) + [
            '--pidfile=' + self._pidfile('ovsdb-server')])
        self._wait_for('ovsdb-server', lambda: os.path.exists(
            self.db_socket), timeout)
        self.vsctl('--no-wait', 'init')
        self._spawn('ovs-vswitchd', vswitchd_command(
            self.connection, self._ctl('ovs-vswitchd'),
            self._log('ovs-vswitchd')) + [
            '--pidfile=' + self._pidfile('ovs-vswitchd')])
        self._wait_for('ovs-vswitchd', lambda: os.path.exists(
            self._ctl('ovs-vswitchd')) and self.pid('ovs-vswitchd'),
            timeout)
        return self.connection

    def bridges(self):
        return self.vsctl('list-br').split()

    def ports(self, bridge):
        return self.vsctl('list-ports', bridge).split()

    def interfaces(self):
        """``{name: external_ids}`` of every interface on the switch."""
        out = self.vsctl('--format=json', '--columns=name,external_ids',
                         'list', 'Interface')
        rows = json.loads(out)['data']
        result = {}
        for name, ids in rows:
            result[name] = dict(ids[1]) if ids[0] == 'map' else {}
        return result

    def stop(self, timeout=15, remove=True):
        """Stop both daemons and remove the base directory when ``remove``.

        ovs-vswitchd removes its bridges' devices on the way out.
        """
        for name in ('ovs-vswitchd', 'ovsdb-server'):
            args = ['exit', '--cleanup'] if name == 'ovs-vswitchd' else \
                ['exit']
            if self.pid(name) and os.path.exists(self._ctl(name)):
                subprocess.run(['ovs-appctl', '-T', str(timeout),
                                '-t', self._ctl(name)] + args,
                               capture_output=True, env=self._env())
            deadline = time.monotonic() + timeout
            pid = self.pid(name)
            while pid and engine_tool._alive(pid) and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            if pid and engine_tool._alive(pid):
                os.kill(pid, signal.SIGKILL)
            proc = self._procs.pop(name, None)
            if proc is not None:
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m nova_zun_workshop.ovs',
        description='Start or stop a private Open vSwitch.')
    parser.add_argument('action', choices=('start', 'stop', 'status'))
    parser.add_argument('--base-dir', default='/tmp/nova-zun-ovs')
    args = parser.parse_args(argv)
    switch = PrivateOVS(args.base_dir)
    if args.action == 'start':
        try:
            print('ovsdb_connection=%s' % switch.start())
        except OVSStartError as exc:
            print(exc, file=sys.stderr)
            return 1
        # The daemons are children of this process only until it exits.
        switch._procs.clear()
    elif args.action == 'stop':
        switch.stop()
    else:
        print('running' if switch.running() else 'stopped')
        return 0 if switch.running() else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
