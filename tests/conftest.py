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

"""Fixtures shared by every test: the private engine and the test images.

Tests that need the engine skip when it cannot start on a developer's
machine, and fail when CI=true: CI must never pass by skipping them.
"""

import io
import os
import tarfile

import pytest

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import images as test_images
from tests import prerequisites
from tests import session_dirs


@pytest.fixture(scope='session')
def session_dir():
    """This session's temporary directory, removed at its end.

    The ones that killed sessions left go first (see
    :mod:`tests.session_dirs`).
    """
    session_dirs.remove_dead()
    path = session_dirs.create()
    yield path
    session_dirs.remove(path)


def _engine(base_dir):
    """Start a private dockerd in ``base_dir`` and yield it.

    Afterwards it is stopped and everything in it removed. Leftover containers
    are a test failure.
    """
    prerequisites.require_root('the tests that use the engine run as root')
    engine = engine_tool.PrivateEngine(base_dir)
    try:
        engine.start()
    except (engine_tool.EngineStartError, OSError) as exc:
        engine.stop()
        prerequisites.unavailable('the container engine did not start: %s'
                                  % exc)
    runtime = docker_runtime.DockerRuntime(engine.url)
    yield engine
    engine.start()  # a test that killed it may have failed before its restart
    problems = []
    containers = runtime.list_containers()
    if containers:
        problems.append('containers left behind: %s'
                        % [c.name for c in containers])
    for c in containers:
        runtime.remove(c.id, force=True)
    # The runtime builds the pod sandbox image itself; any other image was
    # made by a test (the test images go with their fixture, before this).
    images = [i.tags or i.id for i in runtime.list_images()
              if i.labels.get(labels.IMAGE_KIND) !=
              labels.IMAGE_KIND_SANDBOX]
    if images:
        problems.append('images left behind: %s' % images)
    engine.stop()
    mounts = engine.mounts()
    if mounts:
        problems.append('mounts left below %s after the engine stopped: %s'
                        % (base_dir, mounts))
    processes = engine.processes()
    if processes:
        problems.append('processes of the engine left running after it '
                        'stopped: %s' % processes)
    assert not problems, '; '.join(problems)


@pytest.fixture(scope='session')
def private_engine(session_dir):
    """A dockerd of the suite's own, removed with its contents at the end."""
    yield from _engine(os.path.join(session_dir, 'engine'))


@pytest.fixture(scope='module')
def crash_engine(session_dir):
    """A dockerd of a module's own, for tests that kill and restart it.

    The suite's engine never goes down under other tests.
    """
    yield from _engine(os.path.join(session_dir, 'crash-engine'))


@pytest.fixture(scope='session')
def volume_dirs(session_dir):
    """The driver's volume mount directory and loop devices' backing files.

    They are this session's. Mounts left below it and loop devices left on its
    files fail the run (and are removed).
    """
    from nova_zun_workshop.functional import volume_support
    dirs = volume_support.VolumeDirs.create(session_dir)
    yield dirs
    problems = dirs.leftovers_removed()
    assert not problems, '; '.join(problems)


@pytest.fixture(scope='session')
def runtime(private_engine):
    return docker_runtime.DockerRuntime(private_engine.url, timeout=60)


@pytest.fixture(scope='session')
def test_image_refs(runtime):
    """``{tag: reference}`` of the locally built busybox test images."""
    refs = test_images.build(runtime)
    try:
        _refuse_an_exec_that_escapes(runtime, refs['sleeper'])
        yield refs
    finally:
        test_images.remove(runtime)


def _refuse_an_exec_that_escapes(runtime, image):
    """Stop the run if exec reaches the machine's root, not the container's.

    That is the case with dockerd inside a chroot: setns() puts exec'd
    processes at the mount namespace's root. The check runs before any test
    runs a command through exec: tests change files inside their containers;
    there they would change the machine's.
    """
    container = runtime.create_container(types.ContainerSpec(
        name='nova-zun-exec-check', image=image, labels={}))
    try:
        runtime.start(container)
        marker = io.BytesIO()
        with tarfile.open(fileobj=marker, mode='w') as tar:
            info = tarfile.TarInfo('nova-zun-exec-check')
            info.size = 2
            tar.addfile(info, io.BytesIO(b'ok'))
        runtime.put_archive(container, '/tmp', marker.getvalue())
        seen = runtime.exec(container, ['cat', '/tmp/nova-zun-exec-check'])
    finally:
        runtime.remove(container, force=True)
    if seen.output != b'ok':
        pytest.fail('docker exec does not run inside the container here '
                    '(it saw %r instead of the file put into the container): '
                    'is dockerd running in a chroot? Not running tests that '
                    'would change this machine\'s files.' % seen.output,
                    pytrace=False)


@pytest.fixture
def cleanup_containers(runtime):
    """Remove, after the test, every container of the instances it registers.

    A container is an instance's when labelled with its id; they go also when
    the test fails.
    """
    instance_ids = []
    yield instance_ids
    for instance_id in instance_ids:
        for c in runtime.list_containers({labels.INSTANCE: instance_id}):
            runtime.remove(c.id, force=True)
