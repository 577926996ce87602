"""Narrow logic of ZunDriver: no engine, no Nova services."""

import threading
import time
from unittest import mock

from nova.compute import power_state
from nova.compute import vm_states
from nova import conf as nova_conf
from nova import exception
from nova import objects
from nova.virt import fake
import pytest

from nova_zun import driver as zun_driver
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import types

objects.register_all()
CONF = nova_conf.CONF


@pytest.fixture
def driver():
    return zun_driver.ZunDriver(fake.FakeVirtAPI())


@pytest.mark.parametrize('url', ['tcp://127.0.0.1:2375',
                                 'http://engine:2375'])
def test_an_engine_not_on_a_local_socket_is_refused(driver, url):
    CONF.set_override('engine_url', url, group='zun')
    try:
        with pytest.raises(exception.InvalidInput, match='unix://'):
            driver.init_host('host-1')
    finally:
        CONF.clear_override('engine_url', group='zun')


def test_runtime_traits_are_custom_traits_of_the_runtime_name():
    assert zun_driver.runtime_trait('runsc') == 'CUSTOM_ZUN_RUNTIME_RUNSC'
    assert zun_driver.runtime_trait('kata-qemu') == \
        'CUSTOM_ZUN_RUNTIME_KATA_QEMU'


def _state(driver, container_state, vm_state=vm_states.ACTIVE,
           oom_killed=False):
    status = types.ContainerStatus(id='c', name='nova-x',
                                   state=container_state, labels={},
                                   oom_killed=oom_killed)
    instance = objects.Instance(uuid='8d3c8a39-4d36-4f4c-9a47-0c6a0c5f9a10',
                                vm_state=vm_state, task_state=None)
    with mock.patch.object(driver.runtime, 'status', return_value=status):
        return driver.get_info(instance).state


@pytest.mark.parametrize('container_state, expected', [
    (types.ContainerState.RUNNING, power_state.RUNNING),
    (types.ContainerState.PAUSED, power_state.PAUSED),
    (types.ContainerState.EXITED, power_state.SHUTDOWN),
    (types.ContainerState.CREATED, power_state.SHUTDOWN),
    (types.ContainerState.DEAD, power_state.CRASHED),
])
def test_container_states_become_power_states(driver, container_state,
                                              expected):
    assert _state(driver, container_state) == expected


def test_a_frozen_workload_of_a_suspended_server_is_suspended(driver):
    assert _state(driver, types.ContainerState.PAUSED,
                  vm_state=vm_states.SUSPENDED) == power_state.SUSPENDED


def test_a_workload_killed_for_memory_is_shut_down(driver):
    # As the engine's stop event says: Nova drops events that disagree
    # with get_info (the reason goes to an instance action).
    assert _state(driver, types.ContainerState.EXITED,
                  oom_killed=True) == power_state.SHUTDOWN


def _starting_sandbox(driver, start):
    sandbox = types.Sandbox(id='s', name='nova-x-sandbox', netns_path=None,
                            labels={})
    return sandbox, mock.patch.object(driver.runtime, 'start_sandbox',
                                      side_effect=start)


def test_the_workload_is_created_while_the_sandbox_starts(driver):
    started = types.Sandbox(id='s', name='nova-x-sandbox',
                            netns_path='/run/netns/x', labels={})
    release = threading.Event()
    sandbox, patch = _starting_sandbox(
        driver, lambda _: release.wait(10) and started)

    def create_workload():
        # The sandbox's start is still waiting for this.
        release.set()
        return 'workload'
    with patch:
        assert driver._start_sandbox_during(sandbox, create_workload) == \
            (started, 'workload')


def test_a_failed_workload_create_waits_for_the_sandbox_start(driver):
    finished = []

    def start(_):
        time.sleep(0.2)
        finished.append(True)
    sandbox, patch = _starting_sandbox(driver, start)

    def create_workload():
        raise RuntimeError('no such image')
    with patch, pytest.raises(RuntimeError, match='no such image'):
        driver._start_sandbox_during(sandbox, create_workload)
    # The caller removes the pod next: no start may still be in flight.
    assert finished == [True]


def test_a_failed_sandbox_start_fails_the_spawn(driver):
    sandbox, patch = _starting_sandbox(
        driver, mock.Mock(side_effect=RuntimeError('runsc failed')))
    with patch, pytest.raises(RuntimeError, match='runsc failed'):
        driver._start_sandbox_during(sandbox, lambda: 'workload')


def _deploy_failure(cause):
    try:
        try:
            raise cause
        except Exception as exc:
            raise exception.InstanceDeployFailure(reason='no start') from exc
    except exception.InstanceDeployFailure as failure:
        return failure


def test_a_build_on_an_engine_that_went_away_is_not_tried_elsewhere(driver):
    down = runtime_exc.EngineUnavailable('create_sandbox: container engine '
                                         'unavailable (refused)')
    for failure in (down, _deploy_failure(down)):
        reason = driver._build_abort_reason(failure)
        assert 'container engine' in reason
        assert 'unavailable (refused)' in reason


def test_a_start_the_engine_refuses_keeps_the_end_of_its_words(driver):
    words = 'failed to create shim task: ' * 10 + 'exec: "/no/such": not found'
    reason = driver._build_abort_reason(_deploy_failure(
        runtime_exc.InvalidRequest('start: ' + words, reason=words)))
    assert reason.endswith('exec: "/no/such": not found')
    # With "Build of instance <uuid> aborted: " first, within Nova's 255.
    assert len(reason) + 64 <= 255


def test_other_failures_are_for_nova_to_try_elsewhere(driver):
    assert driver._build_abort_reason(_deploy_failure(
        runtime_exc.ContainerRuntimeError('start: runsc crashed'))) is None
    assert driver._build_abort_reason(RuntimeError('boom')) is None
