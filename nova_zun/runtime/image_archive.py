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

"""Container images as Glance image data, without Nova: the formats, the
commit of a container (frozen while it is committed) and the file-like
view of a saved image that Glance's upload reads.

Shared by the driver's snapshots (:mod:`nova_zun.images`) and the native
API's commit.
"""

from oslo_log import log as logging

from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import types

LOG = logging.getLogger(__name__)

#: A Glance image of a container holds a ``docker save`` (or OCI) archive.
CONTAINER_FORMAT = 'docker'
DISK_FORMAT = 'raw'


class ChunkReader:
    """A file-like view of an iterator of byte chunks, counting what it read.

    It is for Glance's upload, which reads its data with ``read(size)``.
    """

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self.count = 0

    def read(self, size=-1):
        while size is None or size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size is None or size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.count += len(data)
        return data


def commit_frozen(runtime, container, message, pause=True):
    """Commit ``container``'s filesystem to an image with no name.

    Return ``(image id, frozen)``. A running container is frozen (with
    ``pause``) only for the commit, and runs again whatever happens.
    """
    frozen = False
    try:
        if pause and (runtime.status(container).state ==
                      types.ContainerState.RUNNING):
            runtime.pause(container)
            frozen = True
        return runtime.commit(container, message=message), frozen
    finally:
        if frozen:
            try:
                runtime.unpause(container)
            except runtime_exc.ContainerRuntimeError:
                LOG.exception('Could not unpause %s after its commit',
                              container)
