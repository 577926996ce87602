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

"""Narrow logic of ZunDriver: no engine, no Nova services."""

from unittest import mock

from nova.compute import power_state
from nova.compute import vm_states
from nova import conf as nova_conf
from nova import exception
from nova import objects
from nova.virt import fake
import pytest

from nova_zun import driver as zun_driver
from nova_zun.runtime import base
from nova_zun.runtime import types

objects.register_all()
CONF = nova_conf.CONF


@pytest.fixture
def driver():
    with mock.patch.object(zun_driver.zun_runtime, 'from_conf', autospec=True,
                           return_value=mock.create_autospec(
                               base.ContainerRuntime, instance=True)):
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


def _state(driver, container_state, vm_state=vm_states.ACTIVE,
           oom_killed=False):
    status = types.ContainerStatus(id='c', name='nova-x',
                                   state=container_state, labels={},
                                   oom_killed=oom_killed)
    instance = objects.Instance(uuid='8d3c8a39-4d36-4f4c-9a47-0c6a0c5f9a10',
                                vm_state=vm_state, task_state=None)
    driver.runtime.status.return_value = status
    return driver.get_info(instance).state


@pytest.mark.parametrize('container_state, expected', [
    (types.ContainerState.RUNNING, power_state.RUNNING),
    (types.ContainerState.PAUSED, power_state.PAUSED),
    (types.ContainerState.EXITED, power_state.SHUTDOWN),
    (types.ContainerState.CREATED, power_state.NOSTATE),
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


def test_ports_of_a_stopped_sandbox_wait_for_its_start(driver):
    # A stopped sandbox keeps its engine's namespace path, but the
    # namespace is gone; starting the sandbox plugs the ports again
    # (nova-compute's init_host asks plug_vifs first).
    driver.runtime.status.return_value = types.ContainerStatus(
        id='s', name='nova-x-sandbox', state=types.ContainerState.EXITED,
        labels={})
    driver.runtime.get_sandbox.return_value = types.Sandbox(
        id='s', name='nova-x-sandbox', netns_path='/run/docker/netns/gone',
        labels={})
    instance = objects.Instance(uuid='8d3c8a39-4d36-4f4c-9a47-0c6a0c5f9a10')
    with mock.patch.object(driver, '_vifs', autospec=True) as vifs:
        driver.plug_vifs(instance, [{'id': 'p', 'address': 'fa:16:3e:0:0:1'}])
    vifs.plug.assert_not_called()
