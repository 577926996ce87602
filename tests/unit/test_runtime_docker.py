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

"""Narrow logic of the Docker backend, without an engine."""

import contextlib
import json
import re
import socket
import struct
import threading
import time
import types as pytypes

import docker
from docker import errors as docker_errors
import pytest
import requests

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime.docker import conversions
from nova_zun.runtime.docker import errors
from nova_zun.runtime.docker import streams
from nova_zun.runtime import exception
from nova_zun.runtime import types


# -- translate -------------------------------------------------------------

def _api_error(status_code, explanation):
    response = requests.Response()
    response.status_code = status_code
    return docker_errors.APIError('%d error' % status_code,
                                  response=response, explanation=explanation)


@pytest.mark.parametrize('exc, expected', [
    (docker_errors.NotFound('gone', explanation='No such container: x'),
     exception.NotFound),
    (docker_errors.ImageNotFound('gone', explanation='No such image: y'),
     exception.NotFound),
    (_api_error(409, 'name already in use'), exception.Conflict),
    (_api_error(400, 'bad parameter'), exception.InvalidRequest),
    # The engine answers these with a bare 500 though the caller is wrong.
    (_api_error(500, 'Container x is not paused'), exception.Conflict),
    (_api_error(500, 'Container x is not running'), exception.Conflict),
    (_api_error(500, 'invalid reference format'), exception.InvalidRequest),
    (docker_errors.NullResource('no image'), exception.InvalidRequest),
    (requests.exceptions.ReadTimeout('slow'), exception.OperationTimeout),
    (requests.exceptions.ConnectionError('refused'),
     exception.EngineUnavailable),
    (docker_errors.DockerException('cannot fetch API version'),
     exception.EngineUnavailable),
])
def test_translate_maps_engine_errors_to_runtime_exceptions(exc, expected):
    translated = errors.translate(exc, 'op')
    assert type(translated) is expected
    assert translated.message.startswith('op: ')


def test_translate_keeps_the_engines_message_as_reason():
    translated = errors.translate(
        _api_error(409, 'name "/a" is already in use'), 'create_container')
    assert translated.reason == 'name "/a" is already in use'
    assert 'is already in use' in translated.message


def test_translate_leaves_other_500s_as_the_generic_runtime_error():
    translated = errors.translate(_api_error(500, 'disk on fire'), 'op')
    assert type(translated) is exception.ContainerRuntimeError


def test_translate_passes_runtime_exceptions_through_unchanged():
    exc = exception.Conflict('already')
    assert errors.translate(exc, 'op') is exc


def test_translate_does_not_claim_unrelated_errors():
    assert errors.translate(ValueError('bug'), 'op') is None
    # A file missing on the host (the sandbox binary) is not the engine
    # gone: an unreachable engine socket comes as a ConnectionError.
    assert errors.translate(
        FileNotFoundError(2, 'No such file', '/bin/busybox'), 'op') is None


@pytest.mark.parametrize('status, message, expected', [
    (404, 'manifest for reg:5000/a:9 not found: manifest unknown: manifest '
          'unknown', exception.NotFound),
    (500, 'unauthorized: authentication required',
     exception.PermissionDenied),
    (500, 'Head "http://reg:5000/v2/a/manifests/1": no basic auth '
          'credentials', exception.PermissionDenied),
    (404, "pull access denied for a, repository does not exist or may "
          "require 'docker login': denied: requested access to the "
          "resource is denied", exception.PermissionDenied),
    (500, 'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: '
          'connection refused', exception.RegistryUnavailable),
    (500, 'Get "https://reg.invalid/v2/": dial tcp: lookup reg.invalid: no '
          'such host', exception.RegistryUnavailable),
    (500, 'Get "https://reg:5000/v2/": http: server gave HTTP response to '
          'HTTPS client', exception.RegistryUnavailable),
    (None, 'unknown blob', exception.ContainerRuntimeError),
    (500, 'write /var/lib/docker/tmp/x: no space left on device',
     exception.ContainerRuntimeError),
])
def test_a_failed_pull_says_what_happened(status, message, expected):
    error = errors.pull_error('reg:5000/a:1', message, status)
    assert type(error) is expected
    assert error.reason == message
    assert error.message == 'pull of reg:5000/a:1 failed: ' + message


# -- read_output framing ----------------------------------------------------

