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

"""The engine's container events as Nova lifecycle events, and what a stop
means.

Like the libvirt driver's domain events: a workload that dies, or is
stopped, paused or started outside Nova, reaches the compute manager in
moments instead of at the next power-state sync. The manager checks each
event against the driver's current view (``get_info``) and ignores events of
instances that have a task under way, so stale or duplicate events are
harmless.

A workload that stops is one of three cases:

* Nova asked for it, or the stop came while a task was under way (a build,
  a start, a reboot): the stop is looked at again once the task is over,
  since Nova ignored it meanwhile (a workload that exits as it starts).
* The engine stopped it: its sandbox stopped too (nothing inside the pod
  can stop the sandbox), or the engine was going away as it stopped (an
  engine without live restore stops every container when it stops and
  when it starts after a crash). A server Nova wants running is not
  recorded as stopped: once the engine has stayed up for a moment, it is
  hard rebooted through the compute API, an instance action that says
  why.
* It stopped by itself (it exited, a signal killed it, it ran out of
  memory): the reason goes to the log and to an instance action
  (``exit``), then Nova is told it stopped, or, for a server whose
  metadata asks for it (``zun_auto_remove``), the server is deleted.

A workload removed from the engine outside Nova (``docker rm -f``) of a
running server whose metadata asks for it (``zun_auto_heal``, Zun's
auto_heal) is made anew by a hard reboot through the compute API, an
instance action that says why; other removals are told to Nova as stops.

When the engine is back after it went away, the driver looks at its pods
again (``engine_back``), and deletes that failed for want of it (server in
ERROR, its last action a delete) are done again.
"""

import signal
import threading
import time

from nova.compute import instance_actions
from nova.compute import task_states
from nova.compute import vm_states
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.virt import event as virtevent
from oslo_log import log as logging

from nova_zun import container_spec
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import labels
from nova_zun.runtime import types

LOG = logging.getLogger(__name__)

_TRANSITIONS = {
    types.ContainerEventType.STARTED: virtevent.EVENT_LIFECYCLE_STARTED,
    types.ContainerEventType.STOPPED: virtevent.EVENT_LIFECYCLE_STOPPED,
    types.ContainerEventType.PAUSED: virtevent.EVENT_LIFECYCLE_PAUSED,
    types.ContainerEventType.UNPAUSED: virtevent.EVENT_LIFECYCLE_RESUMED,
}
# Wait before following the stream again after the engine went away.
_RECONNECT_SECONDS = 5
# A stop that came during a task is looked at again this often, for as
# long (the periodic power-state sync is the backstop).
_AFTER_TASK_SECONDS = 2
_AFTER_TASK_LIMIT_SECONDS = 600
# An engine that stops its containers as it shuts down still answers for a
# moment: a pod it stopped is brought back only if it is still up after
# this long, else once it is back.
_SETTLE_SECONDS = 5
# A workload of a server asking for auto_heal that stopped is looked at
# again after this long: removed by then, it is healed.
_HEAL_SECONDS = 1
#: The instance action of a workload that stopped by itself, and the event
#: in it (and in the hard reboot of one the engine stopped) that says why.
ACTION_EXIT = 'exit'
EVENT_STOPPED = 'zun_workload_stopped'
_RUNNING = (types.ContainerState.RUNNING, types.ContainerState.RESTARTING,
            types.ContainerState.PAUSED)


def lifecycle_event(container_event):
    """The Nova event for a workload's container event, or None."""
    uuid = container_event.labels.get(labels.INSTANCE)
    transition = _TRANSITIONS.get(container_event.type)
    if not uuid or transition is None:
        return None
    return virtevent.LifecycleEvent(uuid, transition)


def exit_reason(status, memory_mb):
    """Why a workload that stopped by itself stopped, for its user."""
    if status.oom_killed:
        why = ('ran out of memory: the kernel killed it at its memory limit '
               '(%d MiB, the flavor\'s RAM)' % memory_mb)
    elif status.exit_code and status.exit_code > 128:
        number = status.exit_code - 128
        try:
            name = ' (%s)' % signal.Signals(number).name
        except ValueError:
            name = ''
        why = 'was killed by signal %d%s' % (number, name)
    else:
        why = 'exited with code %s' % status.exit_code
    if status.error:
        why += ': %s' % status.error
    return 'The container stopped by itself: its main process %s' % why


