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

"""Reaping what a failed start leaves in containerd: finding a container's
shim among this host's processes, killing its tree, and never touching a
container that runs."""

import os
import subprocess
import time
from unittest import mock

import docker
from docker import errors as docker_errors
import pytest
import requests

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import exception
from nova_zun.runtime import shims

CONTAINER = 'f' * 64
# A stand-in shim: a shell named as containerd's shim, serving CONTAINER,
# with a child (as runsc's sandbox and gofer are).
FAKE_SHIM = 'sleep 60 & wait'


@pytest.mark.parametrize('argv, expected', [
    (['shim', '-id', 'abc', '-address', '/a.sock'], 'abc'),
    (['shim', '-id=abc'], 'abc'),
    (['shim', '-address', '/a.sock'], None),
    (['shim', '-id'], None),
])
def test_option(argv, expected):
    assert shims._option(argv, '-id') == expected


def _start_fake_shim(tmp_path, user=None):
    bundle = tmp_path / 'bundle'
    bundle.mkdir()
    return subprocess.Popen(
        ['containerd-shim-runc-v2', '-c', FAKE_SHIM, 'sh', '-namespace',
         'moby', '-id', CONTAINER, '-address',
         str(tmp_path / 'containerd.sock')],
        executable='/bin/sh', cwd=str(bundle), user=user)


@pytest.fixture
def fake_shim(tmp_path):
    proc = _start_fake_shim(tmp_path)
    deadline = time.monotonic() + 10
    while not shims._descendants(proc.pid):
        assert time.monotonic() < deadline, 'the fake shim did not start'
        time.sleep(0.05)
    children = shims._descendants(proc.pid)
    yield proc, children
    for pid in [proc.pid] + children:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    proc.wait(10)


def test_find_names_the_shim_its_address_and_namespace(fake_shim, tmp_path):
    proc, _ = fake_shim
    assert shims.find(CONTAINER) == [
        (proc.pid, str(tmp_path / 'containerd.sock'), 'moby')]
    assert shims.find('e' * 64) == []


def test_reap_kills_the_shim_and_its_children(fake_shim, tmp_path):
    proc, children = fake_shim
    (tmp_path / CONTAINER).mkdir()  # the engine's stdio directory
    # containerd would remove the bundle once the shim is gone; nothing
    # does here, so reap waits for it until the timeout.
    with mock.patch('shutil.which', autospec=True, return_value=None):
        assert shims.reap(CONTAINER, timeout=0.5) == 1
    proc.wait(5)
    assert shims._mentioning(CONTAINER) == []
    assert [c for c in children if shims._alive(c)] == []
    assert not (tmp_path / CONTAINER).exists()


def test_reap_of_a_container_without_a_shim_does_nothing():
    assert shims.reap('e' * 64) == 0


@pytest.mark.parametrize('container_id', [
    'f' * 63, 'f' * 65, 'F' * 64, 'f' * 64 + '\n', '', None, 1234,
    # What would find every shim, or a process instead of a container.
    '.*', '-1', '1',
])
def test_reap_refuses_anything_but_a_full_container_id(container_id):
    with pytest.raises(ValueError, match='not a full container id'):
        shims.reap(container_id)


def test_a_shim_that_is_not_roots_is_never_signalled(tmp_path):
    # Anyone can name a process after containerd's shim: only root's count.
    proc = _start_fake_shim(tmp_path, user='nobody')
    try:
        assert shims.find(CONTAINER) == []
        assert shims.reap(CONTAINER, timeout=0.1) == 0
        assert proc.poll() is None
    finally:
        for pid in shims._descendants(proc.pid) + [proc.pid]:
            os.kill(pid, 9)
        proc.wait(10)


# -- the backend calls it only for a failed start of a stopped container ----

def _runtime(state, reap_shims):
    runtime = docker_runtime.DockerRuntime('unix:///nonexistent.sock',
                                           reap_shims=reap_shims)
    api = mock.create_autospec(docker.APIClient, instance=True)
    response = requests.Response()
    response.status_code = 400
    api.start.side_effect = docker_errors.APIError(
        'start', response=response,
        explanation='OCI runtime start failed: no such file')
    api.inspect_container.return_value = {'Id': CONTAINER, 'State': state}
    runtime._client = api
    return runtime


@pytest.mark.parametrize('state, reaped', [
    ({'Running': False, 'Paused': False, 'Status': 'created'}, True),
    ({'Running': True, 'Paused': False, 'Status': 'running'}, False),
    ({'Running': True, 'Paused': True, 'Status': 'paused'}, False),
])
def test_a_failed_start_reaps_only_a_container_that_does_not_run(
        state, reaped):
    reap = mock.create_autospec(shims.reap)
    runtime = _runtime(state, reap)
    with pytest.raises(exception.InvalidRequest, match='no such file'):
        runtime.start('nova-x')
    assert reap.call_args_list == ([mock.call(CONTAINER)] if reaped else [])


def test_a_failing_reap_does_not_hide_the_start_error():
    runtime = _runtime({'Running': False}, mock.create_autospec(
        shims.reap, side_effect=OSError('boom')))
    with pytest.raises(exception.InvalidRequest, match='no such file'):
        runtime.start('nova-x')
