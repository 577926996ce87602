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

"""Layered images in Glance: each layer an image of its own, stored once
per owner, and an image a small manifest that names its layers.

A layer image (container_format ``zun-layer``) holds one uncompressed layer
tar; Glance's own hash of its data (``os_hash_value``, with Glance's
``hashing_algorithm = sha256``) is the layer's digest. A manifest image
(container_format ``docker``, property ``zun_image_format``) holds a JSON
document: the image's config and its layers (digest, size, Glance id), bottom
first. doc/images.rst says why this is safe to share.

Everything read from Glance is a tenant's: :meth:`Manifest.parse` checks the
document, :func:`check_layer` checks a layer image against it, and
:class:`LayeredLoader` reads every layer with the booting user's token,
verifies each byte it downloads, and downloads only what the engine lacks.
"""

import contextlib
import dataclasses
import hashlib
import json
import re

from nova import exception
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import uuidutils

from nova_zun.runtime import archive_stream
from nova_zun.runtime import image_archive
from nova_zun.runtime import layered_archive

LOG = logging.getLogger(__name__)

LAYER_FORMAT = 'zun-layer'
MANIFEST_FORMAT = 'docker'
DISK_FORMAT = 'raw'
#: The property that makes a ``docker`` image a manifest, and its value.
FORMAT_PROPERTY = 'zun_image_format'
FORMAT_VERSION = 'layers-v1'
HASH_ALGORITHM = 'sha256'
#: A manifest of the most layers the engine stacks is about 30 KiB.
MAX_MANIFEST = 1024 * 1024
#: Docker's overlay2 stacks at most 125 layers.
MAX_LAYERS = 125
_DIGEST = re.compile(r'^sha256:[0-9a-f]{64}$')


class InvalidManifest(ValueError):
    """A manifest that is no layered image."""


@dataclasses.dataclass(frozen=True)
class Layer:
    digest: str
    size: int
    image: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """An image: its config (bytes, as the engine hashes them) and layers."""

    config: bytes
    layers: tuple

    def to_json(self):
        return json.dumps({
            'format': FORMAT_VERSION,
            'config': self.config.decode(),
            'layers': [dataclasses.asdict(layer) for layer in self.layers],
        }, indent=1).encode()

    @classmethod
    def parse(cls, data):
        """A manifest from its JSON; InvalidManifest says what is wrong."""
        if len(data) > MAX_MANIFEST:
            raise InvalidManifest('the manifest is over %d bytes'
                                  % MAX_MANIFEST)
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise InvalidManifest('the manifest is not JSON: %s' % exc)
        if not isinstance(doc, dict) or doc.get('format') != FORMAT_VERSION:
            raise InvalidManifest('the manifest is not of format %s'
                                  % FORMAT_VERSION)
        config, layers = doc.get('config'), doc.get('layers')
        if not isinstance(config, str):
            raise InvalidManifest('the manifest has no config')
        if not isinstance(layers, list) or not 0 < len(layers) <= MAX_LAYERS:
            raise InvalidManifest('the manifest needs 1 to %d layers'
                                  % MAX_LAYERS)
        found = tuple(_layer(item) for item in layers)
        config_bytes = config.encode()
        if diff_ids(config_bytes) != [layer.digest for layer in found]:
            raise InvalidManifest('the layers of the manifest are not those '
                                  'of its config')
        return cls(config_bytes, found)


def _layer(item):
    if not isinstance(item, dict):
        raise InvalidManifest('a layer of the manifest is not an object')
    digest, size, image = (item.get(k) for k in ('digest', 'size', 'image'))
    if not (isinstance(digest, str) and _DIGEST.match(digest)):
        raise InvalidManifest('layer digest %r is not sha256:<64 hex>'
                              % (digest,))
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidManifest('layer %s has a bad size %r' % (digest, size))
    if not (isinstance(image, str) and uuidutils.is_uuid_like(image)):
        raise InvalidManifest('layer %s names no Glance image' % digest)
    return Layer(digest, size, image)


def diff_ids(config):
    """The layer digests an image config (bytes) lists, bottom first."""
    try:
        doc = json.loads(config)
        rootfs = doc['rootfs']
        found = rootfs['diff_ids']
    except (ValueError, RecursionError, TypeError, KeyError):
        raise InvalidManifest('the config lists no layers (rootfs.diff_ids)')
    if rootfs.get('type') != 'layers' or not isinstance(found, list):
        raise InvalidManifest('the config lists no layers (rootfs.diff_ids)')
    return found


