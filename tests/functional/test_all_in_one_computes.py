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

"""What needs two compute hosts, on the all-in-one cloud with ``--computes 2``
(each host its own engine, the first one's with runsc), driven with the real
``openstack`` and ``zun`` clients: tenant isolation and the runsc trait
outside Nova's in-process harness, resize on the same host and to the other
one, cold migration, evacuation and the returning host's cleanup, and
diagnostics (doc/driver.rst, doc/scheduling.rst)."""

import json
import os
import subprocess
import sys
import tempfile
import time

import docker
import pytest
import websocket

from nova_zun.runtime import labels
from nova_zun_workshop.allinone import cloud
from nova_zun_workshop.allinone import tempest
from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import processes
from tests.functional import test_all_in_one as single

pytestmark = [pytest.mark.slow, pytest.mark.switch]

HOST = 'OS-EXT-SRV-ATTR:host'
BIG = 'c1.big'
RUNSC = 'c1.runsc'
# The file a workload writes before it moves.
WRITTEN = '/written-before-the-move'


def _tool(base_dir, *args, timeout=900):
    result = subprocess.run(
        [sys.executable, '-m', 'nova_zun_workshop.allinone.cloud'] +
        list(args) + ['--base-dir', base_dir], capture_output=True,
        text=True, timeout=timeout)
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class Cloud(single.Clients):
    """The clients of a cloud of two compute hosts, and its engines."""

    def __init__(self, base_dir):
        super().__init__(single._openrc(os.path.join(base_dir, 'openrc')))
        self.aio = cloud.Cloud(base_dir, cloud.port_base(base_dir, None),
                               computes=2)
        self.hosts = [h.host for h in self.aio.computes]

    def host_of(self, name):
        return self.server(name)[HOST]

    def engine(self, host):
        """The Docker API of compute ``host``'s own engine."""
        compute = next(c for c in self.aio.computes if c.host == host)
        return docker.APIClient(base_url=compute.engine.url, version='auto')

    def pod(self, host, name):
        """``{role: container}`` of server ``name`` in ``host``'s engine."""
        server_id = self.server(name)['id']
        return {c['Labels'][labels.ROLE]: c
                for c in self.engine(host).containers(
                    all=True, filters={'label': '%s=%s' % (labels.INSTANCE,
                                                           server_id)})}

    def workload(self, host, name):
        return self.engine(host).inspect_container(
            'nova-%s' % self.server(name)['id'])

    def root_listing(self, host, name):
        """``ls /`` in server ``name``'s workload on ``host``, by its engine.

        Not ``zun exec``: while a move waits for its confirmation, both
        hosts hold a pod of the server.
        """
        client = self.engine(host)
        run = client.exec_create('nova-%s' % self.server(name)['id'],
                                 ['ls', '/'])
        return client.exec_start(run).decode().split()

    def boot(self, name, *options, host=None, flavor=cloud.FLAVOR,
             env=None):
        """Boot ``name`` (on ``host`` if given, through the scheduler)."""
        if host:
            options += ('--os-compute-api-version', '2.74', '--host', host)
        made = self.as_user(
            env, 'openstack', 'server', 'create', *options, '--flavor',
            flavor, '--image', cloud.IMAGE, '--nic', 'none', '--wait', '-f',
            'value', '-c', 'id', name)
        # By id (the last word: --wait may write its progress first): the
        # admin finds another project's server by name only with
        # --all-projects.
        return self.host_of(made.split()[-1])

    def as_user(self, env, *command):
        if env is None:
            return self.run(*command)
        saved, self.env = self.env, env
        try:
            return self.run(*command)
        finally:
            self.env = saved

    def service(self, action, host):
        self.run('openstack', 'compute', 'service', 'set', action, host,
                 'nova-compute')

    def only(self, host):
        """Disable every compute service but ``host``'s (for moves)."""
        for other in self.hosts:
            self.service('--disable' if other != host else '--enable', other)

    def enable_all(self):
        for host in self.hosts:
            self.service('--enable', host)

    def wait_gone(self, host, name, timeout=180):
        """Wait until ``host``'s engine holds nothing of server ``name``."""
        deadline = time.monotonic() + timeout
        while self.pod(host, name):
            assert time.monotonic() < deadline, (
                '%s\'s pod stayed on %s' % (name, host))
            time.sleep(2)

    def cleanup(self, *names, env=None):
        """Delete servers ``names`` that exist; a test's last words."""
        for name in names:
            subprocess.run([os.path.join(single.BIN, 'openstack'), 'server',
                            'delete', '--wait', name], env=env or self.env,
                           capture_output=True, timeout=300)


