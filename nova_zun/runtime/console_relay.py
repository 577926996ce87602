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

"""A TCP port bound to a container's main process, as a serial port is to
a virtual machine's console.

Whoever connects gets the process's output from then on and writes to its
stdin (when the container keeps it open), in raw bytes both ways, as from
QEMU's TCP serial port. One connection at a time, as QEMU serves one: a
second is closed at once while the first lasts. A connection to a container
that is not running is closed at once too.

Written for both of Nova's concurrency modes: plain threads and sockets
(native threads, or eventlet's green ones when the service monkey patches),
and the threads are woken to end, never left blocked.
"""

import selectors
import socket
import threading

from oslo_log import log as logging

from nova_zun.runtime import exception

LOG = logging.getLogger(__name__)

_CHUNK_BYTES = 65536
#: How long closing waits for the relay's threads to end.
_JOIN_SECONDS = 10


def _readable(socks):
    """Wait until some of ``socks`` can be read; return those.

    Not select(): a service with many consoles has descriptors past its
    limit of 1024.
    """
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        return [key.fileobj for key, _ in selector.select()]


def _shutdown(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class ConsoleRelay:
    """A listener on ``(host, port)`` relaying to ``container``'s process.

    It listens from its creation (OSError if the address cannot be bound)
    until :meth:`close`.
    """

    def __init__(self, runtime, container, host, port):
        self._runtime = runtime
        self._container = container
        self._listener = socket.create_server((host, port))
        #: The host as given (a name stays a name), the port as bound.
        self.address = (host, self._listener.getsockname()[1])
        # Written to by close(): wakes the relay's select.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._lock = threading.Lock()
        self._client = None
        self._session = None
        self._thread = threading.Thread(
            target=self._serve, name='serial-console-%s' % container,
            daemon=True)
        self._thread.start()

    def close(self):
        """Stop listening and end the session; return once all is closed."""
        with self._lock:
            # Unblocks writes to a client or a process that do not read.
            for sock in (self._client, self._session and self._session.sock):
                if sock is not None:
                    _shutdown(sock)
        try:
            self._wake_writer.send(b'x')
        except OSError:
            pass  # closed before
        self._thread.join(_JOIN_SECONDS)
        if self._thread.is_alive():
            LOG.warning('The console relay of %s did not end within %ss',
                        self._container, _JOIN_SECONDS)

    def _serve(self):
        output = None
        try:
            while True:
                watched = [self._listener, self._wake_reader]
                if self._client is not None:
                    watched.append(self._client)
                ready = _readable(watched)
                if self._wake_reader in ready:
                    return
                if self._listener in ready:
                    output = self._accept(output)
                if self._client is not None and self._client in ready:
                    if not self._copy_input():
                        self._end_session(output)
                        output = None
        except Exception:
            LOG.exception('The console relay of %s failed', self._container)
        finally:
            self._end_session(output)
            for sock in (self._listener, self._wake_reader,
                         self._wake_writer):
                sock.close()

    def _accept(self, output):
        """Take a connection: the session, or one closed at once.

        Return the thread copying the session's output.
        """
        conn, peer = self._listener.accept()
        if self._client is not None:
            LOG.info('Console of %s: connection from %s refused, a session '
                     'is open', self._container, peer)
            conn.close()
            return output
        try:
            session = self._runtime.attach(self._container, stdin=True)
        except exception.ContainerRuntimeError as exc:
            LOG.info('Console of %s: connection from %s closed, no process '
                     'to attach to: %s', self._container, peer, exc)
            conn.close()
            return output
        with self._lock:
            self._client, self._session = conn, session
        LOG.info('Console of %s: session opened from %s', self._container,
                 peer)
        output = threading.Thread(
            target=self._copy_output, args=(session, conn),
            name='serial-console-output-%s' % self._container, daemon=True)
        output.start()
        return output

    def _copy_input(self):
        """Copy what the client sent to the process; False at its end."""
        try:
            data = self._client.recv(_CHUNK_BYTES)
            if data:
                self._session.sock.sendall(data)
                return True
        except OSError:
            pass
        return False

    def _copy_output(self, session, client):
        try:
            for chunk in self._runtime.stream_output(session):
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            # The process's stream ended: the serving thread sees the
            # client's end and closes the session.
            _shutdown(client)

    def _end_session(self, output):
        with self._lock:
            client, session = self._client, self._session
            self._client = self._session = None
        if client is None:
            return
        # Shut down first, closed once the output's copy is over (closing
        # a socket another thread reads is an error under eventlet).
        _shutdown(session.sock)
        _shutdown(client)
        if output is not None:
            output.join(_JOIN_SECONDS)
        session.close()
        client.close()
        LOG.info('Console of %s: session closed', self._container)
