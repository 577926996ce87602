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

"""Session directories: a session's own is named after its pid; the next
session removes those of exited sessions that nothing uses, and never
one of a running session."""

import os
import subprocess
import sys

import pytest

from tests import session_dirs


def _exited_pid():
    child = subprocess.Popen([sys.executable, '-c', 'pass'])
    child.wait()
    return child.pid


def _session_dir(parent, pid):
    path = parent / ('%s%d-x' % (session_dirs.PREFIX, pid))
    (path / 'volumes' / 'backing').mkdir(parents=True)
    return path


def test_a_session_dir_names_its_owner(tmp_path):
    path = session_dirs.create(str(tmp_path))
    assert session_dirs.owner(path) == os.getpid()
    session_dirs.remove(path)
    assert not os.path.exists(path)


def test_the_dirs_of_exited_sessions_go_and_a_running_ones_stays(
        tmp_path):
    exited = _session_dir(tmp_path, _exited_pid())
    running = _session_dir(tmp_path, os.getpid())
    unrelated = tmp_path / 'nova-zun-volumes-abc'
    unrelated.mkdir()
    session_dirs.remove_dead(str(tmp_path))
    assert not exited.exists()
    assert running.exists() and unrelated.exists()


def test_an_exited_sessions_dir_a_process_still_names_stays(tmp_path):
    exited = _session_dir(tmp_path, _exited_pid())
    # As a private dockerd, which outlives the session that started it.
    user = subprocess.Popen([sys.executable, '-c',
                             'import time; time.sleep(60)',
                             str(exited / 'engine' / 'docker.sock')])
    try:
        with pytest.warns(UserWarning, match='still in use'):
            session_dirs.remove_dead(str(tmp_path))
        assert exited.exists()
    finally:
        user.kill()
        user.wait()
    session_dirs.remove_dead(str(tmp_path))
    assert not exited.exists()