@pytest.fixture(scope='module')
def two_hosts():
    base_dir = tempfile.mkdtemp(prefix='nova-zun-aio-computes-', dir='/tmp')
    os.rmdir(base_dir)  # up starts from nothing
    pids = {}
    began = time.monotonic()
    try:
        # No dashboard: the single-host module's cloud has one.
        _tool(base_dir, 'up', '--computes', '2', '--tenant-isolation', 'all',
              '--no-dashboard',
              '--port-base', str(cloud.free_port_base(computes=2)))
        print('up with two compute hosts: %.0f s' % (time.monotonic() -
                                                     began))
        pids = json.loads(_tool(base_dir, 'pids'))
        clients = Cloud(base_dir)
        clients.run('openstack', 'flavor', 'create', '--vcpus', '2', '--ram',
                    '512', '--disk', '1', '--property',
                    'trait:%s=required' % cloud.CONTAINER_TRAIT, BIG)
        yield clients
        pids = json.loads(_tool(base_dir, 'pids'))
    finally:
        clean = subprocess.run(
            [sys.executable, '-m', 'nova_zun_workshop.allinone.cloud',
             'clean', '--base-dir', base_dir], capture_output=True,
            text=True, timeout=600)
        print(clean.stdout, clean.stderr)
    assert clean.returncode == 0
    assert not os.path.exists(base_dir)
    assert [] == engine_tool.mounts_below(base_dir)
    assert {} == single._processes_naming(base_dir)
    assert [] == [p for members in pids.values() for p in members
                  if processes.running(p)]


def test_each_compute_host_has_its_own_service_engine_and_native_api(
        two_hosts):
    pids = json.loads(_tool(two_hosts.aio.base_dir, 'pids'))
    for name in ('nova-compute', 'nova-compute-2', 'zun-native-api',
                 'zun-native-api-2', 'docker-engine', 'docker-engine-2'):
        assert pids[name], name
    hypervisors = json.loads(two_hosts.run('openstack', 'hypervisor', 'list',
                                           '-f', 'json'))
    assert sorted(two_hosts.hosts) == sorted(
        h['Hypervisor Hostname'] for h in hypervisors)
    services = json.loads(two_hosts.run(
        'openstack', 'compute', 'service', 'list', '--service',
        'nova-compute', '-f', 'json'))
    assert {(h, 'up') for h in two_hosts.hosts} == {
        (s['Host'], s['State']) for s in services}
    status = _tool(two_hosts.aio.base_dir, 'status')
    for name in ('nova-compute-2', 'zun-native-api-2', 'docker-engine-2'):
        assert '%-16s running' % name in status


def test_two_projects_never_share_a_host_with_isolation_on(two_hosts):
    c = two_hosts
    c.run('openstack', 'image', 'set', '--public', cloud.IMAGE)
    c.run('openstack', 'project', 'create', 'tenant-b')
    c.run('openstack', 'user', 'create', '--project', 'tenant-b',
          '--password', 'tenant-b-secret', 'tenant-b')
    c.run('openstack', 'role', 'add', '--project', 'tenant-b', '--user',
          'tenant-b', 'member')
    tenant_b = dict(c.env, OS_USERNAME='tenant-b', OS_PROJECT_NAME='tenant-b',
                    OS_PASSWORD='tenant-b-secret')
    admins = c.host_of(cloud.SERVER)
    try:
        b_host = c.boot('b1', env=tenant_b)
        assert b_host != admins
        assert c.boot('a1') == admins
        assert c.boot('b2', env=tenant_b) == b_host
        # The admin's servers may not go where tenant-b's are.
        c.run('openstack', 'server', 'create', '--os-compute-api-version',
              '2.74', '--host', b_host, '--flavor', cloud.FLAVOR, '--image',
              cloud.IMAGE, '--nic', 'none', 'a2')
        refused = c.wait_status('a2', 'ERROR')
        assert 'No valid host' in refused['fault']['message']
    finally:
        c.cleanup('a2', 'a1')
        c.cleanup('b1', 'b2', env=tenant_b)