def _frame(stream, payload):
    return struct.pack('>BxxxL', stream, len(payload)) + payload


@pytest.fixture
def socket_pair():
    ours, engine = socket.socketpair()
    yield streams.StreamSocket(ours), engine
    ours.close()
    engine.close()


def _send_and_close(engine, *pieces):
    for piece in pieces:
        engine.sendall(piece)
    engine.shutdown(socket.SHUT_WR)


def test_read_output_joins_stdout_and_stderr_frames_in_order(socket_pair):
    sock, engine = socket_pair
    _send_and_close(engine, _frame(1, b'out '), _frame(2, b'err '),
                    _frame(1, b'out again'))
    assert streams.read_output(sock, tty=False) == (
        b'out err out again', False)


def test_read_output_reassembles_frames_split_anywhere(socket_pair):
    sock, engine = socket_pair
    stream = _frame(1, b'hello ') + _frame(2, b'world')
    # One byte at a time: headers and payloads arrive in pieces.
    for byte in stream:
        engine.sendall(bytes([byte]))
    engine.shutdown(socket.SHUT_WR)
    assert streams.read_output(sock, tty=False) == (
        b'hello world', False)


def test_read_output_passes_tty_output_through_raw(socket_pair):
    sock, engine = socket_pair
    raw = _frame(1, b'looks like a frame but is not')
    _send_and_close(engine, raw)
    assert streams.read_output(sock, tty=True) == (raw, False)


def test_read_output_truncates_at_limit_and_drains_the_rest(socket_pair):
    sock, engine = socket_pair
    _send_and_close(engine, _frame(1, b'0123456789'), _frame(2, b'abcdef'))
    assert streams.read_output(sock, tty=False, limit=12) == (
        b'0123456789ab', True)


def test_read_output_times_out_when_the_stream_does_not_end(socket_pair):
    sock, engine = socket_pair
    engine.sendall(_frame(1, b'partial'))
    with pytest.raises(exception.OperationTimeout):
        # A deadline already passed: no waiting in a unit test.
        streams.read_output(sock, tty=False, deadline=time.monotonic())


def test_stream_socket_serves_bytes_the_http_client_buffered_first():
    ours, engine = socket.socketpair()
    try:
        engine.sendall(_frame(1, b'buffered '))
        buffered = ours.makefile('rb')
        buffered.peek()  # the HTTP client read past the headers
        engine.sendall(_frame(1, b'later'))
        engine.shutdown(socket.SHUT_WR)
        # The shape the docker SDK hands out for a hijacked connection.
        sdk_socket = pytypes.SimpleNamespace(
            _sock=ours, _response=pytypes.SimpleNamespace(
                raw=pytypes.SimpleNamespace(
                    _fp=pytypes.SimpleNamespace(fp=buffered))))
        sock = streams.StreamSocket(sdk_socket)
        assert sock.pending() > 0
        assert streams.read_output(sock, tty=False) == (
            b'buffered later', False)
    finally:
        ours.close()
        engine.close()


# -- the libraries under the backend, without an engine ---------------------

@contextlib.contextmanager
def _fake_engine(tmp_path, *answer):
    """An engine on a unix socket that answers one request and hangs up.

    It reads one request and sends the ``answer`` pieces, one after the
    other, then hangs up. Yields its URL and the requests read, as (head,
    body).
    """
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / 'engine.sock'))
    server.listen(1)
    # Only so that the thread ends if no client comes; nothing is timed.
    server.settimeout(30)
    seen = []

    def serve():
        with server.accept()[0] as conn:
            data = b''
            while b'\r\n\r\n' not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b'\r\n\r\n')
            length = re.search(rb'(?im)^content-length: *(\d+)', head)
            while length and len(body) < int(length.group(1)):
                body += conn.recv(65536)
            seen.append((head.decode(), body))
            for piece in answer:
                conn.sendall(piece)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield 'unix://%s' % (tmp_path / 'engine.sock'), seen
    finally:
        thread.join(30)
        server.close()


def _http(status, body):
    return (b'HTTP/1.1 %d X\r\nContent-Type: application/json\r\n'
            b'Content-Length: %d\r\nConnection: close\r\n\r\n%s'
            % (status, len(body), body))


def _runtime_on(url):
    runtime = docker_runtime.DockerRuntime(url)
    runtime._client = docker.APIClient(base_url=url, version='1.41')
    return runtime


