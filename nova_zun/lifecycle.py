"""The engine's container events as Nova lifecycle events.

Like the libvirt driver's domain events: a workload that dies, or is
stopped, paused or started outside Nova, reaches the compute manager in
moments instead of at the next power-state sync. The manager checks each
event against the driver's current view (``get_info``) and ignores events of
instances that have a task under way, so stale or duplicate events are
harmless.
"""

import threading
import time

from nova.virt import event as virtevent
from oslo_log import log as logging

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


def lifecycle_event(container_event):
    """The Nova event for a workload's container event, or None."""
    uuid = container_event.labels.get(labels.INSTANCE)
    transition = _TRANSITIONS.get(container_event.type)
    if not uuid or transition is None:
        return None
    return virtevent.LifecycleEvent(uuid, transition)


class LifecycleWatcher:
    """Follows the events of this host's workloads on a thread of its own
    and hands each to ``emit`` (the driver's ``emit_event``)."""

    def __init__(self, runtime, host, emit):
        self._runtime = runtime
        self._labels = {labels.HOST: host, labels.ROLE: labels.ROLE_WORKLOAD}
        self._emit = emit
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
                for container_event in self._stream:
                    since_ns = container_event.time_ns + 1
                    self._dispatch(container_event)
            except Exception as exc:
                if self._stopped.is_set():
                    break
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
            self._emit(event)
        except Exception:
            LOG.exception('Could not handle lifecycle event %s', event,
                          instance_uuid=event.get_instance_uuid())
