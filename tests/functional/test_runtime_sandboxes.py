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

"""Pod sandboxes: the network namespace a workload joins."""

import os
import subprocess

import pytest

from nova_zun.runtime import exception
from nova_zun.runtime import labels
from nova_zun.runtime import types
from tests.functional.runtime_support import instance_labels  # noqa: F401
from tests.functional.runtime_support import make_container  # noqa: F401
from tests.functional.runtime_support import unique
from tests import prerequisites


@pytest.fixture
def sandbox(runtime, instance_labels):
    # Removed by cleanup_containers (instance label) also on failure.
    return runtime.create_sandbox(types.SandboxSpec(
        name=unique('rt-sandbox'), labels=instance_labels))


def _netns_inode(path):
    return os.stat(path).st_ino


def _links_in(netns_path):
    out = subprocess.run(['nsenter', '--net=' + netns_path, 'ip', '-o',
                          'link', 'show'], check=True, capture_output=True,
                         text=True).stdout
    return [line.split(':')[1].strip() for line in out.splitlines()]


def _is_mount_point(path):
    with open('/proc/self/mountinfo') as f:
        return any(line.split()[4] == path for line in f)


def test_sandbox_owns_a_network_namespace_holding_only_loopback(runtime,
                                                                sandbox):
    assert sandbox.labels[labels.ROLE] == labels.ROLE_SANDBOX
    path = sandbox.netns_path
    assert os.path.exists(path)
    assert _netns_inode(path) != _netns_inode('/proc/self/ns/net')
    pid = runtime.status(sandbox.id).pid
    assert _netns_inode(path) == _netns_inode('/proc/%d/ns/net' % pid)
    assert _links_in(path) == ['lo']


def test_get_sandbox_finds_it_by_id_and_name(runtime, sandbox):
    for key in (sandbox.id, sandbox.name):
        assert runtime.get_sandbox(key) == sandbox


def test_a_workload_joins_the_network_namespace_of_its_sandbox(
        runtime, sandbox, make_container):
    workload = make_container(sandbox_id=sandbox.id)
    pid = runtime.status(workload).pid
    assert _netns_inode('/proc/%d/ns/net' % pid) == _netns_inode(
        sandbox.netns_path)


def test_a_workload_created_before_its_sandbox_started_joins_it(
        runtime, instance_labels, make_container):
    created = runtime.create_sandbox(types.SandboxSpec(
        name=unique('rt-sandbox'), labels=instance_labels), start=False)
    assert created.netns_path is None
    assert runtime.status(created.id).state == types.ContainerState.CREATED
    workload = make_container(sandbox_id=created.id, start=False)
    started = runtime.start_sandbox(created.id)
    assert started == runtime.get_sandbox(created.name)
    assert (started.id, started.name, started.labels) == (
        created.id, created.name, created.labels)
    runtime.start(workload)
    pid = runtime.status(workload).pid
    assert _netns_inode('/proc/%d/ns/net' % pid) == _netns_inode(
        started.netns_path)


@pytest.mark.parametrize('oci_runtime', [None, 'runsc'])
def test_a_workload_sees_interfaces_plugged_into_its_sandbox(
        runtime, instance_labels, make_container, oci_runtime):
    if oci_runtime:
        prerequisites.require_oci_runtime(runtime, oci_runtime)
    pod = runtime.create_sandbox(types.SandboxSpec(
        name=unique('rt-sandbox'), labels=instance_labels,
        runtime=oci_runtime))
    # What the driver does with a VIF: a veth (both ends in the pod here,
    # so it goes with the namespace).
    subprocess.run(['nsenter', '--net=' + pod.netns_path, 'ip', 'link',
                    'add', 'plugged0', 'type', 'veth', 'peer', 'name',
                    'plugged1'], check=True)
    workload = make_container(sandbox_id=pod.id, runtime=oci_runtime)
    # gVisor's own network stack (--network=host) reads the pod's
    # namespace too.
    devices = runtime.exec(workload, ['cat', '/proc/net/dev']).output
    assert b'plugged0' in devices


@pytest.mark.parametrize('oci_runtime', [None, 'runsc'])
def test_a_workload_resolves_through_the_dns_servers_of_its_sandbox(
        runtime, instance_labels, make_container, oci_runtime):
    if oci_runtime:
        prerequisites.require_oci_runtime(runtime, oci_runtime)
    servers = ('10.9.1.53', 'fd00:9::53')
    pod = runtime.create_sandbox(types.SandboxSpec(
        name=unique('rt-sandbox'), labels=instance_labels,
        dns_servers=servers))
    assert pod.dns_servers == servers
    workload = make_container(sandbox_id=pod.id, runtime=oci_runtime)
    # Only these servers: no search domains or options of the host's.
    expected = b'nameserver 10.9.1.53\nnameserver fd00:9::53\n' \
        b'options ndots:1\n'
    assert runtime.exec(workload, ['cat', '/etc/resolv.conf']).output == \
        expected
    runtime.stop(workload, timeout=0)
    runtime.stop(pod.id, timeout=0)
    runtime.start(pod.id)
    runtime.start(workload)
    assert runtime.exec(workload, ['cat', '/etc/resolv.conf']).output == \
        expected


@pytest.mark.parametrize('oci_runtime', [None, 'runsc'])
def test_a_workload_takes_the_host_name_its_sandbox_was_created_with(
        runtime, instance_labels, make_container, oci_runtime):
    """Not one given to the started sandbox's kernel afterwards.

    The engine copies the sandbox's names into each container joining it
    at that container's start: why a pod cannot come from a pool of
    started sandboxes (benchmarks/README.rst, Warm sandboxes).
    """
    if oci_runtime:
        prerequisites.require_oci_runtime(runtime, oci_runtime)
    pod = runtime.create_sandbox(types.SandboxSpec(
        name=unique('rt-sandbox'), labels=instance_labels,
        hostname='created'))
    uts = '/proc/%d/ns/uts' % runtime.status(pod.id).pid
    subprocess.run(['nsenter', '--uts=' + uts, 'hostname', 'claimed'],
                   check=True)
    assert subprocess.run(['nsenter', '--uts=' + uts, 'hostname'],
                          check=True, capture_output=True).stdout == \
        b'claimed\n'
    workload = make_container(sandbox_id=pod.id, runtime=oci_runtime)
    assert runtime.exec(workload, ['cat', '/proc/sys/kernel/hostname'])\
        .output == b'created\n'


def test_remove_sandbox_releases_its_namespace(runtime, sandbox):
    assert _is_mount_point(sandbox.netns_path)
    runtime.remove_sandbox(sandbox.id)
    with pytest.raises(exception.NotFound):
        runtime.get_sandbox(sandbox.id)
    # The engine may keep the empty file a while; the namespace's bind
    # mount, which held it alive, is gone at once.
    assert not _is_mount_point(sandbox.netns_path)


def test_removing_an_unknown_sandbox_is_not_found(runtime):
    with pytest.raises(exception.NotFound):
        runtime.remove_sandbox(unique('rt-no-sandbox'))
