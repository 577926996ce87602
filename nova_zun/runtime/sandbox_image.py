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

"""The pod sandbox image, made so that its id says what it is.

The image is a busybox ``sleep`` built from the host's static binary
(:mod:`nova_zun.runtime.rootfs`), as a ``docker save`` archive written here
with a fixed configuration. Its id, the digest of that configuration (which
holds the digest of the root filesystem), is known before the engine loads
it, so the runtime finds and runs it by that id alone: a name or a label
proves nothing (any tenant's image can carry them), an image with that id
has that content.
"""

import datetime
import hashlib
import io
import json
import os
import platform
import tarfile

from nova_zun.runtime import exception
from nova_zun.runtime import labels
from nova_zun.runtime import rootfs

COMMAND = ['/bin/busybox', 'sleep', 'infinity']
APPLETS = ('sh', 'sleep')
# The machine's name for its architecture, and an image configuration's.
_ARCHITECTURES = {'x86_64': 'amd64', 'aarch64': 'arm64', 'armv7l': 'arm',
                  'i686': '386', 'i386': '386'}


def _digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def build(binary):
    """Return ``(image id, archive bytes)`` of the sandbox image of ``binary``.

    The same binary always gives the same id. Raises ConfigurationError when
    the binary cannot be used.
    """
    try:
        layer = rootfs.busybox_rootfs(binary, APPLETS)
        mtime = os.stat(os.path.realpath(binary)).st_mtime
    except (OSError, ValueError) as exc:
        raise exception.ConfigurationError(
            'the pod sandbox binary %s ([zun] sandbox_binary) cannot be '
            'used: %s' % (binary, exc))
    machine = platform.machine()
    config = json.dumps({
        'architecture': _ARCHITECTURES.get(machine, machine),
        'os': 'linux',
        # The binary's time, as in the layer: the same for the same binary.
        'created': datetime.datetime.fromtimestamp(
            int(mtime), datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'config': {'Cmd': COMMAND,
                   'Labels': {labels.IMAGE_KIND: labels.IMAGE_KIND_SANDBOX}},
        'rootfs': {'type': 'layers', 'diff_ids': [_digest(layer)]},
    }, sort_keys=True).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode='w') as tar:
        _add(tar, 'config.json', config)
        _add(tar, 'layer.tar', layer)
        _add(tar, 'manifest.json', json.dumps(
            [{'Config': 'config.json', 'Layers': ['layer.tar']}]).encode())
    return _digest(config), archive.getvalue()
