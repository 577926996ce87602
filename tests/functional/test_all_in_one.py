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
again (resumed), then removed without a trace."""

import importlib.metadata
import json
import os
import pathlib
import shlex
import signal
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
from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import processes
from tests.functional import dashboard_support

pytestmark = pytest.mark.slow

BIN = os.path.dirname(sys.executable)
DASHBOARD_PASSWORD = 'member-secret'

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

    def run(self, *command):
        result = subprocess.run([os.path.join(BIN, command[0])] +
                                list(command[1:]), env=self.env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, '%s: %s%s' % (
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


def _member(clients, name):
    """A project ``name`` and its member ``name``; their clients."""
    clients.run('openstack', 'project', 'create', name)
    clients.run('openstack', 'user', 'create', '--project', name,
                '--password', DASHBOARD_PASSWORD, name)
    clients.run('openstack', 'role', 'add', '--user', name, '--project',
                name, 'member')
    return Clients(dict(clients.env, OS_USERNAME=name, OS_PROJECT_NAME=name,
                        OS_PASSWORD=DASHBOARD_PASSWORD))


def _dashboard_in_a_browser(base_dir, clients):
    """Horizon and zun-ui in Chromium, as members of two projects.

    A member launches an instance and reads its log, then makes a
    container in zun-ui's panel, runs a command in it, types into its
    console, stops and deletes it; a member of another project sees none
    of it, in the dashboard as through the API. Screenshots of every step
    are kept when one fails.
    """
    with open(os.path.join(base_dir, 'port-base')) as f:
        url = 'http://127.0.0.1:%d' % (
            int(f.read()) + cloud.PORT_OFFSETS['horizon'])
    members = [_member(clients, name) for name in ('dash-a', 'dash-b')]
    browser = dashboard_support.Dashboard(url)
    try:
        browser.login('dash-a', DASHBOARD_PASSWORD)
        if browser.offers_network('private'):
            browser.launch_instance('web-a', cloud.IMAGE, cloud.FLAVOR,
                                    'private')
        else:
            # Horizon launches nothing without a network or a port, and
            # this cloud has no L2 networking (doc/all-in-one.rst).
            members[0].create('web-a')
        browser.instance_log('web-a', 'hello from nova-zun')
        browser.create_container('box-a', cloud.IMAGE, 'cat')
        browser.container_row('box-a', 'Running')
        browser.execute('box-a', 'echo from-execute', 'from-execute')
        browser.console_echo('box-a', 'typed-into-console')

        browser.login('dash-b', DASHBOARD_PASSWORD)
        browser.open('/project/container/containers')
        browser.find('hz-resource-table', 'No items to display')
        browser.open('/project/instances/')
        browser.find('#instances', 'No items to display')
        browser.shot('other-project')
        assert 'box-a' not in members[1].run('zun', 'list')
        assert 'box-a' in members[0].run('zun', 'list')

        browser.login('dash-a', DASHBOARD_PASSWORD)
        browser.stop_container('box-a')
        browser.delete_container('box-a')
    except Exception as exc:
        raise AssertionError('%s (screenshots: %s)' % (
            exc, browser.save(str(exc)))) from exc
    finally:
        browser.close()
        for server in json.loads(members[0].run(
                'openstack', 'server', 'list', '-f', 'json')):
            members[0].run('openstack', 'server', 'delete', '--wait',
                           server['ID'])
        for name in ('dash-a', 'dash-b'):
            clients.run('openstack', 'user', 'delete', name)
            clients.run('openstack', 'project', 'delete', name)


def test_the_all_in_one_cloud_runs_containers_as_servers(test_image_refs):
    # test_image_refs: the suite's check that exec stays in containers
    # here, before any exec below.
    # The services run the product installed in the virtualenv, with no
    # source tree on their path: it must be this tree's.
    differ = _product_differences()
    assert not differ, ('the virtualenv\'s nova-zun is not this tree\'s '
                        '(run tools/bootstrap): %s' % differ)
    base_dir = tempfile.mkdtemp(prefix='nova-zun-aio-', dir='/tmp')
    os.rmdir(base_dir)  # up starts from nothing
    pids = {}
    try:
        result = subprocess.run(
            [sys.executable, '-m', 'nova_zun_workshop.allinone.cloud', 'up',
             '--base-dir', base_dir,
             '--port-base', str(cloud.free_port_base())],
            capture_output=True, text=True, timeout=600)
        print(result.stdout)
        assert result.returncode == 0, result.stdout + result.stderr
        assert 'first ACTIVE server' in result.stdout
        assert 'hello from nova-zun' in result.stdout  # its console log
        pids = json.loads(_cloud(base_dir, 'pids').stdout)
        assert all(pids.values()), pids
        assert [] == _source_tree_uses(pids['nova-compute'] +
                                       pids['zun-native-api'])
        # Again: everything is reused (ports kept in the base directory).
        again = _cloud(base_dir, 'up')
        assert again.returncode == 0, again.stdout + again.stderr
        assert 'server demo: ACTIVE before' in again.stdout
        assert ' started ' not in again.stdout
        assert pids == json.loads(_cloud(base_dir, 'pids').stdout)

        clients = Clients(_openrc(os.path.join(base_dir, 'openrc')))
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

        _dashboard_in_a_browser(base_dir, clients)

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
