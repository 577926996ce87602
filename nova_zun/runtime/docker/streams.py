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

"""The hijacked engine connections of exec and attach: reading and writing
them, and the engine's multiplexed stream format."""

import select
import socket
import struct
import time

from nova_zun.runtime import exception


def sdk_connection(sdk_socket):
    """What the docker SDK's hijacked connection is made of.

    That is ``(socket, response, buffered reader)`` of a ``socket=True``
    answer.

    The socket is the one under the SDK's socket object (a SocketIO over it,
    for a local engine), the response the HTTP response the connection came
    with, the buffered reader the one its headers were read through (None when
    it cannot be found). The docker SDK, socket.SocketIO, urllib3 and
    http.client give none of them publicly: this is the one place that reads
    their private attributes, and tests/unit/test_runtime_docker.py checks them
    on the installed versions.
    """
    # Set by the docker SDK (APIClient._get_raw_response_socket).
    response = getattr(sdk_socket, '_response', None)
    # socket.SocketIO's socket.
    sock = getattr(sdk_socket, '_sock', sdk_socket)
    try:
        # requests' urllib3 response -> its http.client response -> the
        # buffered reader of the socket.
        buffered = response.raw._fp.fp
    except AttributeError:
        buffered = None
    return sock, response, buffered


class StreamSocket:
    """A hijacked engine connection (exec, attach) as a socket-like object.

    The HTTP client reads the response headers through a buffer that can
    already hold the first bytes of the stream (often, with attach
    ``logs=True``); the docker SDK hands out the socket under it and those
    bytes would be lost. They are kept here and served first by ``recv``
    and ``read``; ``pending()`` says how many wait, for callers that
    ``select()`` on ``fileno()``. ``close()`` really closes the connection
    (closing the SDK's socket object alone leaves it open, so the process
    never sees the end of its stdin).
    """

    def __init__(self, sock):
        self._io = sock
        self._sock, self._response, buffered = sdk_connection(sock)
        self._prefix = self._read_ahead(buffered)

    def _read_ahead(self, buffered):
        peek = getattr(buffered, 'peek', None)
        if peek is None:
            return b''
        saved = self._sock.gettimeout()
        self._sock.settimeout(0)
        try:
            # Without blocking: what the buffer holds (plus what the
            # kernel has ready, which is as good).
            data = peek()
            buffered.read(len(data))
            return bytes(data)
        except (OSError, ValueError):
            return b''
        finally:
            self._sock.settimeout(saved)

    def pending(self):
        return len(self._prefix)

    def recv(self, bufsize, flags=0):
        if self._prefix:
            data = self._prefix[:bufsize]
            self._prefix = self._prefix[bufsize:]
            return data
        return self._sock.recv(bufsize, flags)

    def read(self, size=-1):
        return self.recv(size if size and size > 0 else 65536)

    def send(self, data, flags=0):
        return self._sock.send(data, flags)

    def sendall(self, data, flags=0):
        self._sock.sendall(data, flags)

    def write(self, data):
        self._sock.sendall(data)
        return len(data)

    def fileno(self):
        return self._sock.fileno()

    def settimeout(self, timeout):
        self._sock.settimeout(timeout)

    def gettimeout(self):
        return self._sock.gettimeout()

    def setblocking(self, flag):
        self._sock.setblocking(flag)

    def shutdown(self, how):
        self._sock.shutdown(how)

    def close(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for obj in (self._io, self._response, self._sock):
            close = getattr(obj, 'close', None)
            if close:
                try:
                    close()
                except Exception:
                    pass


class Demuxer:
    """Joins the payloads of the engine's multiplexed stream.

    The stream is made of frames of an 8-byte header (stream, 3 pad, length),
    and is fed in chunks split anywhere.
    """

    def __init__(self):
        self._pending = bytearray()
        self._frame_left = 0

    def feed(self, chunk):
        self._pending += chunk
        payload = bytearray()
        while self._pending:
            if self._frame_left == 0:
                if len(self._pending) < 8:
                    break
                _, self._frame_left = struct.unpack('>BxxxL',
                                                    self._pending[:8])
                del self._pending[:8]
                continue
            take = self._pending[:self._frame_left]
            del self._pending[:len(take)]
            self._frame_left -= len(take)
            payload += take
        return bytes(payload)


def read_output(sock, tty, deadline=None, limit=None):
    """Read an attached stream (a StreamSocket) to its end within ``deadline``.

    Returns ``(output, truncated)``. Without a TTY the engine multiplexes
    stdout and stderr into frames; the payloads are joined in order.
    """
    demuxer = None if tty else Demuxer()
    out = bytearray()
    truncated = False
    while True:
        if not sock.pending():
            timeout = None
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    raise exception.OperationTimeout('no end of output in '
                                                     'time')
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                raise exception.OperationTimeout('no end of output in time')
        chunk = sock.recv(65536)
        if not chunk:
            break
        payload = chunk if demuxer is None else demuxer.feed(chunk)
        if limit is not None and len(out) + len(payload) > limit:
            out += payload[:max(0, limit - len(out))]
            truncated = True
        else:
            out += payload
    return bytes(out), truncated


def payloads(session):
    """The output of a StreamSession as it comes, until it ends."""
    demuxer = None if session.tty else Demuxer()
    while True:
        try:
            chunk = session.sock.recv(65536)
        except OSError:
            return
        if not chunk:
            return
        payload = chunk if demuxer is None else demuxer.feed(chunk)
        if payload:
            yield payload