def test_update_resources_posts_every_limit_to_the_engine(tmp_path):
    with _fake_engine(tmp_path, _http(200, b'{"Warnings": []}')) as (
            url, seen):
        _runtime_on(url).update_resources('nova-x', types.Resources(
            vcpus=0.5, memory_mb=96, pids_limit=50))
    [(head, body)] = seen
    assert head.startswith('POST /v1.41/containers/nova-x/update HTTP/1.1')
    assert {'Memory': 96 << 20, 'MemorySwap': 96 << 20, 'CpuPeriod': 100000,
            'CpuQuota': 50000, 'PidsLimit': 50} == json.loads(body)


def test_update_resources_of_a_missing_container_is_not_found(tmp_path):
    answer = _http(404, b'{"message": "No such container: nova-x"}')
    with _fake_engine(tmp_path, answer) as (url, _):
        with pytest.raises(exception.NotFound) as caught:
            _runtime_on(url).update_resources(
                'nova-x', types.Resources(memory_mb=96))
    assert 'No such container: nova-x' == caught.value.reason


def test_the_sdk_connection_still_gives_what_the_http_client_buffered(
        tmp_path):
    # streams.sdk_connection reads private attributes of the docker SDK,
    # socket.SocketIO, urllib3 and http.client: when one of them changes,
    # this fails, not an exec or attach that loses its first bytes.
    upgrade = (b'HTTP/1.1 101 UPGRADED\r\n'
               b'Content-Type: application/vnd.docker.multiplexed-stream\r\n'
               b'Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n')
    with _fake_engine(tmp_path, upgrade + _frame(1, b'early '),
                      _frame(2, b'late')) as (url, _):
        api = docker.APIClient(base_url=url, version='1.41')
        sdk_socket = api.attach_socket('nova-x')
        sock, response, buffered = streams.sdk_connection(sdk_socket)
        stream = streams.StreamSocket(sdk_socket)
        try:
            assert isinstance(sock, socket.socket), 'SocketIO._sock'
            assert response is not None, "the docker SDK's _response"
            assert callable(getattr(buffered, 'peek', None)), (
                'response.raw._fp.fp (urllib3, http.client)')
            assert (b'early late', False) == streams.read_output(
                stream, tty=False)
        finally:
            stream.close()


# -- conversions -----------------------------------------------------------

def test_stats_give_cpu_time_and_io_per_block_device():
    blkio = {
        'io_service_bytes_recursive': [
            {'major': 8, 'minor': 0, 'op': 'Read', 'value': 4096},
            {'major': 8, 'minor': 0, 'op': 'Write', 'value': 8192},
            {'major': 8, 'minor': 0, 'op': 'Total', 'value': 12288},
            {'major': 7, 'minor': 3, 'op': 'write', 'value': 1 << 20}],
        'io_serviced_recursive': [
            {'major': 8, 'minor': 0, 'op': 'Read', 'value': 1},
            {'major': 8, 'minor': 0, 'op': 'Write', 'value': 2},
            {'major': 7, 'minor': 3, 'op': 'write', 'value': 16}]}
    sample = conversions.stats({
        'cpu_stats': {'cpu_usage': {'total_usage': 123456789}},
        'blkio_stats': blkio})
    assert sample.cpu_time_ns == 123456789
    assert sample.block_devices == (
        types.BlockDeviceStats(7, 3, write_bytes=1 << 20,
                               write_requests=16),
        types.BlockDeviceStats(8, 0, read_bytes=4096, write_bytes=8192,
                               read_requests=1, write_requests=2))
    assert (sample.block_read_bytes, sample.block_write_bytes) == (
        4096, 8192 + (1 << 20))


def test_stats_of_a_kernel_that_counts_no_block_io_have_no_device():
    sample = conversions.stats({'blkio_stats': {
        'io_service_bytes_recursive': None}})
    assert (sample.block_devices, sample.block_write_bytes) == ((), 0)


@pytest.mark.parametrize('storage_opt, expected', [
    (None, None), ({}, None), ({'size': '10G'}, 10), ({'size': '10M'}, None)])
def test_status_says_the_disk_limit_the_engine_enforces(storage_opt,
                                                        expected):
    status = conversions.status_from_inspect({
        'Id': 'c', 'HostConfig': {'StorageOpt': storage_opt}})
    assert status.disk_limit_gb == expected
