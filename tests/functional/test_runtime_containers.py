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

"""Container lifecycle, states, resources and OCI runtimes against the
suite's private engine."""

import docker
import pytest

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import exception
from nova_zun.runtime import types
from tests.functional.runtime_support import instance_labels  # noqa: F401
from tests.functional.runtime_support import make_container  # noqa: F401
from tests.functional.runtime_support import wait_for_state
from tests import prerequisites

State = types.ContainerState


def test_engine_info_describes_the_private_engine(runtime, private_engine):
    info = runtime.engine_info()
    assert info.name == 'docker'
    assert info.version
    assert info.data_root == private_engine.data_root
    assert 'runc' in info.runtimes
    assert info.cpus >= 1 and info.memory_bytes > 0
    assert 0 < info.disk_free_bytes <= info.disk_total_bytes


def test_an_engine_socket_that_does_not_exist_is_engine_unavailable(
        tmp_path):
    socket_path = tmp_path / 'no-engine.sock'
    down = docker_runtime.DockerRuntime('unix://%s' % socket_path,
                                        timeout=5)
    for call in (down.engine_info, down.list_containers,
                 lambda: down.status('anything')):
        with pytest.raises(exception.EngineUnavailable,
                           match='container engine unavailable'):
            call()


def test_lifecycle_create_start_stop_restart_kill_remove(runtime,
                                                         make_container):
    container = make_container(start=False)
    assert runtime.status(container).state == State.CREATED
    runtime.start(container)
    running = runtime.status(container)
    assert running.state == State.RUNNING and running.pid
    runtime.stop(container, timeout=30)
    stopped = runtime.status(container)
    # The sleeper exits 0 on SIGTERM: stop asked, it did not kill.
    assert (stopped.state, stopped.exit_code) == (State.EXITED, 0)
    runtime.restart(container, timeout=30)
    restarted = runtime.status(container)
    assert restarted.state == State.RUNNING
    assert restarted.started_at != running.started_at
    runtime.kill(container)
    killed = runtime.status(container)
    assert (killed.state, killed.exit_code) == (State.EXITED, 137)
    runtime.remove(container)
    with pytest.raises(exception.NotFound):
        runtime.status(container)


def test_kill_sends_the_signal_given(runtime, make_container):
    container = make_container()
    runtime.kill(container, signal='SIGTERM')
    exited = wait_for_state(runtime, container, State.EXITED)
    # SIGTERM reached the trap: exit 0, not SIGKILL's 137.
    assert exited.exit_code == 0


def test_removing_a_running_container_needs_force(runtime, make_container):
    container = make_container()
    with pytest.raises(exception.Conflict):
        runtime.remove(container)
    runtime.remove(container, force=True)
    with pytest.raises(exception.NotFound):
        runtime.status(container)


def test_pause_freezes_the_container_and_unpause_thaws_it(
        runtime, make_container):
    container = make_container()
    runtime.pause(container)
    assert runtime.status(container).state == State.PAUSED
    with pytest.raises(exception.Conflict):
        runtime.exec(container, ['true'])
    runtime.unpause(container)
    assert runtime.status(container).state == State.RUNNING
    assert runtime.exec(container, ['true']).exit_code == 0


def test_pausing_a_stopped_container_is_a_conflict(runtime, make_container):
    container = make_container(start=False)
    with pytest.raises(exception.Conflict, match='is not running'):
        runtime.pause(container)


def test_unpausing_a_running_container_is_a_conflict(runtime,
                                                     make_container):
    container = make_container()
    with pytest.raises(exception.Conflict, match='is not paused'):
        runtime.unpause(container)


def test_a_container_removed_under_our_feet_is_not_found(
        runtime, make_container, private_engine):
    container = make_container()
    # Someone else (an operator, another client) removes it.
    docker.APIClient(base_url=private_engine.url, version='auto') \
        .remove_container(container, force=True)
    calls = {
        'status': lambda: runtime.status(container),
        'stop': lambda: runtime.stop(container),
        'exec': lambda: runtime.exec(container, ['true']),
        'start': lambda: runtime.start(container),
        'logs': lambda: runtime.logs(container),
        'remove': lambda: runtime.remove(container),
    }
    for name, call in calls.items():
        with pytest.raises(exception.NotFound, match='^%s: ' % name):
            call()


def test_creating_from_an_unknown_image_is_not_found(runtime,
                                                     make_container):
    with pytest.raises(exception.NotFound):
        make_container(image='nova-zun-test/no-such-image:none',
                       start=False)


def test_list_containers_selects_by_every_label_given(
        runtime, make_container, instance_labels):
    first = make_container(labels={'test.part': 'first'})
    second = make_container(start=False, labels={'test.part': 'second'})

    def listed(**extra):
        return {c.id for c in runtime.list_containers(
            dict(instance_labels, **extra))}
    # Running or not, both carry the instance's labels.
    assert listed() == {first, second}
    assert listed(**{'test.part': 'second'}) == {second}
    assert listed(**{'test.part': 'third'}) == set()
    [status] = runtime.list_containers(dict(instance_labels,
                                            **{'test.part': 'first'}))
    assert status.state == State.RUNNING
    assert status.labels['test.part'] == 'first'


def test_update_resources_changes_the_limits_of_a_live_container(
        runtime, make_container):
    container = make_container(
        resources=types.Resources(vcpus=1, memory_mb=64, pids_limit=100))
    runtime.update_resources(container, types.Resources(
        vcpus=0.5, memory_mb=96, pids_limit=50))
    limits = runtime.status(container).details['HostConfig']
    assert limits['Memory'] == limits['MemorySwap'] == 96 << 20
    assert (limits['CpuPeriod'], limits['CpuQuota']) == (100000, 50000)
    assert limits['PidsLimit'] == 50
    assert runtime.stats(container).memory_limit_bytes == 96 << 20


def test_update_resources_without_any_limit_is_invalid(runtime,
                                                       make_container):
    container = make_container(start=False)
    with pytest.raises(exception.InvalidRequest):
        runtime.update_resources(container, types.Resources())


def test_top_lists_the_processes_of_the_container(runtime, make_container):
    container = make_container()
    processes = runtime.top(container)
    command = processes.titles.index('CMD')
    assert any('sleep 2147483647' in p[command]
               for p in processes.processes)


def test_stats_samples_usage_against_the_limits(runtime, make_container):
    container = make_container(resources=types.Resources(memory_mb=64))
    stats = runtime.stats(container)
    assert stats.memory_limit_bytes == 64 << 20
    assert 0 < stats.memory_usage_bytes < stats.memory_limit_bytes
    assert stats.pids >= 2  # sh and its sleep
    assert stats.cpu_percent >= 0


def test_runsc_runtime_runs_the_container_in_gvisor(runtime, make_container):
    prerequisites.require_oci_runtime(runtime, 'runsc')
    container = make_container(runtime='runsc')
    status = runtime.status(container)
    assert (status.state, status.runtime) == (State.RUNNING, 'runsc')
    # gVisor's kernel log, not the host's: the sentry really runs it.
    dmesg = runtime.exec(container, ['dmesg'])
    assert dmesg.exit_code == 0
    assert b'gVisor' in dmesg.output


def test_an_unknown_runtime_is_refused_and_leaves_no_container(
        runtime, make_container, instance_labels):
    with pytest.raises(exception.InvalidRequest,
                       match='no-such-oci-runtime'):
        make_container(runtime='no-such-oci-runtime')
    assert runtime.list_containers(instance_labels) == []
