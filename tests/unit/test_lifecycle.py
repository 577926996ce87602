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

"""What a stopped workload means: its reason, and who stopped it."""

from unittest import mock

from nova.compute import api as compute
from nova.compute import task_states
from nova.compute import vm_states
from nova import exception
from nova import objects
from nova.virt import driver as virt_driver
from nova.virt import event as virtevent
import pytest

from nova_zun import lifecycle
from nova_zun.runtime import base
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import types

objects.register_all()
UUID = '8d3c8a39-4d36-4f4c-9a47-0c6a0c5f9a10'
EXITED = types.ContainerState.EXITED
RUNNING = types.ContainerState.RUNNING


def _status(state=EXITED, **fields):
    return types.ContainerStatus(id='c', name='nova-%s' % UUID, state=state,
                                 labels={}, **fields)


@pytest.mark.parametrize('fields, reason', [
    ({'oom_killed': True, 'exit_code': 137},
     'ran out of memory: the kernel killed it at its memory limit (32 MiB'),
    ({'exit_code': 137}, 'was killed by signal 9 (SIGKILL)'),
    ({'exit_code': 143}, 'was killed by signal 15 (SIGTERM)'),
    ({'exit_code': 3}, 'exited with code 3'),
    ({'exit_code': 0}, 'exited with code 0'),
])
def test_the_reason_of_a_stop_says_how_the_main_process_ended(fields,
                                                              reason):
    assert reason in lifecycle.exit_reason(_status(**fields), 32)


def test_the_engine_s_own_words_follow_the_reason():
    assert lifecycle.exit_reason(
        _status(exit_code=1, error='no such file'), 32).endswith(
            'exited with code 1: no such file')


@pytest.fixture
def watcher():
    runtime = mock.create_autospec(base.ContainerRuntime, instance=True)
    emit = mock.create_autospec(virt_driver.ComputeDriver,
                                instance=True).emit_event
    return lifecycle.LifecycleWatcher(runtime, 'host-1', emit)


def _instance(vm_state=vm_states.ACTIVE, task_state=None, host='host-1',
              metadata=None):
    return objects.Instance(uuid=UUID, vm_state=vm_state,
                            task_state=task_state, host=host,
                            flavor=objects.Flavor(memory_mb=64),
                            metadata=metadata or {})


def _stop(watcher, instance, workload=None, sandbox=RUNNING, settled=False):
    statuses = {'nova-%s' % UUID: workload or _status(exit_code=3),
                'nova-%s-sandbox' % UUID: _status(state=sandbox)}
    watcher._runtime.status.side_effect = statuses.__getitem__
    compute_api = mock.create_autospec(compute.API, instance=True)
    with mock.patch.object(objects.Instance, 'get_by_uuid', autospec=True,
                           return_value=instance), \
            mock.patch.object(lifecycle, 'record_event',
                              autospec=True) as record, \
            mock.patch.object(lifecycle, '_compute_api', autospec=True,
                              return_value=compute_api), \
            mock.patch.object(watcher, '_after_task',
                              autospec=True) as after_task, \
            mock.patch.object(watcher, '_look_again',
                              autospec=True) as look_again:
        watcher._workload_stopped(UUID, settled=settled)
    return record, compute_api, after_task, look_again


def _emitted(watcher):
    return [(e.get_instance_uuid(), e.get_transition())
            for (e,), _ in watcher._emit.call_args_list]


def test_a_workload_that_stopped_by_itself_is_reported_with_its_reason(
        watcher):
    record, compute_api, _, _ = _stop(watcher, _instance())
    record.assert_called_once_with(mock.ANY, UUID, 'host-1', mock.ANY,
                                   lifecycle.ACTION_EXIT)
    assert 'exited with code 3' in record.call_args[0][3]
    assert _emitted(watcher) == [(UUID, virtevent.EVENT_LIFECYCLE_STOPPED)]
    compute_api.reboot.assert_not_called()


def test_a_server_asking_for_auto_remove_is_deleted_when_it_exits(watcher):
    instance = _instance(metadata={'zun_auto_remove': 'true'})
    record, compute_api, _, _ = _stop(watcher, instance)
    assert 'exited with code 3' in record.call_args[0][3]
    compute_api.delete.assert_called_once_with(mock.ANY, instance)
    assert _emitted(watcher) == []


def test_a_bad_auto_remove_value_deletes_nothing(watcher):
    record, compute_api, _, _ = _stop(
        watcher, _instance(metadata={'zun_auto_remove': 'maybe'}))
    compute_api.delete.assert_not_called()
    assert _emitted(watcher) == [(UUID, virtevent.EVENT_LIFECYCLE_STOPPED)]


def test_a_pod_the_engine_stopped_is_looked_at_again_later(watcher):
    # The engine may be shutting down, still answering for a moment.
    record, compute_api, _, look_again = _stop(watcher, _instance(),
                                               sandbox=EXITED)
    look_again.assert_called_once_with(UUID, lifecycle._SETTLE_SECONDS,
                                       settled=True)
    compute_api.reboot.assert_not_called()
    assert _emitted(watcher) == []