def test_runsc_flavors_land_only_on_the_host_whose_engine_has_runsc(
        two_hosts):
    c = two_hosts
    with_runsc, without = c.hosts
    c.run('openstack', 'flavor', 'create', '--vcpus', '1', '--ram', '256',
          '--disk', '1', '--property',
          'trait:%s=required' % cloud.CONTAINER_TRAIT, '--property',
          'trait:CUSTOM_ZUN_RUNTIME_RUNSC=required', '--property',
          'zun:runtime=runsc', RUNSC)
    try:
        c.only(without)
        c.run('openstack', 'server', 'create', '--flavor', RUNSC, '--image',
              cloud.IMAGE, '--nic', 'none', 'gvisor-nowhere')
        refused = c.wait_status('gvisor-nowhere', 'ERROR')
        assert 'No valid host' in refused['fault']['message']
        c.enable_all()
        assert c.boot('gvisor', flavor=RUNSC) == with_runsc
        assert 'runsc' == c.workload(with_runsc,
                                     'gvisor')['HostConfig']['Runtime']
    finally:
        c.enable_all()
        c.cleanup('gvisor-nowhere', 'gvisor')


def _limits(c, host, name):
    config = c.workload(host, name)['HostConfig']
    return config['Memory'] // 2 ** 20, config['CpuQuota']


def test_resize_on_the_same_host_changes_limits_of_the_running_workload(
        two_hosts):
    c = two_hosts
    host = c.hosts[1]
    try:
        c.boot('grow', host=host)
        pid = c.workload(host, 'grow')['State']['Pid']
        small = _limits(c, host, 'grow')
        assert small[0] == 256
        c.only(host)
        c.run('openstack', 'server', 'resize', '--flavor', BIG, '--wait',
              'grow')
        assert 'VERIFY_RESIZE' == c.server('grow')['status']
        assert c.host_of('grow') == host
        big = _limits(c, host, 'grow')
        assert big[0] == 512 and big[1] == 2 * small[1]
        assert pid == c.workload(host, 'grow')['State']['Pid']
        c.run('openstack', 'server', 'resize', 'confirm', 'grow')
        c.wait_status('grow', 'ACTIVE')
        assert big == _limits(c, host, 'grow')
        # Down, then reverted: the big flavor's limits again, same process.
        c.run('openstack', 'server', 'resize', '--flavor', cloud.FLAVOR,
              '--wait', 'grow')
        assert small == _limits(c, host, 'grow')
        c.run('openstack', 'server', 'resize', 'revert', 'grow')
        server = c.wait_status('grow', 'ACTIVE')
        assert BIG in str(server['flavor'])
        assert big == _limits(c, host, 'grow')
        assert pid == c.workload(host, 'grow')['State']['Pid']
    finally:
        c.enable_all()
        c.cleanup('grow')


def _written(c, host, name):
    return WRITTEN[1:] in c.root_listing(host, name)


