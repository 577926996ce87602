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

"""The all-in-one cloud (tools/cloud) from a clean state, driven with the
real ``openstack`` and ``zun`` clients, up again (reused), stopped and up
again (resumed), then removed without a trace.

One cloud serves the module (CPU is scarce): tenant networking through
Neutron and OVN first, then the lifecycle (which ends with stop and up),
then networking again on the restarted cloud. It runs Open vSwitch:
tools/run-tests holds /tmp/nova-zun-ovs.lock around it.
"""

import importlib.metadata
import json
import os
import pathlib
import shlex
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time

import docker
import pytest

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun_workshop.allinone import cloud
from nova_zun_workshop.allinone import ovn
from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import processes

pytestmark = [pytest.mark.slow, pytest.mark.switch]

BIN = os.path.dirname(sys.executable)
RUNSC_FLAVOR = 'c1.small.gvisor'
PORT = 8080  # the demo image answers its host name there
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _cloud(base_dir, action, *options, timeout=600):
    return subprocess.run(
        [sys.executable, '-m', 'nova_zun_workshop.allinone.cloud', action,
         '--base-dir', base_dir] + list(options), capture_output=True,
        text=True, timeout=timeout)


def _openrc(path):
    env = dict(os.environ)
    with open(path) as f:
        for line in f:
            key, value = line.split(None, 1)[1].split('=', 1)
            env[key] = shlex.split(value)[0]
    return env


def _processes_naming(path):
    found = {}
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode()
        except (OSError, UnicodeDecodeError):
            continue
        if path + '/' in cmdline and int(entry) != os.getpid():
            found[int(entry)] = cmdline
    return found