def is_manifest(image):
    """Whether a Glance image (a dict as Nova shows it) is a manifest."""
    return (image.get('properties') or {}).get(FORMAT_PROPERTY) == \
        FORMAT_VERSION


def glance_digest(image):
    """The digest Glance computed of a layer image's data, or None."""
    if image.get('os_hash_algo') != HASH_ALGORITHM or \
            not image.get('os_hash_value'):
        return None
    return '%s:%s' % (HASH_ALGORITHM, image['os_hash_value'])


def check_layer(layer, image):
    """Refuse a layer image (a Glance dict) that is not ``layer``.

    Its digest is trusted only as Glance computed it, so no image can pass
    for another's layer by its name or properties.
    """
    if image.get('container_format') != LAYER_FORMAT or \
            image.get('status') != 'active':
        raise InvalidManifest('image %s is no active %s image'
                              % (layer.image, LAYER_FORMAT))
    computed = glance_digest(image)
    if computed is None:
        raise InvalidManifest(
            'Glance computed no %s digest of layer image %s (it hashes '
            'with %s): Glance needs hashing_algorithm = %s'
            % (HASH_ALGORITHM, layer.image, image.get('os_hash_algo'),
               HASH_ALGORITHM))
    if computed != layer.digest or image.get('size') != layer.size:
        raise InvalidManifest(
            'Glance computed %s (%s bytes) for layer image %s; the manifest '
            'says %s (%d bytes)' % (computed, image.get('size'), layer.image,
                                    layer.digest, layer.size))


class _Download:
    """A layer's data from Glance, verified while it streams.

    The first error (Glance's, or data that is not the layer) is kept and
    ends the stream.
    """

    def __init__(self, image_api, context, layer, errors):
        self._image_api = image_api
        self._context = context
        self.layer = layer
        self._errors = errors
        self.count = 0

    def __iter__(self):
        # The last chunk goes on only once the whole layer is verified, so
        # a layer that is not the one named never completes in the archive.
        digest = hashlib.sha256()
        held = b''
        try:
            for chunk in self._image_api.download(self._context,
                                                  self.layer.image):
                digest.update(chunk)
                self.count += len(chunk)
                if self.count > self.layer.size:
                    break
                if held:
                    yield held
                held = chunk
        except exception.NovaException as exc:
            self._errors.append(exc)
            return
        except Exception as exc:
            self._errors.append(InvalidManifest(
                'layer image %s could not be downloaded: %s'
                % (self.layer.image, exc)))
            return
        found = 'sha256:' + digest.hexdigest()
        if found != self.layer.digest or self.count != self.layer.size:
            self._errors.append(InvalidManifest(
                'layer image %s sent data of digest %s (%d bytes), not %s'
                % (self.layer.image, found, self.count,
                   self.layer.digest)))
            return
        yield held


class LayeredLoader:
    """Loads layered Glance images: only the layers the engine lacks.

    Everything is read with the caller's ``context`` (the booting user's
    token), so Glance decides which layers the user may read.
    """

    source = 'Glance (layers)'

    def __init__(self, context, runtime, image_api):
        self._context = context
        self._runtime = runtime
        self._image_api = image_api

    def _fault(self, image_id, reason):
        return exception.ImageUnacceptable(image_id=image_id, reason=reason)

    def manifest(self, image_id):
        """The image's Manifest, every layer image checked as the caller."""
        data = b''
        for chunk in self._image_api.download(self._context, image_id):
            data += chunk
            if len(data) > MAX_MANIFEST:
                break
        try:
            manifest = Manifest.parse(data)
        except InvalidManifest as exc:
            raise self._fault(image_id, 'not a layered image manifest: %s'
                              % exc)
        for index, layer in enumerate(manifest.layers):
            try:
                check_layer(layer, self._image_api.get(self._context,
                                                       layer.image))
            except (exception.ImageNotFound,
                    exception.ImageNotAuthorized) as exc:
                raise self._fault(image_id, (
                    'layer %d (%s, image %s) cannot be read with your '
                    'credentials (its owner can share it: nova-zun-image '
                    'share)') % (index, layer.digest, layer.image)) from exc
            except InvalidManifest as exc:
                raise self._fault(image_id, 'layer %d: %s' % (index, exc))
        return manifest

    @contextlib.contextmanager
    def _missing(self, digests):
        """The index of the first layer the engine lacks, held for loading.

        Boots that lack a layer take turns on it: the first downloads it,
        the others find it held.
        """
        chains = layered_archive.chain_ids(digests)
        present = self._runtime.layers_present(digests)
        with contextlib.ExitStack() as locks:
            for chain in sorted(chains[present:]):
                locks.enter_context(lockutils.lock('nova-zun-layer-%s'
                                                   % chain))
            yield self._runtime.layers_present(digests)

    def load(self, image_id):
        """Load the image (unnamed).

        Return the engine's ImageTransfer and the bytes of layers Glance sent.
        """
        manifest = self.manifest(image_id)
        digests = [layer.digest for layer in manifest.layers]
        errors = []
        with self._missing(digests) as present:
            downloads = [_Download(self._image_api, self._context, layer,
                                   errors)
                         for layer in manifest.layers[present:]]
            stream = layered_archive.archive(
                manifest.config, digests,
                [(d.layer.digest, d.layer.size, d) for d in downloads])
            try:
                transfer = self._runtime.load_image_report(
                    stream, absent_layers=digests[:present])
            except Exception:
                if errors:
                    raise self._download_error(image_id, errors[0])
                raise
        downloaded = sum(d.count for d in downloads)
        LOG.info('Image %(id)s: downloaded %(bytes)d bytes of layers from '
                 'Glance (%(new)d of %(all)d layers; %(present)d in the '
                 'engine already)',
                 {'id': image_id, 'bytes': downloaded,
                  'new': len(downloads), 'all': len(digests),
                  'present': present})
        return transfer, downloaded

    def _download_error(self, image_id, exc):
        if isinstance(exc, InvalidManifest):
            return self._fault(image_id, str(exc))
        return exc