def record_event(ctxt, instance_uuid, host, reason, action=None):
    """Record ``reason`` as a failed event of the request's instance action.

    The action is that of ``ctxt``'s request, started here when ``action`` is
    given. Users see the event in ``openstack server event show``.
    """
    if action:
        objects.InstanceAction.action_start(ctxt, instance_uuid, action,
                                            want_result=False)
    objects.InstanceActionEvent.event_start(ctxt, instance_uuid,
                                            EVENT_STOPPED, want_result=False,
                                            host=host)
    objects.InstanceActionEvent.event_finish_with_failure(
        ctxt, instance_uuid, EVENT_STOPPED, exc_val=reason, exc_tb=reason,
        want_result=False)


def _compute_api():
    # Imported late: nova.compute.api imports the virt layer's users.
    from nova.compute import api
    return api.API()


class LifecycleWatcher:
    """Follows the events of this host's workloads on a thread of its own.

    It hands them to ``emit`` (the driver's ``emit_event``) and acts on stops
    as the module says.
    """

    def __init__(self, runtime, host, emit, engine_back=None,
                 engine_seen=True):
        self._runtime = runtime
        self._host = host
        self._labels = {labels.HOST: host, labels.ROLE: labels.ROLE_WORKLOAD}
        self._emit = emit
        self._driver_engine_back = engine_back
        # False: the engine did not answer when the service started; what
        # waits for it is done once it does.
        self._engine_seen = engine_seen
        # Instances whose workload stopped while the engine went away.
        self._stopped_with_engine = set()
        self._stopped = threading.Event()
        self._stream = None
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='nova-zun-lifecycle')
        self._thread.start()

    def stop(self):
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(_RECONNECT_SECONDS)

    def _run(self):
        # After a reconnect, events from where the last stream ended are
        # replayed, so none is lost while the engine restarts.
        since_ns = time.time_ns()
        while not self._stopped.is_set():
            try:
                self._stream = self._runtime.events(self._labels,
                                                    since_ns=since_ns)
                if self._stopped.is_set():  # stop() came in between
                    self._stream.close()
                    break
                if not self._engine_seen:
                    self._engine_seen = True
                    try:
                        self._engine_back()
                    except Exception:
                        LOG.exception('Could not finish what waited for '
                                      'the container engine')
                for container_event in self._stream:
                    since_ns = container_event.time_ns + 1
                    self._dispatch(container_event)
                # The engine ended the stream: it is stopping.
                self._engine_seen = False
            except Exception as exc:
                if self._stopped.is_set():
                    break
                self._engine_seen = False
                level = (LOG.warning
                         if isinstance(exc, runtime_exc.EngineUnavailable)
                         else LOG.exception)
                level('Lost the container engine event stream (%s); '
                      'following it again in %ds', exc, _RECONNECT_SECONDS)
            finally:
                self._stream = None
            self._stopped.wait(_RECONNECT_SECONDS)

    def _dispatch(self, container_event):
        event = lifecycle_event(container_event)
        if event is None:
            return
        LOG.debug('Container %s: %s', container_event.type.value,
                  event.get_name(), instance_uuid=event.get_instance_uuid())
        try:
            if container_event.type == types.ContainerEventType.STOPPED:
                self._workload_stopped(event.get_instance_uuid())
            else:
                self._emit(event)
        except Exception:
            LOG.exception('Could not handle lifecycle event %s', event,
                          instance_uuid=event.get_instance_uuid())

    def _emit_stopped(self, uuid):
        self._emit(virtevent.LifecycleEvent(
            uuid, virtevent.EVENT_LIFECYCLE_STOPPED))

    def _state(self, name):
        try:
            return self._runtime.status(name).state
        except runtime_exc.NotFound:
            return None

    def _workload_stopped(self, uuid, deadline=None, settled=False,
                          healing=False):
        try:
            workload = self._runtime.status('nova-%s' % uuid)
            sandbox_state = self._state('nova-%s-sandbox' % uuid)
        except runtime_exc.NotFound:
            # Removed: a delete, a rebuild (Nova knows), or outside Nova
            # (healed if the server asks for it).
            if not self._healed(uuid):
                self._emit_stopped(uuid)
            return
        except runtime_exc.EngineUnavailable:
            LOG.info('The workload stopped as the container engine went '
                     'away; looking again when it is back',
                     instance_uuid=uuid)
            self._stopped_with_engine.add(uuid)
            return
        if workload.state in _RUNNING:
            return  # started again since
        ctxt = nova_context.get_admin_context()
        try:
            instance = objects.Instance.get_by_uuid(
                ctxt, uuid, expected_attrs=['flavor', 'metadata'])
        except exception.InstanceNotFound:
            return
        if instance.host != self._host:
            return
        if instance.task_state is not None:
            self._after_task(uuid, deadline)
        elif instance.vm_state != vm_states.ACTIVE:
            self._emit_stopped(uuid)
        elif sandbox_state not in _RUNNING:
            if not settled:
                self._look_again(uuid, _SETTLE_SECONDS, settled=True)
            elif self._engine_seen:
                self._bring_back(ctxt, instance)
            else:
                self._stopped_with_engine.add(uuid)
        elif not healing and self._heals(instance):
            # A workload removed while it runs stops first: if it is gone
            # in a moment, it is healed, else its exit is told.
            self._look_again(uuid, _HEAL_SECONDS, healing=True)
        else:
            reason = exit_reason(workload, instance.flavor.memory_mb)
            LOG.warning(reason, instance=instance)
            record_event(ctxt, uuid, self._host, reason, ACTION_EXIT)
            if self._removed_on_exit(instance):
                LOG.info('Deleting the server: its workload stopped by '
                         'itself and it asks for auto_remove',
                         instance=instance)
                _compute_api().delete(ctxt, instance)
                return
            self._emit_stopped(uuid)

    @staticmethod
    def _asks(instance, asks_for, otherwise):
        """``asks_for(instance)``; metadata it refuses is logged, and no."""
        try:
            return asks_for(instance)
        except exception.InvalidInput as exc:
            LOG.warning('%s: %s', otherwise, exc.format_message(),
                        instance=instance)
            return False

    def _heals(self, instance):
        return self._asks(instance, container_spec.healed_when_removed,
                          'Not healed')

    def _healed(self, uuid):
        """Hard reboot a running server whose workload was removed.

        Only one of this host, with no task under way, whose metadata asks
        for it (Zun's auto_heal); the hard reboot makes the workload anew
        in the same pod. True if it did.
        """
        ctxt = nova_context.get_admin_context()
        try:
            instance = objects.Instance.get_by_uuid(
                ctxt, uuid, expected_attrs=['metadata'])
        except exception.InstanceNotFound:
            return False
        if (instance.host != self._host or instance.task_state is not None
                or instance.vm_state != vm_states.ACTIVE or
                not self._heals(instance)):
            return False
        reason = ('The workload was removed outside Nova and the server '
                  'asks for auto_heal: a hard reboot makes it anew')
        LOG.warning(reason, instance=instance)
        _compute_api().reboot(ctxt, instance, 'HARD')
        record_event(ctxt, uuid, self._host, reason)
        return True

    def _removed_on_exit(self, instance):
        return self._asks(instance, container_spec.removed_on_exit,
                          'Not deleted')

    def _after_task(self, uuid, deadline):
        """Look at the stop again once Nova's task is over."""
        deadline = deadline or time.monotonic() + _AFTER_TASK_LIMIT_SECONDS
        if time.monotonic() > deadline:
            LOG.warning('A task is still under way long after the workload '
                        'stopped; leaving it to the power-state sync',
                        instance_uuid=uuid)
            return
        self._look_again(uuid, _AFTER_TASK_SECONDS, deadline=deadline)

    def _look_again(self, uuid, seconds, **how):
        def again():
            if self._stopped.is_set():
                return
            try:
                self._workload_stopped(uuid, **how)
            except Exception:
                LOG.exception('Could not look at the stopped workload again',
                              instance_uuid=uuid)
        timer = threading.Timer(seconds, again)
        timer.daemon = True
        timer.start()

    def _bring_back(self, ctxt, instance):
        reason = ('The container engine stopped the workload and its sandbox '
                  '(an engine restart without live restore, or its crash); '
                  'a hard reboot starts them again')
        LOG.warning(reason, instance=instance)
        _compute_api().reboot(ctxt, instance, 'HARD')
        record_event(ctxt, instance.uuid, self._host, reason)

    def _engine_back(self):
        LOG.info('The container engine is back')
        if self._driver_engine_back is not None:
            self._driver_engine_back()
        stopped, self._stopped_with_engine = self._stopped_with_engine, set()
        for uuid in sorted(stopped):
            self._workload_stopped(uuid)
        ctxt = nova_context.get_admin_context()
        for instance in objects.InstanceList.get_by_filters(
                ctxt, {'host': self._host, 'vm_state': vm_states.ERROR,
                       'deleted': False}, expected_attrs=[]):
            last = objects.InstanceActionList.get_by_instance_uuid(
                ctxt, instance.uuid, limit=1)
            if (instance.task_state != task_states.DELETING and
                    [a.action for a in last] != [instance_actions.DELETE]):
                continue
            LOG.warning('Deleting it again: its delete failed while the '
                        'container engine was away', instance=instance)
            objects.InstanceAction.action_start(
                ctxt, instance.uuid, instance_actions.DELETE,
                want_result=False)
            bdms = objects.BlockDeviceMappingList.get_by_instance_uuid(
                ctxt, instance.uuid)
            _compute_api().compute_rpcapi.terminate_instance(
                ctxt, instance, bdms)