def test_resize_and_cold_migration_to_the_other_host_keep_the_files(
        two_hosts):
    c = two_hosts
    first, second = c.hosts
    try:
        c.boot('mover', host=first)
        c.run('zun', 'exec', 'mover', 'mkdir', WRITTEN)
        # Resize to the other host (the source is disabled), confirmed.
        c.only(second)
        c.run('openstack', 'server', 'resize', '--flavor', BIG, '--wait',
              'mover')
        assert c.host_of('mover') == second
        assert _written(c, second, 'mover')
        c.run('openstack', 'server', 'resize', 'confirm', 'mover')
        c.wait_status('mover', 'ACTIVE')
        c.enable_all()
        c.wait_gone(first, 'mover')
        # Through the native API of host 1, forwarded to host 2.
        assert WRITTEN in c.run('zun', 'exec', 'mover', 'ls', '-d', WRITTEN)
        # Cold migration back (no host named: the only other one).
        c.run('openstack', 'server', 'migrate', '--wait', 'mover')
        assert c.host_of('mover') == first
        c.run('openstack', 'server', 'resize', 'confirm', 'mover')
        c.wait_status('mover', 'ACTIVE')
        assert _written(c, first, 'mover')
        c.wait_gone(second, 'mover')
        # Migration to a named host, reverted: back on the source, as it
        # was.
        c.run('openstack', 'server', 'migrate', '--os-compute-api-version',
              '2.56', '--host', second, '--wait', 'mover')
        assert c.host_of('mover') == second
        assert _written(c, second, 'mover')
        c.run('openstack', 'server', 'resize', 'revert', 'mover')
        c.wait_status('mover', 'ACTIVE')
        assert c.host_of('mover') == first
        c.wait_gone(second, 'mover')
        assert _written(c, first, 'mover')
        # Nothing of the moves stays in Glance.
        images = json.loads(c.run('openstack', 'image', 'list', '-f',
                                  'json'))
        assert [cloud.IMAGE] == [i['Name'] for i in images]
    finally:
        c.enable_all()
        c.cleanup('mover')


def test_diagnostics_of_a_running_server(two_hosts):
    c = two_hosts
    # From 2.48 on: openstackclient 10.5 reads the answer into 2.48's
    # shape, so the older libvirt-style keys would show as nulls.
    new = json.loads(c.run('openstack', '--os-compute-api-version', '2.48',
                           'server', 'show', '--diagnostics', cloud.SERVER,
                           '-f', 'json'))
    assert new['state'] == 'running'
    assert new['cpu_details'][0]['time'] > 0
    assert new['memory_details']['maximum'] == 256
    assert (new['hypervisor'], new['num_cpus']) == ('docker', 1)


def test_evacuation_from_a_stopped_host_and_its_cleanup_on_return(two_hosts):
    c = two_hosts
    first, second = c.hosts
    compute = c.aio.service(c.aio.computes[1].compute_service)
    try:
        c.boot('evacuee', host=second)
        c.boot('bystander', host=second)
        c.run('zun', 'exec', 'evacuee', 'mkdir', WRITTEN)
        bystander = c.pod(second, 'bystander')
        compute.stop()
        c.run('openstack', 'compute', 'service', 'set',
              '--os-compute-api-version', '2.11', '--down', second,
              'nova-compute')
        # Not --wait: openstackclient 10.5 waits for "ACTIVE" where
        # osc-lib compares "active", forever.
        c.run('openstack', 'server', 'evacuate', 'evacuee')
        deadline = time.monotonic() + 300
        while c.host_of('evacuee') != first:
            assert time.monotonic() < deadline, 'evacuee never moved'
            time.sleep(2)
        c.wait_status('evacuee', 'ACTIVE', timeout=300)
        # Made from the image: what was written is gone, as on a VM
        # without shared storage.
        assert not _written(c, first, 'evacuee')
        # The old pod is still on the stopped host, until it comes back.
        assert c.pod(second, 'evacuee')
        _tool(c.aio.base_dir, 'up')
        c.wait_gone(second, 'evacuee')
        # Nova refuses the host up until its nova-compute has finished
        # with the evacuation (the migration "completed").
        deadline = time.monotonic() + 120
        while subprocess.run(
                [os.path.join(single.BIN, 'openstack'), 'compute', 'service',
                 'set', '--os-compute-api-version', '2.11', '--up', second,
                 'nova-compute'], env=c.env, capture_output=True).returncode:
            assert time.monotonic() < deadline, 'host never allowed up'
            time.sleep(2)
        # Only that pod went: the bystander's runs on, untouched.
        assert {r: x['Id'] for r, x in bystander.items()} == {
            r: x['Id'] for r, x in c.pod(second, 'bystander').items()}
        assert 'running' == c.workload(second,
                                       'bystander')['State']['Status']
        assert 'ACTIVE' == c.server('bystander')['status']
        assert c.pod(first, 'evacuee')
    finally:
        compute.start()
        c.cleanup('evacuee', 'bystander')