# -- snapshots ---------------------------------------------------------------

def _saved_members(runtime, image):
    """Iterate ``(reader, info, name)`` over the members of an image's save.

    Only regular files; what the caller leaves unread is skipped.
    """
    reader = archive_stream.TarReader(image_archive.ChunkReader(
        runtime.save_image(image)))
    while True:
        info = reader.next()
        if info is None:
            return
        if info.isfile():
            yield reader, info, archive_stream.normalized(info.name)


def _saved_image(runtime, image):
    """``(config, [(diff id, member name, size)])`` of an engine image."""
    digests, controls = {}, {}
    for reader, info, name in _saved_members(runtime, image):
        if '/' not in name and name.endswith('.json'):
            data = reader.small_data(info, name)
            controls[name] = data
            continue
        digest = hashlib.sha256()
        for piece in reader.data(info):
            digest.update(piece)
        digests[name] = 'sha256:' + digest.hexdigest()
    [entry] = json.loads(controls[archive_stream.MANIFEST])
    config = controls[archive_stream.normalized(entry['Config'])]
    paths = [archive_stream.normalized(p) for p in entry['Layers']]
    found = diff_ids(config)
    if [digests.get(p) for p in paths] != found:
        raise InvalidManifest('the engine saved layers other than those of '
                              'the image\'s config')
    return config, list(zip(found, paths))


class SnapshotUploader:
    """Uploads a snapshot as a layered image: only the layers it adds.

    Layers of the image the server booted are named again, never
    uploaded; the others become layer images of the caller's project.
    """

    def __init__(self, context, runtime, image_api):
        self._context = context
        self._runtime = runtime
        self._image_api = image_api
        self.layers = 0
        self.uploaded = 0
        self.bytes = 0

    def _upload(self, digest, name, runtime_image):
        for reader, info, member in _saved_members(self._runtime,
                                                   runtime_image):
            if member != name:
                continue
            data = image_archive.ChunkReader(reader.data(info))
            image = self._image_api.create(self._context, {
                'name': digest, 'container_format': LAYER_FORMAT,
                'disk_format': DISK_FORMAT}, data=data)
            layer = Layer(digest, info.size, image['id'])
            try:
                check_layer(layer, self._image_api.get(self._context,
                                                       image['id']))
            except InvalidManifest:
                self._image_api.delete(self._context, image['id'])
                raise
            self.uploaded += 1
            self.bytes += data.count
            return layer
        raise InvalidManifest('the engine saved no layer %s' % digest)

    def manifest(self, runtime_image, base):
        """The manifest (JSON bytes) of ``runtime_image``, layers uploaded.

        ``base`` is the Manifest of the image the server booted, or None.
        """
        config, stack = _saved_image(self._runtime, runtime_image)
        self.layers = len(stack)
        known = {layer.digest: layer for layer in base.layers} if base \
            else {}
        found = tuple(known.get(digest) or
                      self._upload(digest, name, runtime_image)
                      for digest, name in stack)
        return Manifest(config, found).to_json()