class Clients:

    def __init__(self, env):
        self.env = env

    def run(self, *command, check=True):
        result = subprocess.run([os.path.join(BIN, command[0])] +
                                list(command[1:]), env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 or not check, '%s: %s%s' % (
            ' '.join(command), result.stdout, result.stderr)
        return result.stdout

    def server(self, name):
        return json.loads(self.run('openstack', 'server', 'show', name,
                                   '-f', 'json'))

    def wait_status(self, name, status, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.server(name)
            if server['status'] == status:
                return server
            time.sleep(2)
        raise AssertionError('%s is %s, not %s' % (name, server['status'],
                                                   status))

    def servers(self):
        return json.loads(self.run('openstack', 'server', 'list', '--long',
                                   '-f', 'json'))

    def actions(self, name):
        """``{action: [event, ...]}`` of a server, with the events' details."""
        found = {}
        for action in json.loads(self.run('openstack', 'server', 'event',
                                          'list', name, '-f', 'json')):
            shown = json.loads(self.run(
                'openstack', '--os-compute-api-version', '2.84', 'server',
                'event', 'show', name, action['Request ID'], '-f', 'json'))
            found.setdefault(shown['action'], []).extend(shown['events'])
        return found

    def create(self, name, *options):
        self.run('openstack', 'server', 'create', '--flavor', cloud.FLAVOR,
                 '--image', cloud.IMAGE, '--nic', 'none', *options, name)

    def delete(self, name):
        self.run('openstack', 'server', 'delete', '--wait', name)


def _kill_at(engine_url, event, role, *pids):
    """SIGKILL ``pids`` on ``event`` of a ``role`` container, in a thread.

    The kill comes as soon as the engine reports the event; join the returned
    thread.
    """
    stream = docker.APIClient(base_url=engine_url, version='auto').events(
        decode=True, filters={'type': 'container', 'event': event,
                              'label': '%s=%s' % (labels.ROLE, role)})

    def kill():
        for _ in stream:
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            break
        stream.close()
    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def _killed(thread, *pids):
    thread.join(120)
    assert not thread.is_alive(), 'the drill\'s event never came'
    deadline = time.monotonic() + 60
    while any(processes.running(p) for p in pids):
        assert time.monotonic() < deadline, 'pids %s still run' % (pids,)
        time.sleep(0.2)


def _product_differences():
    """Product modules the installed copy lacks or has in another version.

    The modules are this tree's; the installed copy is the virtualenv's, what
    the cloud's services run (tools/bootstrap installs it).
    """
    # The virtualenv's, not the tree's own metadata (nova_zun.egg-info).
    (installed,) = importlib.metadata.distributions(
        name='nova-zun', path=[sysconfig.get_path('purelib')])
    copies = {str(f): f for f in installed.files if f.suffix == '.py'}
    differ = []
    for top in ('nova_zun', 'zun_native_api', 'nova/virt/zun'):
        for path in pathlib.Path(ROOT, top).rglob('*.py'):
            name = str(path.relative_to(ROOT))
            copy = copies.get(name)
            if copy is None or copy.read_text() != path.read_text():
                differ.append(name)
    return sorted(differ)


def _source_tree_uses(pids):
    """How the processes ``pids`` could import from this checkout.

    That is a working directory in it or a PYTHONPATH (a console script's own
    directory, the virtualenv's bin/, holds no module).
    """
    uses = []
    for pid in pids:
        cwd = os.readlink('/proc/%d/cwd' % pid)
        if (cwd + '/').startswith(ROOT + '/'):
            uses.append('%d runs in %s' % (pid, cwd))
        with open('/proc/%d/environ' % pid, 'rb') as f:
            if b'\0PYTHONPATH=' in b'\0' + f.read():
                uses.append('%d has a PYTHONPATH' % pid)
    return uses


def _pid(base_dir, service):
    with open(os.path.join(base_dir, 'run', service + '.pid')) as f:
        return int(f.read())


def _up(base_dir):
    result = _cloud(base_dir, 'up')
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _fault_drills(base_dir, clients):
    """Run the drills of doc/driver.rst, "What survives what".

    The engine and nova-compute are killed (SIGKILL) while servers run, during
    boots and during a delete, each followed by ``up``; and a workload
    outgrows its memory.
    """
    engine = engine_tool.PrivateEngine(os.path.join(base_dir, 'engine'))
    runtime = docker_runtime.DockerRuntime(engine.url)
    demo = clients.server(cloud.SERVER)['id']

    def workload_pid(server_id):
        return runtime.status('nova-%s' % server_id).pid

    clients.create('oom', '--property',
                   'zun_command=["/bin/sh", "-c", "exec tail /dev/zero"]')
    clients.wait_status('oom', 'SHUTOFF')
    exit_event, = clients.actions('oom')['exit']
    assert 'ran out of memory' in exit_event['details']
    clients.delete('oom')

    # Both die while a server runs and another boots.
    running = workload_pid(demo)
    compute = _pid(base_dir, 'nova-compute')
    dockerd = engine.pid
    killer = _kill_at(engine.url, 'create', labels.ROLE_SANDBOX, compute,
                      dockerd)
    clients.create('cut')
    _killed(killer, compute, dockerd)
    assert processes.running(running)
    assert 'server demo: ACTIVE before, its container running' in _up(
        base_dir)
    assert running == workload_pid(demo)
    assert 'stop' not in clients.actions(cloud.SERVER)
    cut = clients.wait_status('cut', 'ERROR')
    assert 'nova-compute' in cut['fault']['message'], cut['fault']
    clients.delete('cut')

    # The engine dies during a boot, then during a delete.
    dockerd = engine.pid
    killer = _kill_at(engine.url, 'create', labels.ROLE_SANDBOX, dockerd)
    clients.create('lost')
    _killed(killer, dockerd)
    lost = clients.wait_status('lost', 'ERROR')
    assert 'container engine' in lost['fault']['message'], lost['fault']
    _up(base_dir)
    # What the failed boot left goes once nova-compute sees the engine.
    deadline = time.monotonic() + 120
    while runtime.list_containers({labels.INSTANCE: lost['id']}):
        assert time.monotonic() < deadline, 'the failed boot left a pod'
        time.sleep(1)
    clients.delete('lost')
    clients.create('victim', '--wait')
    dockerd = engine.pid
    killer = _kill_at(engine.url, 'die', labels.ROLE_WORKLOAD, dockerd)
    clients.run('openstack', 'server', 'delete', 'victim')
    _killed(killer, dockerd)
    clients.wait_status('victim', 'ERROR')
    _up(base_dir)
    # The delete is done once the engine is back.
    deadline = time.monotonic() + 120
    while 'victim' in [s['Name'] for s in clients.servers()]:
        assert time.monotonic() < deadline, 'victim was never deleted'
        time.sleep(2)

    # Nothing is left under way, and no container outlives its server.
    servers = clients.servers()
    assert [cloud.SERVER] == [s['Name'] for s in servers]
    assert [None] == [s['Task State'] for s in servers]
    assert {demo} == {c.labels.get(labels.INSTANCE)
                      for c in runtime.list_containers()}


class AllInOne:
    """The module's cloud: its base directory and first ``up``'s output."""

    def __init__(self, base_dir, up_output):
        self.base_dir = base_dir
        self.up_output = up_output
        self.clients = Clients(_openrc(os.path.join(base_dir, 'openrc')))
        self.switch = ovn.Switch(base_dir, os.path.join(base_dir, 'log'),
                                 None)


def _cloud_devices():
    """The host's network devices a cloud makes: bridges, datapath, ports.

    Port devices are named ``tap<port id>``, the datapath's by OVS.
    """
    return {name for name in os.listdir('/sys/class/net')
            if name.startswith('tap') or name in (
                ovn.INTEGRATION_BRIDGE, ovn.EXTERNAL_BRIDGE, 'ovs-netdev')}


@pytest.fixture(scope='module')
def aio():
    # The services run the product installed in the virtualenv, with no
    # source tree on their path: it must be this tree's.
    differ = _product_differences()
    assert not differ, ('the virtualenv\'s nova-zun is not this tree\'s '
                        '(run tools/bootstrap): %s' % differ)
    devices_before = _cloud_devices()
    base_dir = tempfile.mkdtemp(prefix='nova-zun-aio-', dir='/tmp')
    os.rmdir(base_dir)  # up starts from nothing
    pids = {}
    try:
        result = subprocess.run(
            [sys.executable, '-m', 'nova_zun_workshop.allinone.cloud', 'up',
             '--base-dir', base_dir,
             '--port-base', str(cloud.free_port_base())],
            capture_output=True, text=True, timeout=900)
        print(result.stdout)
        assert result.returncode == 0, result.stdout + result.stderr
        pids = json.loads(_cloud(base_dir, 'pids').stdout)
        yield AllInOne(base_dir, result.stdout)
        pids = json.loads(_cloud(base_dir, 'pids').stdout)
    finally:
        clean = _cloud(base_dir, 'clean')
        print(clean.stdout, clean.stderr)
    assert clean.returncode == 0
    assert not os.path.exists(base_dir)
    assert [] == engine_tool.mounts_below(base_dir)
    assert {} == _processes_naming(base_dir)
    assert [] == [p for members in pids.values() for p in members
                  if processes.running(p)]
    # No bridge, datapath device or veth outlives the cloud.
    assert set() == _cloud_devices() - devices_before


def _fixed_ip(clients, name, network):
    addresses = clients.server(name)['addresses']
    (address,) = [a for a in addresses[network] if ':' not in a]
    return address


def _reach(clients, server, address, expect_open, timeout=60):
    """Connect from ``server`` to ``address``:PORT (busybox nc).

    Return the answer (the listener's host name). When ``expect_open``,
    try until it answers (OVN programs flows a moment after Neutron's
    call returns); else once, with a 2 s connect timeout (the native API
    waits 5 s for an exec).
    """
    deadline = time.monotonic() + timeout
    while True:
        out = clients.run(
            'zun', 'exec', server, 'sh', '-c',
            'timeout 4 nc -w 2 %s %d </dev/null; echo "rc=$?"'
            % (address, PORT))
        answer, rc = out.strip().rsplit('rc=', 1)
        if not expect_open or rc == '0' and answer.strip():
            return answer.strip() if rc == '0' else None
        assert time.monotonic() < deadline, (
            '%s never reached %s:%d: %s' % (server, address, PORT, out))
        time.sleep(2)


def _reach_from_host(address, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, PORT), 5) as conn:
                answer = conn.makefile().read().strip()
                if answer:
                    return answer
        except OSError as exc:
            error = exc
        else:
            error = 'no answer'
        assert time.monotonic() < deadline, (
            'the host never reached %s:%d: %s' % (address, PORT, error))
        time.sleep(2)


def _interfaces(clients, server):
    """``{device: [IPv4 address, ...]}`` inside the server."""
    found = {}
    for line in clients.run('zun', 'exec', server, 'ip', '-o', '-4',
                            'address', 'show').splitlines():
        parts = line.split()
        if len(parts) > 3:  # zun exec ends its output with an empty line
            found.setdefault(parts[1], []).append(parts[3].split('/')[0])
    return found


def _workload_start(clients, server):
    """The start time of the server's PID 1 (changes with a restart)."""
    return clients.run('zun', 'exec', server, 'cat',
                       '/proc/1/stat').split()[21]


def _server_ports(clients):
    """Neutron port ids of every server there is."""
    ids = set()
    for server in clients.servers():
        ids.update(p['ID'] for p in json.loads(clients.run(
            'openstack', 'port', 'list', '--device-id', server['ID'],
            '-f', 'json')))
    return ids


def _leftovers(aio):
    """Switch ports, veths and bound logical ports of no server."""
    ports = _server_ports(aio.clients)
    left = []
    interfaces = json.loads(aio.switch.vsctl(
        '--format=json', '--columns=name,external_ids', 'list',
        'Interface'))['data']
    for name, external_ids in interfaces:
        iface_id = dict(external_ids[1]).get('iface-id')
        if iface_id and iface_id not in ports:
            left.append('OVS port %s (%s)' % (name, iface_id))
    for name in _cloud_devices():
        if name.startswith('tap') and not any(p.startswith(name[3:])
                                              for p in ports):
            left.append('veth %s' % name)
    bindings = json.loads(aio.switch.sbctl(
        '--format=json', '--columns=logical_port,type,chassis', 'list',
        'Port_Binding'))['data']
    for logical_port, kind, chassis in bindings:
        if kind == '' and chassis != ['set', []] and (
                logical_port not in ports):
            left.append('bound logical port %s' % logical_port)
    return left


def _make_runsc_flavor(clients):
    if RUNSC_FLAVOR not in clients.run('openstack', 'flavor', 'list',
                                       '-f', 'value', '-c', 'Name'):
        clients.run('openstack', 'flavor', 'create', '--vcpus', '1', '--ram',
                    '256', '--disk', '1', '--property',
                    'trait:%s=required' % cloud.CONTAINER_TRAIT,
                    '--property', 'zun:runtime=runsc', '--property',
                    'trait:CUSTOM_ZUN_RUNTIME_RUNSC=required', RUNSC_FLAVOR)


def _boot(clients, name, *options, flavor=cloud.FLAVOR):
    clients.run('openstack', 'server', 'create', '--flavor', flavor,
                '--image', cloud.IMAGE, '--wait', *options, name)
    return clients.wait_status(name, 'ACTIVE')


def _other_project(clients):
    """A project and member of its own, with a network routed to public.

    Returns the member's clients.
    """
    clients.run('openstack', 'project', 'create', 'other')
    clients.run('openstack', 'user', 'create', '--project', 'other',
                '--password', 'other-secret', 'other')
    clients.run('openstack', 'role', 'add', '--project', 'other', '--user',
                'other', 'member')
    other = Clients(dict(clients.env, OS_PROJECT_NAME='other',
                         OS_USERNAME='other', OS_PASSWORD='other-secret'))
    other.run('openstack', 'network', 'create', 'other-net')
    other.run('openstack', 'subnet', 'create', '--network', 'other-net',
              '--subnet-range', '10.0.1.0/24', 'other-subnet')
    other.run('openstack', 'router', 'create', 'other-router')
    other.run('openstack', 'router', 'set', '--external-gateway',
              cloud.PUBLIC_NETWORK, 'other-router')
    other.run('openstack', 'router', 'add', 'subnet', 'other-router',
              'other-subnet')
    return other


def _remove_other_project(clients, other):
    for command in (('router', 'remove', 'subnet', 'other-router',
                     'other-subnet'),
                    ('router', 'delete', 'other-router'),
                    ('network', 'delete', 'other-net')):
        other.run('openstack', *command, check=False)
    clients.run('openstack', 'user', 'delete', 'other')
    clients.run('openstack', 'project', 'delete', 'other')


def test_the_cloud_comes_up_with_the_demo_server_on_private(aio):
    assert 'first ACTIVE server' in aio.up_output
    assert 'hello from nova-zun' in aio.up_output  # its console log
    assert '--network private' in aio.up_output  # the next steps
    assert '--nic none' not in aio.up_output
    with open(os.path.join(aio.base_dir, 'openrc')) as f:
        assert 'nic' not in f.read().lower()
    demo = aio.clients.server(cloud.SERVER)
    assert 'ACTIVE' == demo['status']
    assert _fixed_ip(aio.clients, cloud.SERVER, cloud.PRIVATE_NETWORK)
    # Bound by OVN on this host, its datapath known to the driver.
    (port,) = json.loads(aio.clients.run(
        'openstack', 'port', 'list', '--device-id', demo['id'], '--long',
        '-f', 'json'))
    shown = json.loads(aio.clients.run('openstack', 'port', 'show',
                                       port['ID'], '-f', 'json'))
    assert 'ACTIVE' == shown['status']
    assert 'ovs' == shown['binding_vif_type']
    assert 'netdev' == shown['binding_vif_details']['datapath_type']
    assert {'public', 'private'} <= set(aio.clients.run(
        'openstack', 'network', 'list', '-f', 'value', '-c',
        'Name').split())


def test_servers_on_private_reach_each_other_as_their_groups_allow(aio):
    """Two servers (one under gVisor), another project's, a guarded one.

    Also a floating IP from the host, a port added and removed on a
    running server; nothing of theirs is left after their delete.
    """
    clients = aio.clients
    _make_runsc_flavor(clients)
    net = ('--network', cloud.PRIVATE_NETWORK)
    other = None
    try:
        _boot(clients, 'a', *net)
        _boot(clients, 'b', *net, flavor=RUNSC_FLAVOR)
        a_ip = _fixed_ip(clients, 'a', cloud.PRIVATE_NETWORK)
        b_ip = _fixed_ip(clients, 'b', cloud.PRIVATE_NETWORK)
        # Default groups let members in: both ways, runc and gVisor.
        assert 'a' == _reach(clients, 'b', a_ip, True)
        assert 'b' == _reach(clients, 'a', b_ip, True)
        # The native API's run without nets: the project's network, as Zun.
        clients.run('zun', 'run', '--name', 'z', cloud.IMAGE)
        clients.wait_status('z', 'ACTIVE')
        z_ip = _fixed_ip(clients, 'z', cloud.PRIVATE_NETWORK)
        assert 'z' == _reach(clients, 'a', z_ip, True)

        # Another project's server, routed to public too, reaches neither.
        other = _other_project(clients)
        _boot(other, 'x', '--network', 'other-net')
        x_ip = _fixed_ip(other, 'x', 'other-net')
        assert _reach(other, 'x', a_ip, False) is None
        assert _reach(clients, 'a', x_ip, False) is None

        # A group without the ingress rule keeps b out; the rule lets it in.
        clients.run('openstack', 'security', 'group', 'create', 'guard')
        _boot(clients, 'guarded', *net, '--security-group', 'guard')
        guarded_ip = _fixed_ip(clients, 'guarded', cloud.PRIVATE_NETWORK)
        assert _reach(clients, 'b', guarded_ip, False) is None
        rule = clients.run('openstack', 'security', 'group', 'rule',
                           'create', '--protocol', 'tcp', '--dst-port',
                           str(PORT), 'guard', '-f', 'value', '-c',
                           'id').strip()
        assert 'guarded' == _reach(clients, 'b', guarded_ip, True)
        clients.run('openstack', 'security', 'group', 'rule', 'delete', rule)
        time.sleep(5)  # the ACL goes from Neutron to ovn-controller
        assert _reach(clients, 'b', guarded_ip, False) is None

        # A floating IP answers the host (the group lets the port in).
        clients.run('openstack', 'security', 'group', 'rule', 'create',
                    '--protocol', 'tcp', '--dst-port', str(PORT), 'guard')
        fip = clients.run('openstack', 'floating', 'ip', 'create',
                          cloud.PUBLIC_NETWORK, '-f', 'value', '-c',
                          'floating_ip_address').strip()
        clients.run('openstack', 'server', 'add', 'floating', 'ip',
                    'guarded', fip)
        assert 'guarded' == _reach_from_host(fip)
        clients.run('openstack', 'floating', 'ip', 'delete', fip)

        # A port added to and removed from the running server.
        started = _workload_start(clients, 'a')
        port = json.loads(clients.run(
            'openstack', 'port', 'create', '--network',
            cloud.PRIVATE_NETWORK, 'a-second', '-f', 'json'))
        (port_ip,) = [ip['ip_address'] for ip in port['fixed_ips']]
        clients.run('openstack', 'server', 'add', 'port', 'a', port['id'])
        deadline = time.monotonic() + 120
        while [port_ip] not in _interfaces(clients, 'a').values():
            assert time.monotonic() < deadline, _interfaces(clients, 'a')
            time.sleep(2)
        assert 'ACTIVE' == json.loads(clients.run(
            'openstack', 'port', 'show', port['id'], '-f', 'json'))['status']
        clients.run('openstack', 'server', 'remove', 'port', 'a', port['id'])
        deadline = time.monotonic() + 120
        while [port_ip] in _interfaces(clients, 'a').values():
            assert time.monotonic() < deadline, _interfaces(clients, 'a')
            time.sleep(2)
        assert started == _workload_start(clients, 'a')
        clients.run('openstack', 'port', 'delete', port['id'])
    finally:
        # Whatever the test got to make (a failure stops it anywhere).
        for name in ('a', 'b', 'z', 'guarded'):
            clients.run('openstack', 'server', 'delete', '--wait', name,
                        check=False)
        clients.run('openstack', 'port', 'delete', 'a-second', check=False)
        if other is not None:
            other.run('openstack', 'server', 'delete', '--wait', 'x',
                      check=False)
            _remove_other_project(clients, other)
        clients.run('openstack', 'security', 'group', 'delete', 'guard',
                    check=False)
    assert [] == _leftovers(aio)


def test_the_all_in_one_cloud_runs_containers_as_servers(aio,
                                                         test_image_refs):
    # test_image_refs: the suite's check that exec stays in containers
    # here, before any exec below.
    base_dir = aio.base_dir
    pids = json.loads(_cloud(base_dir, 'pids').stdout)
    assert [] == [name for name, members in pids.items() if not members]
    assert [] == _source_tree_uses(pids['nova-compute'] +
                                   pids['zun-native-api'])
    # Again: everything is reused (ports kept in the base directory).
    again = _cloud(base_dir, 'up')
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'server demo: ACTIVE before' in again.stdout
    assert ' started ' not in again.stdout
    assert pids == json.loads(_cloud(base_dir, 'pids').stdout)

    clients = aio.clients
    clients.run('openstack', 'server', 'create', '--flavor',
                cloud.FLAVOR, '--image', cloud.IMAGE, '--nic', 'none',
                '--wait', 'c1')
    listed = json.loads(clients.run('openstack', 'server', 'list',
                                    '-f', 'json'))
    assert {('c1', 'ACTIVE'), (cloud.SERVER, 'ACTIVE')} <= {
        (s['Name'], s['Status']) for s in listed}
    assert 'c1' in clients.run('zun', 'list')
    assert 'hello-from-c1' in clients.run('zun', 'exec', 'c1', 'echo',
                                          'hello-from-c1')
    assert 'hello from nova-zun' in clients.run('zun', 'logs', 'c1')

    clients.run('openstack', 'server', 'stop', 'c1')
    clients.wait_status('c1', 'SHUTOFF')
    assert 'Stopped' in clients.run('zun', 'show', 'c1')
    clients.run('openstack', 'server', 'start', 'c1')
    clients.wait_status('c1', 'ACTIVE')
    assert 'hello-again' in clients.run('zun', 'exec', 'c1', 'echo',
                                        'hello-again')

    clients.run('openstack', 'server', 'delete', '--wait', 'c1')
    listed = json.loads(clients.run('openstack', 'server', 'list',
                                    '-f', 'json'))
    assert ['demo'] == [s['Name'] for s in listed]

    # The benchmark of a burst on this cloud (benchmarks/README.rst),
    # small: it runs to the end and leaves the cloud as it found it.
    burst = subprocess.run(
        [sys.executable, '-m', 'benchmarks.cloud_burst', '--count', '2',
         '--base-dir', base_dir], cwd=ROOT, capture_output=True,
        text=True, timeout=600)
    assert burst.returncode == 0, burst.stderr[-4000:]
    figures = {f['name'] for f in json.loads(burst.stdout)['figures']}
    assert {'burst_cloud/nova_vs_raw', 'burst_cloud/spawn_p50'} <= figures
    listed = json.loads(clients.run('openstack', 'server', 'list',
                                    '-f', 'json'))
    assert ['demo'] == [s['Name'] for s in listed]

    _fault_drills(base_dir, clients)

    status = _cloud(base_dir, 'status')
    print(status.stdout)
    assert status.returncode == 0, status.stdout + status.stderr

    # --no-dashboard stops it; the other subcommands leave it out.
    without = _cloud(base_dir, 'up', '--no-dashboard')
    assert without.returncode == 0, without.stdout + without.stderr
    assert 'horizon' not in json.loads(_cloud(base_dir, 'pids').stdout)
    assert [] == [p for p in pids['horizon'] if processes.running(p)]
    assert 0 == _cloud(base_dir, 'status').returncode

    # stop keeps the state; up brings the demo server back.
    assert 0 == _cloud(base_dir, 'stop').returncode
    assert [] == [p for members in pids.values() for p in members
                  if processes.running(p)]
    again = _cloud(base_dir, 'up')
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'server demo: ACTIVE before, its container running' in (
        again.stdout)
    assert 'hello-after-restart' in clients.run(
        'zun', 'exec', cloud.SERVER, 'echo', 'hello-after-restart')


def test_new_servers_reach_each_other_after_stop_and_up(aio):
    # After the lifecycle test's stop and up: the chassis reports a netdev
    # datapath again, so new ports get checksum offload switched off.
    clients = aio.clients
    net = ('--network', cloud.PRIVATE_NETWORK)
    try:
        _boot(clients, 'r1', *net)
        _boot(clients, 'r2', *net)
        r1_ip = _fixed_ip(clients, 'r1', cloud.PRIVATE_NETWORK)
        assert 'r1' == _reach(clients, 'r2', r1_ip, True)
    finally:
        for name in ('r1', 'r2'):
            clients.run('openstack', 'server', 'delete', '--wait', name,
                        check=False)
    assert [] == _leftovers(aio)


def test_tempest_compute_api_passes_on_the_all_in_one(aio):
    """tools/tempest's list (tools/tempest-tests.txt) on the module's cloud.

    Any Tempest failure fails this test; what passed, failed and was
    skipped (with the reasons) is in its output.
    """
    # Running again, whatever the test before left stopped.
    _up(aio.base_dir)
    # tools/tempest, run with this suite's Python (tox's or .venv's).
    result = subprocess.run(
        [sys.executable, '-m', 'nova_zun_workshop.allinone.tempest',
         '--base-dir', aio.base_dir], cwd=ROOT, capture_output=True,
        text=True, timeout=3600)
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert ' 0 failed,' in summary, summary
