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

"""Helpers and fixtures of the runtime functional tests.

Test modules import the fixtures by name (``from ... import make_container``)
so pytest finds them there.
"""

import os
import select
import struct
import tempfile
import time
import uuid

import pytest

from nova_zun.runtime import exception
from nova_zun.runtime import labels
from nova_zun.runtime import rootfs
from nova_zun.runtime import types
from nova_zun_workshop import images as test_images
from nova_zun_workshop.polling import PATIENCE
from nova_zun_workshop.polling import wait_for
from nova_zun_workshop import registry as registry_tool
from tests import prerequisites


#: The credentials of local_registry.
REGISTRY_USERNAME = 'zun-tester'
REGISTRY_PASSWORD = 'pa55-never-logged-7f3c'


@pytest.fixture(scope='module')
def local_registry():
    """A local registry asking for REGISTRY_USERNAME's credentials.

    It and its directory are removed after the module.
    """
    registry = registry_tool.LocalRegistry(
        tempfile.mkdtemp(prefix='nova-zun-registry-', dir='/tmp'),
        REGISTRY_USERNAME, REGISTRY_PASSWORD)
    try:
        registry.start()
    except Exception as exc:
        registry.stop()
        prerequisites.unavailable('the local registry did not start: %s'
                                  % exc)
    yield registry
    registry.stop()
    assert not os.path.exists(registry.base_dir)


def unique(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:12])


@pytest.fixture
def instance_labels(cleanup_containers):
    """Labels of a fresh instance.

    Its containers and sandboxes are removed after the test, also when it
    fails.
    """
    instance = unique('rt')
    cleanup_containers.append(instance)
    return {labels.INSTANCE: instance, labels.ROLE: labels.ROLE_WORKLOAD}


@pytest.fixture
def make_container(runtime, test_image_refs, instance_labels):
    """Containers labelled with the test's instance, removed after the test.

    ``make(tag='sleeper', start=True, **spec_fields)`` returns the container id
    of a new one.
    """

    def make(tag='sleeper', start=True, labels=None, **fields):
        spec = types.ContainerSpec(
            name=unique('rt'),
            image=fields.pop('image', None) or test_image_refs[tag],
            labels=dict(instance_labels, **(labels or {})), **fields)
        container = runtime.create_container(spec)
        if start:
            runtime.start(container)
        return container
    return make


class _ImageMaker:
    """Makes busybox images with fresh references.

    It removes them, and those handed to ``remove_later``, at the end of the
    test.
    """

    def __init__(self, runtime):
        self.runtime = runtime
        self.to_remove = []
        self._rootfs = None

    def reference(self):
        return '%s:%s' % (test_images.REPOSITORY, unique('img'))

    def __call__(self, command=None, labels=None):
        """Return ``(reference, id)`` of a new image."""
        if self._rootfs is None:
            self._rootfs = rootfs.busybox_rootfs('/bin/busybox',
                                                 test_images.APPLETS)
        reference = self.reference()
        image_id = self.runtime.import_rootfs(
            self._rootfs, reference, command=command, labels=labels)
        self.remove_later(image_id)
        return reference, image_id

    def remove_later(self, image_id):
        self.to_remove.append(image_id)

    def remove_all(self):
        for image_id in self.to_remove:
            try:
                self.runtime.remove_image(image_id, force=True)
            except exception.NotFound:
                pass  # the test removed it itself


@pytest.fixture
def make_image(runtime):
    """An _ImageMaker.

    Request it before any container fixture, so that the containers go first
    and no image in use is left dangling.
    """
    maker = _ImageMaker(runtime)
    yield maker
    maker.remove_all()


def wait_for_state(runtime, container, state):
    """The container's status, once it is in ``state``."""
    def reached():
        status = runtime.status(container)
        return status if status.state == state else None
    return wait_for(reached, '%s to be %s' % (container, state.value))


def wait_for_exec_exit(runtime, exec_id):
    """The exit code of an exec session, once the engine saw it end.

    The stream can end a moment before the engine sees the session end.
    """
    def ended():
        running, code = runtime.exec_status(exec_id)
        return None if running else (code,)
    return wait_for(ended, 'exec %s to end' % exec_id)[0]


def read_until(session, expected):
    """Read a StreamSession until its output holds ``expected``.

    The output is demultiplexed unless the session has a TTY. Returns the
    output so far.
    """
    raw = bytearray()
    deadline = time.monotonic() + PATIENCE
    while True:
        output = raw if session.tty else _payloads(raw)
        if expected in output:
            return bytes(output)
        if not session.sock.pending():
            left = deadline - time.monotonic()
            ready = select.select([session.sock], [], [], max(0, left))[0]
            if not ready:
                raise AssertionError('no %r in %r' % (expected, output))
        chunk = session.sock.recv(65536)
        if not chunk:
            raise AssertionError('stream ended without %r: %r'
                                 % (expected, bytes(output)))
        raw += chunk


def _payloads(raw):
    """The payloads of the complete frames of a multiplexed stream."""
    out = bytearray()
    offset = 0
    while offset + 8 <= len(raw):
        _, size = struct.unpack('>BxxxL', raw[offset:offset + 8])
        out += raw[offset + 8:offset + 8 + size]
        offset += 8 + size
    return out
