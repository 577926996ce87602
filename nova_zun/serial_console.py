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

"""Serial consoles: a TCP port per instance for nova-serialproxy.

As Nova's libvirt driver does it, the port comes from ``[serial_console]
port_range`` through Nova's own allocator (nova.console.serial) and is
listened on at ``[serial_console] proxyclient_address`` only: the address
nova-serialproxy reaches this host at. The port relays to the main process
of the instance's container (:mod:`nova_zun.runtime.console_relay`): its
workload's, or its rescue container's while it is rescued.

The port is opened when a console of a running workload is first asked for
(nova-serialproxy asks again, to validate the port, before it connects) and
closed when the workload is stopped, moved away or deleted. The relay runs
in nova-compute: after nova-compute restarts, the next console request
opens a port again.
"""

import threading

import nova.conf
from nova.console import serial
from nova.console import type as console_type
from nova import exception
from oslo_log import log as logging

from nova_zun.runtime import console_relay
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import types

CONF = nova.conf.CONF
LOG = logging.getLogger(__name__)


class SerialConsoles:
    """The console relays of this host's instances, by instance uuid."""

    def __init__(self, runtime):
        self._runtime = runtime
        self._relays = {}
        self._lock = threading.Lock()

    def console(self, instance, name):
        """The ConsoleSerial of the instance's running container ``name``.

        Its port is opened if it is not open.
        """
        try:
            state = self._runtime.status(name).state
        except runtime_exc.NotFound:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        if state != types.ContainerState.RUNNING:
            raise exception.InstanceNotReady(
                'The container of instance %s is not running (it is %s): '
                'start it to open its serial console.'
                % (instance.uuid, state.value), instance_id=instance.uuid)
        with self._lock:
            relay = self._relays.get(instance.uuid)
            if relay is None:
                relay = self._relays[instance.uuid] = self._open(name)
                LOG.info('Serial console listening on %s:%s',
                         *relay.address, instance=instance)
        host, port = relay.address
        return console_type.ConsoleSerial(host=host, port=port)

    def _open(self, container):
        host = CONF.serial_console.proxyclient_address
        while True:
            # Raises SocketPortRangeExhaustedException when none is left.
            port = serial.acquire_port(host)
            try:
                return console_relay.ConsoleRelay(self._runtime, container,
                                                  host, port)
            except OSError as exc:
                # Taken since it was found free: it stays marked taken.
                LOG.warning('Serial console port %s:%s: %s', host, port,
                            exc)

    def close(self, instance):
        """Close the instance's port and its session, if open."""
        with self._lock:
            relay = self._relays.pop(instance.uuid, None)
        if relay is not None:
            self._release(relay)
            LOG.info('Serial console closed', instance=instance)

    def close_all(self):
        with self._lock:
            relays, self._relays = list(self._relays.values()), {}
        for relay in relays:
            self._release(relay)

    @staticmethod
    def _release(relay):
        relay.close()
        serial.release_port(*relay.address)