def test_a_serial_console_session_through_nova_serialproxy(two_hosts):
    c = two_hosts
    try:
        # On host 2: nova-serialproxy asks its nova-compute for the port.
        c.boot('console', '--property', 'zun_command=/bin/sh', '--property',
               'zun_interactive=true', '--property', 'zun_tty=true',
               host=c.hosts[1])
        url = json.loads(c.run('openstack', 'console', 'url', 'show',
                               '--serial', 'console', '-f', 'json'))['url']
        assert url.startswith(c.aio.urls['serialproxy'])
        ws = websocket.create_connection(url, timeout=60,
                                         subprotocols=['binary', 'base64'])
        try:
            # The shell computes the answer: the terminal's echo of the
            # line alone does not hold it.
            ws.send_binary(b'echo through-the-proxy-$((6*7))\n')
            seen = b''
            while b'through-the-proxy-42' not in seen:
                data = ws.recv()
                assert data, 'the console closed; it said %r' % seen
                seen += data.encode() if isinstance(data, str) else data
        finally:
            ws.close()
    finally:
        c.cleanup('console')


def test_tempest_moves_and_the_moves_benchmark(two_hosts):
    """tools/tempest's moves list, then the moves benchmark, on this cloud.

    Tempest's projects are many and its test classes run at once: isolation
    is off meanwhile (the scheduler and the computes restarted), on again
    after. Any Tempest failure fails this test; the counts and the skips'
    reasons are in its output. The benchmark (benchmarks/cloud_moves.py,
    --quick) must measure every figure and leave the cloud as it was;
    timings are never asserted.
    """
    c = two_hosts
    base_dir = c.aio.base_dir
    _tool(base_dir, 'up', '--tenant-isolation', 'off')
    try:
        began = time.monotonic()
        result = subprocess.run(
            [sys.executable, '-m', 'nova_zun_workshop.allinone.tempest',
             '--base-dir', base_dir, '--tests', tempest.MOVES_LIST],
            cwd=single.ROOT, capture_output=True, text=True, timeout=1800)
        print(result.stdout)
        print('tools/tempest: %.0f s' % (time.monotonic() - began))
        assert result.returncode == 0, (result.stdout[-20000:] +
                                        result.stderr)
        summary = result.stdout.strip().splitlines()[-1]
        assert ' 0 failed,' in summary, summary
        began = time.monotonic()
        bench = subprocess.run(
            [sys.executable, '-m', 'benchmarks.cloud_moves', '--quick',
             '--base-dir', base_dir], cwd=single.ROOT, capture_output=True,
            text=True, timeout=900)
        print(bench.stdout, bench.stderr[-4000:])
        print('benchmarks.cloud_moves --quick: %.0f s' % (
            time.monotonic() - began))
        assert bench.returncode == 0, bench.stderr[-4000:]
        figures = {line.split()[0]: line.split()[2]
                   for line in bench.stdout.splitlines()}
        for name in ('moves/resize_same_host_vs_docker_update_p50',
                     'moves/cold_migration_vs_commit_save_load_p50'):
            assert figures[name] == 'ratio'
        listed = json.loads(c.run('openstack', 'server', 'list', '-f',
                                  'json'))
        assert [cloud.SERVER] == [s['Name'] for s in listed]
        images = json.loads(c.run('openstack', 'image', 'list', '-f',
                                  'json'))
        assert [cloud.IMAGE] == [i['Name'] for i in images]
    finally:
        _tool(base_dir, 'up', '--tenant-isolation', 'all')
