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

"""The console relay on native threads, as nova-compute runs it, with a
process played by a socket pair (the functional tests run it on eventlet
against a real container)."""

import socket
import threading
from unittest import mock

import pytest

from nova_zun.runtime import base
from nova_zun.runtime import console_relay
from nova_zun.runtime import exception
from nova_zun.runtime import types

_WAIT_SECONDS = 10


def _chunks(session):
    while True:
        try:
            data = session.sock.recv(4096)
        except OSError:
            return
        if not data:
            return
        yield data


@pytest.fixture
def process():
    """``(runtime, the process's end)``: attach gives the other end."""
    process_end, engine_end = socket.socketpair()
    runtime = mock.create_autospec(base.ContainerRuntime, instance=True)
    runtime.attach.return_value = types.StreamSession(
        id='c', sock=engine_end, tty=True)
    runtime.stream_output.side_effect = _chunks
    yield runtime, process_end
    process_end.close()
    engine_end.close()


@pytest.fixture
def relay(process):
    relay = console_relay.ConsoleRelay(process[0], 'c', '127.0.0.1', 0)
    yield relay
    relay.close()


def _connect(relay):
    return socket.create_connection(relay.address, _WAIT_SECONDS)


def _relay_threads():
    return [t for t in threading.enumerate()
            if t.name.startswith('serial-console')]


def test_bytes_go_both_ways_one_session_at_a_time(process, relay):
    runtime, process_end = process
    process_end.settimeout(_WAIT_SECONDS)
    client = _connect(relay)
    client.sendall(b'typed\n')
    assert process_end.recv(100) == b'typed\n'
    process_end.sendall(b'printed\n')
    assert client.recv(100) == b'printed\n'
    second = _connect(relay)
    assert second.recv(100) == b''
    client.sendall(b'still\n')
    assert process_end.recv(100) == b'still\n'
    runtime.attach.assert_called_once_with('c', stdin=True)
    client.close()
    second.close()


def test_close_ends_the_session_and_every_thread(process, relay):
    runtime, process_end = process
    client = _connect(relay)
    client.settimeout(_WAIT_SECONDS)
    client.sendall(b'x')
    process_end.settimeout(_WAIT_SECONDS)
    assert process_end.recv(1) == b'x'
    relay.close()
    assert client.recv(100) == b''
    assert _relay_threads() == []
    with pytest.raises(ConnectionRefusedError):
        _connect(relay)
    client.close()


def test_no_process_to_attach_to_closes_the_connection(process, relay):
    runtime, _ = process
    runtime.attach.side_effect = exception.Conflict('not running')
    client = _connect(relay)
    client.settimeout(_WAIT_SECONDS)
    assert client.recv(100) == b''
    client.close()


def test_the_end_of_the_process_ends_the_session(process, relay):
    _, process_end = process
    client = _connect(relay)
    client.settimeout(_WAIT_SECONDS)
    client.sendall(b'x')
    process_end.settimeout(_WAIT_SECONDS)
    assert process_end.recv(1) == b'x'
    process_end.shutdown(socket.SHUT_RDWR)
    assert client.recv(100) == b''
    # The listener stays, for the next session.
    _connect(relay).close()
    client.close()
