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

"""Consoles over WebSocket: ``zun exec -i`` and ``zun attach`` (the
unmodified python-zunclient command line, on a pseudo-terminal) against
the native API under gunicorn, with keystonemiddleware and the suite's
Keystone; single-use console URLs; other projects get 404; a container
of another host gets a URL of that host."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from urllib import parse as urlparse

import pytest
import websocket

from nova_zun_workshop import native_api_server as server_tool
from nova_zun_workshop.native_api_setup import SERVICE_USER
from tests.functional.native_api_support import assert_documented
from tests.functional.native_api_support import assert_zun_error
from tests.functional.native_api_support import Caller
from tests.functional.native_api_support import cli_environment
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional.native_api_support import native_apis  # noqa: F401
from tests.functional.native_api_support import workloads  # noqa: F401

PATIENCE = 60
# A workload whose main process is a shell on a terminal, stdin open:
# what Zun makes of a container created interactive with a TTY.
INTERACTIVE = dict(tag='sleeper', command=['/bin/sh'], tty=True,
                   stdin_open=True)


@pytest.fixture
def host1(native_apis):
    return native_apis['host1'].url


@pytest.fixture(scope='module')
def one_console(private_engine, keystone):
    """A native API (two worker processes) that keeps one console open.

    It keeps one console open at a time, and closes it after 2 quiet seconds.
    """
    server = server_tool.NativeApiServer('host1', private_engine.url,
                                         keystone.url, *SERVICE_USER)
    server.set('native_api', max_consoles='1', console_idle_timeout='2')
    with server.running():
        yield server


def caller(url, identities, who, **kwargs):
    return Caller(url, identities.token(who), **kwargs)


class Terminal:
    """A command line on a pseudo-terminal of ``rows`` x ``cols``.

    It runs as a user runs it; ``expect`` reads its screen.
    """

    def __init__(self, command, env, rows, cols):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack('HHHH', rows, cols, 0, 0))
        try:
            self.process = subprocess.Popen(
                command, stdin=slave, stdout=slave, stderr=slave, env=env,
                start_new_session=True)
        finally:
            os.close(slave)
        self.screen = b''

    def expect(self, text):
        deadline = time.monotonic() + PATIENCE
        while text not in self.screen:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [],
                                              left)[0]:
                raise AssertionError('no %r on the terminal: %r'
                                     % (text, self.screen))
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the command ended and closed the terminal
                data = b''
            if not data:
                raise AssertionError('the terminal closed without %r: %r'
                                     % (text, self.screen))
            self.screen += data
        return self.screen

    def wait_for_raw_mode(self):
        """Wait until the client put the terminal in raw mode.

        The client does so once connected and done with the resize, and
        discards what was typed before.
        """
        deadline = time.monotonic() + PATIENCE
        while termios.tcgetattr(self.master)[3] & termios.ICANON:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError('the client never took the terminal: '
                                     '%r' % self.screen)
            time.sleep(0.05)

    def type(self, text):
        os.write(self.master, text)

    def wait(self):
        return self.process.wait(PATIENCE)

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(PATIENCE)
        if self.master is not None:
            os.close(self.master)
            self.master = None


@pytest.fixture
def terminal(keystone):
    """``open(who, *zun_args, rows=, cols=)`` -> a Terminal running ``zun``.

    The command runs as ``who``; each terminal is ended after the test.
    """
    opened = []

    def open_terminal(who, *args, rows=24, cols=80):
        command = [os.path.join(os.path.dirname(sys.executable), 'zun')]
        opened.append(Terminal(command + list(args),
                               cli_environment(keystone, who), rows, cols))
        return opened[-1]
    yield open_terminal
    for term in opened:
        term.close()


def connect(url):
    """websocket-client as python-zunclient calls it."""
    return websocket.create_connection(
        url, subprotocols=['binary', 'base64'], skip_utf8_validation=True,
        timeout=PATIENCE)


def received_until(ws, text):
    output = b''
    while text not in output:
        data = ws.recv()
        if not data:
            raise AssertionError('the console closed without %r: %r'
                                 % (text, output))
        output += data if isinstance(data, bytes) else data.encode()
    return output


def assert_console_closed_cleanly(server, kind, instance):
    deadline = time.monotonic() + PATIENCE
    closed = 'Console (%s) of %s closed' % (kind, instance)
    while closed not in server.log_text():
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.2)
    assert 'Traceback' not in server.log_text()


def test_zun_exec_interactive_runs_a_shell_on_a_terminal_of_its_size(
        native_apis, host1, identities, workloads, terminal, runtime):
    instance = workloads(identities.project('alice'))
    term = terminal('alice', '--bypass-url', host1 + '/v1', 'exec', '-i',
                    instance, '/bin/sh', rows=31, cols=97)
    term.expect(b'connected to %s' % instance.encode())
    term.wait_for_raw_mode()
    # The client resized the exec's terminal to its own (execute_resize).
    term.type(b'busybox stty size; echo exec-$((6 * 7))\r')
    screen = term.expect(b'exec-42')
    assert b'31 97' in screen
    term.type(b'exit\r')
    assert 0 == term.wait()
    # The shell ended; the workload goes on.
    assert 'running' == runtime.status('nova-' + instance).state.value
    assert_console_closed_cleanly(native_apis['host1'], 'exec', instance)


def test_zun_attach_reaches_the_main_process_and_detaching_leaves_it(
        native_apis, host1, identities, workloads, terminal, runtime):
    instance = workloads(identities.project('alice'), **INTERACTIVE)
    term = terminal('alice', '--bypass-url', host1 + '/v1', 'attach',
                    instance, rows=27, cols=101)
    term.expect(b'connected to %s' % instance.encode())
    term.wait_for_raw_mode()
    # The client resized the container's terminal to its own (resize).
    term.type(b'busybox stty size; echo attached-$((2 * 3))\r')
    screen = term.expect(b'attached-6')
    assert b'27 101' in screen
    term.close()
    assert 'running' == runtime.status('nova-' + instance).state.value
    # Still the same shell, reachable again.
    again = terminal('alice', '--bypass-url', host1 + '/v1', 'attach',
                     instance)
    again.expect(b'connected to')
    again.wait_for_raw_mode()
    again.type(b'echo again-$((3 * 3))\r')
    again.expect(b'again-9')
    again.close()
    assert_console_closed_cleanly(native_apis['host1'], 'attach', instance)


def test_a_console_url_works_once(host1, identities, workloads):
    instance = workloads(identities.project('alice'), **INTERACTIVE)
    alice = caller(host1, identities, 'alice')
    response = alice.get('/v1/containers/%s/attach' % instance)
    assert 200 == response.status_code, response.text
    assert_documented('attach', response)
    url = response.json()
    query = urlparse.parse_qs(urlparse.urlsplit(url).query)
    assert [instance] == query['uuid']
    ws = connect(url)
    try:
        assert 'binary' == ws.subprotocol
        ws.send_binary(b'echo once-$((4 * 4))\n')
        assert b'once-16' in received_until(ws, b'once-16')
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(url)
    assert 401 == refused.value.status_code
    # A token of another container does not open this one.
    other = workloads(identities.project('alice'), **INTERACTIVE)
    token = urlparse.parse_qs(urlparse.urlsplit(alice.get(
        '/v1/containers/%s/attach' % other).json()).query)['token'][0]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(url.split('?')[0] + '?' + urlparse.urlencode(
            {'token': token, 'uuid': instance}))
    assert 401 == refused.value.status_code


def test_interactive_exec_answers_like_zun_and_ends_with_the_command(
        host1, identities, workloads):
    instance = workloads(identities.project('alice'))
    alice = caller(host1, identities, 'alice')
    response = alice.post('/v1/containers/%s/execute' % instance, params={
        'command': '"sh" "-c" "echo tty-$((5 * 5)); exit 3"',
        'interactive': 'True', 'run': 'False'})
    assert 200 == response.status_code, response.text
    assert_documented('execute', response)
    body = response.json()
    assert (None, None) == (body['output'], body['exit_code'])
    ws = connect(body['proxy_url'])
    try:
        # A terminal: the line ends the terminal's way.
        assert b'tty-25\r\n' in received_until(ws, b'tty-25\r\n')
        assert not ws.recv()  # closed when the command ended
    finally:
        ws.close()


def test_consoles_of_another_project_are_404(host1, identities, workloads,
                                             runtime):
    instance = workloads(identities.project('alice'), **INTERACTIVE)
    bob = caller(host1, identities, 'bob')
    exec_id = '0' * 64
    for method, suffix, query in [
            ('GET', '/attach', {}),
            ('POST', '/resize', {'w': '80', 'h': '24'}),
            ('POST', '/execute', {'command': '"sh"', 'interactive': 'true'}),
            ('POST', '/execute_resize', {'exec_id': exec_id, 'w': '80',
                                         'h': '24'})]:
        assert_zun_error(bob.request(method, '/v1/containers/%s%s'
                                     % (instance, suffix), params=query),
                         404)
    admin = caller(host1, identities, 'admin')
    response = admin.get('/v1/containers/%s/attach' % instance)
    assert 200 == response.status_code, response.text
    # Nothing was started for bob: only the workload's shell runs.
    processes = runtime.top('nova-' + instance).processes
    assert 1 == len(processes), processes


def test_attach_needs_an_open_stdin_and_resize_a_tty(host1, identities,
                                                     workloads):
    instance = workloads(identities.project('alice'))
    alice = caller(host1, identities, 'alice')
    error = assert_zun_error(alice.get('/v1/containers/%s/attach'
                                       % instance), 400)
    assert 'stdin' in error['detail']
    error = assert_zun_error(alice.post(
        '/v1/containers/%s/resize' % instance,
        params={'w': '80', 'h': '24'}), 400)
    assert 'TTY' in error['detail']


@pytest.mark.parametrize('suffix, query', [
    ('/resize', {'w': '0', 'h': '24'}),
    ('/resize', {'w': '80'}),
    ('/execute_resize', {'exec_id': '../x', 'w': '80', 'h': '24'}),
    ('/execute_resize', {'exec_id': '0' * 64, 'w': '80', 'h': 'big'}),
    ('/attach', {'extra': '1'}),
])
def test_bad_console_parameters_are_400(host1, identities, workloads,
                                        suffix, query):
    instance = workloads(identities.project('alice'), **INTERACTIVE)
    alice = caller(host1, identities, 'alice')
    method = 'GET' if suffix == '/attach' else 'POST'
    assert_zun_error(alice.request(method, '/v1/containers/%s%s'
                                   % (instance, suffix), params=query), 400)


@pytest.mark.parametrize('query', [{}, {'token': 'short'},
                                   {'token': 'A' * 43}])
def test_the_console_refuses_bad_tokens_before_the_handshake(host1, query):
    url = host1.replace('http://', 'ws://') + '/console?' + \
        urlparse.urlencode(query)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(url)
    expected = 401 if query.get('token') == 'A' * 43 else 400
    assert expected == refused.value.status_code


def test_the_console_is_a_websocket_only(host1):
    # Plain HTTP on the console path: no handshake, a Zun error.
    response = Caller(host1).get('/console', params={'token': 'A' * 43})
    assert_zun_error(response, 400)


def test_a_console_of_another_host_points_at_that_host(native_apis,
                                                       identities,
                                                       workloads):
    instance = workloads(identities.project('alice'), host='host2')
    alice = caller(native_apis['host1'].url, identities, 'alice')
    response = alice.post('/v1/containers/%s/execute' % instance, params={
        'command': '"hostname"', 'interactive': 'true'})
    assert 200 == response.status_code, response.text
    url = response.json()['proxy_url']
    host2 = urlparse.urlsplit(native_apis['host2'].url)
    assert host2.netloc == urlparse.urlsplit(url).netloc
    ws = connect(url)
    try:
        assert received_until(ws, b'\n').strip()
    finally:
        ws.close()


def test_execute_resize_takes_only_an_exec_of_the_container_named(
        host1, identities, workloads):
    alice = caller(host1, identities, 'alice')
    mine, other = (workloads(identities.project('alice')) for _ in '12')
    exec_id = alice.post('/v1/containers/%s/execute' % mine, params={
        'command': '"sh"', 'interactive': 'true'}).json()['exec_id']
    size = {'exec_id': exec_id, 'w': '80', 'h': '24'}
    assert_zun_error(alice.post('/v1/containers/%s/execute_resize' % other,
                                params=size), 404)
    assert_zun_error(alice.post('/v1/containers/%s/execute_resize' % mine,
                                params=dict(size, exec_id='0' * 64)), 404)


def test_execute_resize_before_the_console_opens_is_409(host1, identities,
                                                        workloads):
    instance = workloads(identities.project('alice'))
    alice = caller(host1, identities, 'alice')
    body = alice.post('/v1/containers/%s/execute' % instance, params={
        'command': '"sh"', 'interactive': 'true'}).json()
    resize = ('/v1/containers/%s/execute_resize' % instance,
              {'exec_id': body['exec_id'], 'w': '80', 'h': '24'})
    error = assert_zun_error(alice.post(resize[0], params=resize[1]), 409)
    assert 'console' in error['detail']
    ws = connect(body['proxy_url'])
    try:
        response = alice.post(resize[0], params=resize[1])
        assert 200 == response.status_code, response.text
    finally:
        ws.close()


def _exec_console_url(url, identities, instance):
    return caller(url, identities, 'alice').post(
        '/v1/containers/%s/execute' % instance,
        params={'command': '"sh"', 'interactive': 'true'}).json()['proxy_url']


def test_a_quiet_console_is_closed(one_console, identities, workloads):
    instance = workloads(identities.project('alice'))
    ws = connect(_exec_console_url(one_console.url, identities, instance))
    try:
        ws.send_binary(b'echo still-$((3 * 3))\n')
        received_until(ws, b'still-9')
        # Then nothing either way: the console closes.
        while ws.recv():
            pass
    finally:
        ws.close()
    assert_console_closed_cleanly(one_console, 'exec', instance)
    assert 'idle' in one_console.log_text()


def test_consoles_of_a_host_are_capped(one_console, identities, workloads):
    instance = workloads(identities.project('alice'))
    first = connect(_exec_console_url(one_console.url, identities,
                                      instance))
    try:
        # Whichever worker process takes it: the cap is the host's.
        for _ in range(3):
            with pytest.raises(websocket.WebSocketBadStatusException) as \
                    refused:
                connect(_exec_console_url(one_console.url, identities,
                                          instance))
            assert 429 == refused.value.status_code
            assert b'max_consoles' in refused.value.resp_body
        first.send_binary(b'echo first-$((2 * 4))\n')
        received_until(first, b'first-8')
    finally:
        first.close()
    assert_console_closed_cleanly(one_console, 'exec', instance)
    again = connect(_exec_console_url(one_console.url, identities,
                                      instance))
    again.close()
