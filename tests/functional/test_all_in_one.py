"""The all-in-one cloud (tools/cloud) from a clean state, driven with the
real ``openstack`` and ``zun`` clients, up again (reused), stopped and up
again (resumed), then removed without a trace."""

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import pytest

from nova_zun.allinone import cloud
from nova_zun.testing import engine as engine_tool
from nova_zun.testing import processes

pytestmark = pytest.mark.slow

BIN = os.path.dirname(sys.executable)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _cloud(base_dir, action, timeout=600):
    return subprocess.run(
        [sys.executable, '-m', 'nova_zun.allinone.cloud', action,
         '--base-dir', base_dir], capture_output=True, text=True,
        timeout=timeout)


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
            seen = self.server(name)['status']
            if seen == status:
                return
            time.sleep(2)
        raise AssertionError('%s is %s, not %s' % (name, seen, status))


def test_the_all_in_one_cloud_runs_containers_as_servers(test_image_refs):
    # test_image_refs: the suite's check that exec stays in containers
    # here, before any exec below.
    base_dir = tempfile.mkdtemp(prefix='nova-zun-aio-', dir='/tmp')
    os.rmdir(base_dir)  # up starts from nothing
    pids = {}
    try:
        result = subprocess.run(
            [sys.executable, '-m', 'nova_zun.allinone.cloud', 'up',
             '--base-dir', base_dir,
             '--port-base', str(cloud.free_port_base())],
            capture_output=True, text=True, timeout=600)
        print(result.stdout)
        assert result.returncode == 0, result.stdout + result.stderr
        assert 'first ACTIVE server' in result.stdout
        assert 'hello from nova-zun' in result.stdout  # its console log
        pids = json.loads(_cloud(base_dir, 'pids').stdout)
        assert all(pids.values()), pids
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

        status = _cloud(base_dir, 'status')
        print(status.stdout)
        assert status.returncode == 0, status.stdout + status.stderr

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
