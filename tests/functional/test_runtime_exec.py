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

"""exec, exec streams, attach, resize and logs against the private engine."""

import datetime
import re
import socket
import time

import pytest

from nova_zun.runtime import exception
from nova_zun.runtime import types
from nova_zun_workshop.polling import wait_for
from tests.functional.runtime_support import instance_labels  # noqa: F401
from tests.functional.runtime_support import make_container  # noqa: F401
from tests.functional.runtime_support import read_until
from tests.functional.runtime_support import wait_for_exec_exit
from tests.functional.runtime_support import wait_for_state

# A shell that reads commands from a TTY, for the terminal tests.
INTERACTIVE_SHELL = dict(command=['/bin/sh'], tty=True, stdin_open=True)


def test_exec_captures_stdout_stderr_and_the_exit_code(runtime,
                                                       make_container):
    result = runtime.exec(make_container(), [
        '/bin/sh', '-c', 'echo out; echo err >&2; exit 7'])
    assert result.exit_code == 7
    # Two pipes: the engine keeps each stream's order, not their interleaving.
    assert sorted(result.output.splitlines()) == [b'err', b'out']
    assert not result.truncated


def test_exec_runs_with_the_environment_workdir_and_user_given(
        runtime, make_container):
    result = runtime.exec(make_container(),
                          ['/bin/sh', '-c', 'echo $GREETING; pwd; id -u'],
                          environment={'GREETING': 'hello'}, workdir='/tmp',
                          user='nobody')
    assert (result.exit_code, result.output) == (0, b'hello\n/tmp\n65534\n')


def test_exec_of_a_missing_binary_is_an_exit_code_not_an_exception(
        runtime, make_container):
    result = runtime.exec(make_container(), ['/no/such/binary'])
    assert result.exit_code in (126, 127)
    assert b'/no/such/binary' in result.output


def test_exec_drops_output_past_max_output(runtime, make_container):
    result = runtime.exec(make_container(), ['seq', '1', '100000'],
                          max_output=1000)
    expected = b''.join(b'%d\n' % i for i in range(1, 1000))[:1000]
    assert (result.exit_code, result.output) == (0, expected)
    assert result.truncated


def test_exec_that_outlives_its_timeout_raises_operation_timeout(
        runtime, make_container):
    with pytest.raises(exception.OperationTimeout, match='did not finish'):
        runtime.exec(make_container(), ['sleep', '300'], timeout=1)


def test_exec_that_closes_its_output_and_goes_on_still_times_out(
        runtime, make_container):
    # The stream ends at once; the process does not: no exit code to give.
    with pytest.raises(exception.OperationTimeout, match='did not finish'):
        runtime.exec(make_container(),
                     ['/bin/sh', '-c', 'exec >&- 2>&-; sleep 300'],
                     timeout=1)


def test_exec_in_a_stopped_container_is_a_conflict(runtime, make_container):
    container = make_container(start=False)
    with pytest.raises(exception.Conflict, match='is not running'):
        runtime.exec(container, ['true'])


def test_exec_stream_feeds_stdin_and_ends_with_it(runtime, make_container):
    session = runtime.exec_stream(make_container(), ['/bin/cat'],
                                  stdin=True)
    try:
        session.sock.sendall(b'ping\n')
        assert read_until(session, b'ping\n') == b'ping\n'
        # The end of our input is the end of cat's.
        session.sock.shutdown(socket.SHUT_WR)
        assert wait_for_exec_exit(runtime, session.id) == 0
    finally:
        session.close()


def test_exec_stream_tty_follows_exec_resize(runtime, make_container):
    session = runtime.exec_stream(make_container(), ['/bin/sh'], tty=True,
                                  stdin=True)
    try:
        runtime.exec_resize(session.id, height=33, width=101)
        session.sock.sendall(b'busybox stty size; exit 5\n')
        assert b'33 101' in read_until(session, b'33 101')
        assert wait_for_exec_exit(runtime, session.id) == 5
    finally:
        session.close()


def test_a_prepared_exec_starts_once_and_keeps_its_id_for_resize(
        runtime, make_container):
    container = make_container()
    exec_id = runtime.create_exec(container, ['/bin/sh'], tty=True,
                                  stdin=True)
    # Resizable before and after it starts, under the same id.
    session = runtime.start_exec(exec_id)
    try:
        assert (session.id, session.tty) == (exec_id, True)
        runtime.exec_resize(exec_id, height=21, width=77)
        session.sock.sendall(b'busybox stty size; exit 3\n')
        assert b'21 77' in read_until(session, b'21 77')
        assert wait_for_exec_exit(runtime, exec_id) == 3
    finally:
        session.close()
    with pytest.raises(exception.Conflict, match='started before'):
        runtime.start_exec(exec_id)
    assert container == runtime.exec_container(exec_id)


