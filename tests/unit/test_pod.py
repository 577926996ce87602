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

"""Narrow logic of pod mechanics: no engine, no Nova services."""

import functools
import threading
import time
from unittest import mock

from nova import exception
from nova import thread_pool_factory
import pytest

from nova_zun import host
from nova_zun import network
from nova_zun import pod
from nova_zun.runtime import base
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import types
from nova_zun import volumes


@pytest.fixture
def pods():
    runtime = mock.create_autospec(base.ContainerRuntime, instance=True)
    yield pod.Pods(runtime, host.Host(runtime, 'host-1'),
                   mock.create_autospec(network.VIFPlugger, instance=True),
                   mock.create_autospec(volumes.VolumeMounts, instance=True))
    # The sandbox starts on Nova's thread pool: Nova's functional tests,
    # run later in the same process, require that no pool is left.
    thread_pool_factory.reset_all_executors()


def _starting_sandbox(pods, start):
    method = pods._runtime.start_sandbox
    method.side_effect = start
    # Nova's thread pool copies the function's names (functools.wraps),
    # which an autospecced method has only as mocks.
    functools.update_wrapper(method, base.ContainerRuntime.start_sandbox)
    return types.Sandbox(id='s', name='nova-x-sandbox', netns_path=None,
                         labels={})


def test_the_workload_is_created_while_the_sandbox_starts(pods):
    started = types.Sandbox(id='s', name='nova-x-sandbox',
                            netns_path='/run/netns/x', labels={})
    release = threading.Event()
    sandbox = _starting_sandbox(pods, lambda _: release.wait(10) and started)

    def create_workload():
        # The sandbox's start is still waiting for this.
        release.set()
        return 'workload'
    assert pods.start_sandbox_during(sandbox, create_workload) == \
        (started, 'workload')


def test_a_failed_workload_create_waits_for_the_sandbox_start(pods):
    finished = []

    def start(_):
        time.sleep(0.2)
        finished.append(True)
    sandbox = _starting_sandbox(pods, start)

    def create_workload():
        raise RuntimeError('no such image')
    with pytest.raises(RuntimeError, match='no such image'):
        pods.start_sandbox_during(sandbox, create_workload)
    # The caller removes the pod next: no start may still be in flight.
    assert finished == [True]


def test_a_failed_sandbox_start_fails_the_spawn(pods):
    sandbox = _starting_sandbox(pods, RuntimeError('runsc failed'))
    with pytest.raises(RuntimeError, match='runsc failed'):
        pods.start_sandbox_during(sandbox, lambda: 'workload')


def _deploy_failure(cause):
    try:
        try:
            raise cause
        except Exception as exc:
            raise exception.InstanceDeployFailure(reason='no start') from exc
    except exception.InstanceDeployFailure as failure:
        return failure


def test_a_build_on_an_engine_that_went_away_is_not_tried_elsewhere(pods):
    down = runtime_exc.EngineUnavailable('create_sandbox: container engine '
                                         'unavailable (refused)')
    for failure in (down, _deploy_failure(down)):
        reason = pods.build_abort_reason(failure)
        assert 'container engine of host host-1' in reason
        assert 'unavailable (refused)' in reason


def test_a_start_the_engine_refuses_keeps_the_end_of_its_words(pods):
    words = 'failed to create shim task: ' * 10 + 'exec: "/no/such": not found'
    reason = pods.build_abort_reason(_deploy_failure(
        runtime_exc.InvalidRequest('start: ' + words, reason=words)))
    assert reason.endswith('exec: "/no/such": not found')
    # With "Build of instance <uuid> aborted: " first, within Nova's 255.
    assert len(reason) + 64 <= 255


def test_other_failures_are_for_nova_to_try_elsewhere(pods):
    assert pods.build_abort_reason(_deploy_failure(
        runtime_exc.ContainerRuntimeError('start: runsc crashed'))) is None
    assert pods.build_abort_reason(RuntimeError('boom')) is None
