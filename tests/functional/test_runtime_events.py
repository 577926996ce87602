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

"""The engine's event stream, as the driver follows it."""

import queue
import threading
import time

from nova_zun.runtime import types
from nova_zun_workshop.polling import PATIENCE
from tests.functional.runtime_support import instance_labels  # noqa: F401
from tests.functional.runtime_support import make_container  # noqa: F401

Event = types.ContainerEventType


class _Collector:
    """Reads an event stream on a thread of its own, as the driver does."""

    def __init__(self, stream):
        self.stream = stream
        self.events = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for event in self.stream:
            self.events.put(event)

    def next(self):
        return self.events.get(timeout=PATIENCE)

    def until(self, container_id, event_type):
        """Every event up to and with ``event_type`` of the container."""
        seen = [self.next()]
        while (seen[-1].container_id, seen[-1].type) != (container_id,
                                                         event_type):
            seen.append(self.next())
        return seen

    def close(self):
        self.stream.close()
        self.thread.join(PATIENCE)
        assert not self.thread.is_alive(), 'close() did not end the stream'


def test_state_changes_of_labelled_containers_arrive_in_order(
        runtime, make_container, instance_labels):
    collector = _Collector(runtime.events(instance_labels))
    try:
        container = make_container()
        make_container(labels={'other': 'x'})  # labelled too: also seen
        runtime.pause(container)
        runtime.unpause(container)
        runtime.kill(container)
        seen = collector.until(container, Event.STOPPED)
    finally:
        collector.close()
    mine = [e.type for e in seen if e.container_id == container]
    assert mine == [Event.STARTED, Event.PAUSED, Event.UNPAUSED,
                    Event.STOPPED]
    for event in seen:
        for key, value in instance_labels.items():
            assert event.labels[key] == value
        assert event.time_ns > 0


def test_events_of_other_containers_are_not_seen(
        runtime, make_container, instance_labels):
    collector = _Collector(runtime.events(
        dict(instance_labels, only='this-one')))
    try:
        make_container()
        mine = make_container(labels={'only': 'this-one'})
        event = collector.next()
    finally:
        collector.close()
    assert (event.container_id, event.type) == (mine, Event.STARTED)


def test_a_stream_from_the_past_replays_what_happened_since(
        runtime, make_container, instance_labels):
    since = time.time_ns()
    container = make_container()
    runtime.kill(container)
    collector = _Collector(runtime.events(instance_labels, since_ns=since))
    try:
        types_seen = [collector.next().type for _ in range(2)]
    finally:
        collector.close()
    assert types_seen == [Event.STARTED, Event.STOPPED]
