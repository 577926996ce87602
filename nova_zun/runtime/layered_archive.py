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

"""An image archive made as a stream from an image's config and layers.

The engine's layer store is content-addressed by chain: a layer is the
same layer only on the same layers below it (the OCI image spec's
ChainID). Its image load skips every layer whose chain it holds without
reading that layer's file (Docker 20.10, measured: an archive without
them loads), so the archive made here holds only the layers the engine
lacks.
"""

import hashlib
import json
import tarfile

from nova_zun.runtime import archive_stream

_BLOCK = tarfile.BLOCKSIZE


def chain_ids(diff_ids):
    """The ChainIDs of a stack of layers (diff ids, bottom first)."""
    chains = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
            continue
        chains.append('sha256:' + hashlib.sha256(
            ('%s %s' % (chains[-1], diff_id)).encode()).hexdigest())
    return chains


def _member(name, size):
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    return info.tobuf(tarfile.PAX_FORMAT)


def _small(name, data):
    padding = tarfile.NUL * (-len(data) % _BLOCK)
    return _member(name, len(data)) + data + padding


def _layer_path(diff_id):
    return '%s/layer.tar' % diff_id.partition(':')[2]


def archive(config, diff_ids, layers):
    """Yield a ``docker save`` archive of one image, in chunks.

    ``config`` is the image's config (bytes, its id is their digest),
    ``diff_ids`` its layers, bottom first; ``layers`` gives ``(diff id,
    size, chunks)`` for each layer the archive holds, in order. The others
    are left out: the engine must hold them. Chunks that add up to more or
    less than ``size`` end the archive early (the engine loads nothing).
    """
    for diff_id, size, chunks in layers:
        yield _member(_layer_path(diff_id), size)
        sent = 0
        for chunk in chunks:
            sent += len(chunk)
            if sent > size:
                return
            yield chunk
        if sent != size:
            return
        yield tarfile.NUL * (-size % _BLOCK)
    config_name = '%s.json' % hashlib.sha256(config).hexdigest()
    yield _small(config_name, config)
    manifest = [{'Config': config_name,
                 'Layers': [_layer_path(d) for d in diff_ids]}]
    yield _small(archive_stream.MANIFEST, json.dumps(manifest).encode())
    yield tarfile.NUL * (2 * _BLOCK)