def test_a_pod_the_engine_stopped_is_hard_rebooted_not_reported(watcher):
    instance = _instance()
    record, compute_api, _, _ = _stop(watcher, instance, sandbox=EXITED,
                                      settled=True)
    compute_api.reboot.assert_called_once_with(mock.ANY, instance, 'HARD')
    assert 'engine' in record.call_args[0][3]
    assert _emitted(watcher) == []


def test_a_pod_stopped_by_an_engine_that_went_away_waits_for_it(watcher):
    watcher._engine_seen = False
    record, compute_api, _, _ = _stop(watcher, _instance(), sandbox=EXITED,
                                      settled=True)
    compute_api.reboot.assert_not_called()
    assert watcher._stopped_with_engine == {UUID}


def test_a_stop_during_a_task_is_looked_at_after_it(watcher):
    record, compute_api, after_task, _ = _stop(
        watcher, _instance(task_state=task_states.SPAWNING))
    after_task.assert_called_once_with(UUID, None)
    record.assert_not_called()
    assert _emitted(watcher) == []


def test_a_stop_of_a_server_nova_stopped_is_only_reported(watcher):
    record, compute_api, _, _ = _stop(
        watcher, _instance(vm_state=vm_states.STOPPED), sandbox=EXITED)
    record.assert_not_called()
    compute_api.reboot.assert_not_called()
    assert _emitted(watcher) == [(UUID, virtevent.EVENT_LIFECYCLE_STOPPED)]


def test_a_stop_as_the_engine_goes_away_waits_for_the_engine(watcher):
    watcher._runtime.status.side_effect = runtime_exc.EngineUnavailable(
        'status: container engine unavailable')
    watcher._workload_stopped(UUID)
    assert watcher._stopped_with_engine == {UUID}
    assert _emitted(watcher) == []


def test_a_removed_workload_is_reported_stopped(watcher):
    watcher._runtime.status.side_effect = runtime_exc.NotFound('gone')
    with mock.patch.object(
            objects.Instance, 'get_by_uuid', autospec=True,
            side_effect=exception.InstanceNotFound(instance_id=UUID)):
        watcher._workload_stopped(UUID)
    assert _emitted(watcher) == [(UUID, virtevent.EVENT_LIFECYCLE_STOPPED)]


def test_a_removed_workload_of_an_auto_heal_server_is_hard_rebooted(watcher):
    watcher._runtime.status.side_effect = runtime_exc.NotFound('gone')
    instance = _instance(metadata={'zun_auto_heal': 'true'})
    compute_api = mock.create_autospec(compute.API, instance=True)
    with mock.patch.object(objects.Instance, 'get_by_uuid', autospec=True,
                           return_value=instance), \
            mock.patch.object(lifecycle, 'record_event',
                              autospec=True) as record, \
            mock.patch.object(lifecycle, '_compute_api', autospec=True,
                              return_value=compute_api):
        watcher._workload_stopped(UUID)
    compute_api.reboot.assert_called_once_with(mock.ANY, instance, 'HARD')
    assert 'auto_heal' in record.call_args[0][3]
    assert _emitted(watcher) == []


@pytest.mark.parametrize('instance', [
    _instance(),
    _instance(metadata={'zun_auto_heal': 'maybe'}),
    _instance(metadata={'zun_auto_heal': 'true'},
              task_state=task_states.DELETING),
    _instance(metadata={'zun_auto_heal': 'true'},
              vm_state=vm_states.STOPPED),
    _instance(metadata={'zun_auto_heal': 'true'}, host='host-2')])
def test_other_removed_workloads_are_only_reported_stopped(watcher,
                                                           instance):
    watcher._runtime.status.side_effect = runtime_exc.NotFound('gone')
    compute_api = mock.create_autospec(compute.API, instance=True)
    with mock.patch.object(objects.Instance, 'get_by_uuid', autospec=True,
                           return_value=instance), \
            mock.patch.object(lifecycle, '_compute_api', autospec=True,
                              return_value=compute_api):
        watcher._workload_stopped(UUID)
    compute_api.reboot.assert_not_called()
    assert _emitted(watcher) == [(UUID, virtevent.EVENT_LIFECYCLE_STOPPED)]


def test_an_auto_heal_workload_that_stops_is_looked_at_again(watcher):
    instance = _instance(metadata={'zun_auto_heal': 'true'})
    record, compute_api, _, look_again = _stop(watcher, instance)
    look_again.assert_called_once_with(UUID, lifecycle._HEAL_SECONDS,
                                       healing=True)
    record.assert_not_called()
    assert _emitted(watcher) == []
    # Still there a moment later: it exited, and that is told.
    watcher._look_again = mock.Mock()
    statuses = {'nova-%s' % UUID: _status(exit_code=3),
                'nova-%s-sandbox' % UUID: _status(state=RUNNING)}
    watcher._runtime.status.side_effect = statuses.__getitem__
    with mock.patch.object(objects.Instance, 'get_by_uuid', autospec=True,
                           return_value=instance), \
            mock.patch.object(lifecycle, 'record_event',
                              autospec=True) as record:
        watcher._workload_stopped(UUID, healing=True)
    assert 'exited with code 3' in record.call_args[0][3]
    assert _emitted(watcher) == [(UUID, virtevent.EVENT_LIFECYCLE_STOPPED)]