def test_stream_output_removes_the_engine_framing_until_the_end(
        runtime, make_container):
    session = runtime.exec_stream(
        make_container(), ['/bin/sh', '-c', 'seq 1 3000; echo err >&2'])
    try:
        output = b''.join(runtime.stream_output(session))
    finally:
        session.close()
    expected = b''.join(b'%d\n' % i for i in range(1, 3001))
    # The engine reads the two pipes on their own, so the one stderr frame
    # may land between any two stdout frames, even inside a line.
    assert output.count(b'err\n') == 1
    assert output.replace(b'err\n', b'') == expected


def test_stream_output_of_a_tty_session_is_raw_terminal_output(
        runtime, make_container):
    session = runtime.exec_stream(make_container(), ['/bin/echo', 'tty'],
                                  tty=True)
    try:
        assert b''.join(runtime.stream_output(session)) == b'tty\r\n'
    finally:
        session.close()


def test_status_says_whether_the_main_process_has_a_tty_and_stdin(
        runtime, make_container):
    plain = runtime.status(make_container())
    assert (plain.tty, plain.stdin_open) == (False, False)
    interactive = runtime.status(make_container(**INTERACTIVE_SHELL))
    assert (interactive.tty, interactive.stdin_open) == (True, True)


@pytest.mark.parametrize('call', ['exec_status', 'exec_resize',
                                  'exec_container'])
def test_an_unknown_exec_session_is_not_found(runtime, call):
    args = {'exec_status': (), 'exec_resize': (10, 10),
            'exec_container': ()}[call]
    with pytest.raises(exception.NotFound):
        getattr(runtime, call)('0' * 64, *args)


def test_attach_sends_stdin_to_the_main_process_and_returns_its_output(
        runtime, make_container):
    container = make_container(command=['/bin/cat'], stdin_open=True)
    session = runtime.attach(container)
    try:
        assert not session.tty
        session.sock.sendall(b'through attach\n')
        assert read_until(session, b'through attach\n') == (
            b'through attach\n')
    finally:
        session.close()


def test_resize_sets_the_terminal_size_of_the_main_process(
        runtime, make_container):
    container = make_container(**INTERACTIVE_SHELL)
    runtime.resize(container, height=27, width=93)
    session = runtime.attach(container)
    try:
        assert session.tty
        session.sock.sendall(b'busybox stty size\n')
        assert b'27 93' in read_until(session, b'27 93')
    finally:
        session.close()


# Prints 1 to 5 on stdout only (so the order of lines is the engine's to
# keep: stdout and stderr are copied apart), then waits for SIGTERM.
COUNTER = dict(command=['/bin/sh', '-c', "seq 1 5; trap 'exit 0' TERM; "
                        "sleep 2147483647 & wait"])
COUNTED = b'1\n2\n3\n4\n5\n'


def _logs_once_complete(runtime, container, lines):
    """The container's logs, once they hold ``lines`` lines."""
    def complete():
        out = runtime.logs(container)
        return out if out.count(b'\n') == lines else None
    return wait_for(complete, 'the logs of %s' % container)


def test_logs_hold_stdout_and_stderr_and_select_by_stream(
        runtime, make_container):
    container = make_container('printer')
    both = _logs_once_complete(runtime, container, 2)
    assert sorted(both.splitlines()) == [b'hello from nova-zun',
                                         b'to stderr']
    assert runtime.logs(container, stderr=False) == b'hello from nova-zun\n'
    assert runtime.logs(container, stdout=False) == b'to stderr\n'


def test_logs_tail_timestamps_and_since(runtime, make_container):
    container = make_container(**COUNTER)
    assert _logs_once_complete(runtime, container, 5) == COUNTED
    assert runtime.logs(container, tail=2) == b'4\n5\n'
    stamped = runtime.logs(container, timestamps=True).splitlines()
    assert [line.split(b' ', 1)[1] for line in stamped] == (
        COUNTED.splitlines())
    for line in stamped:
        assert re.match(rb'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ', line)
    an_hour_ago = datetime.datetime.now(datetime.timezone.utc) - (
        datetime.timedelta(hours=1))
    assert runtime.logs(container, since=an_hour_ago) == COUNTED
    assert runtime.logs(container, since=int(time.time()) + 3600) == b''


def test_logs_follow_streams_until_the_container_stops(runtime,
                                                       make_container):
    container = make_container(**COUNTER)
    _logs_once_complete(runtime, container, 5)
    chunks = runtime.logs(container, follow=True)
    first = next(chunks)
    runtime.stop(container, timeout=30)
    # The iterator ends by itself; the runtime's read timeout would fail
    # the test rather than hang it.
    assert first + b''.join(chunks) == COUNTED
    wait_for_state(runtime, container, types.ContainerState.EXITED)
