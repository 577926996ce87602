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

"""Layered images in Glance, without Nova: the format, and storing an
engine image's layers through whatever speaks Glance for the caller.

A layer image (container_format ``zun-layer``) holds one uncompressed layer
tar; Glance's own hash of its data (``os_hash_value``, with Glance's
``hashing_algorithm = sha256``) is the layer's digest. A manifest image
(container_format ``docker``, property ``zun_image_format``) holds a JSON
document: the image's config and its layers (digest, size, Glance id), bottom
first. doc/images.rst says why this is safe to share.

Everything read from Glance is a tenant's: :meth:`Manifest.parse` checks the
document and :func:`check_layer` checks a layer image against it.
:class:`LayerUploader` stores layers as the caller, each once, through an
:class:`ImageStore`: Nova's image API with the user's context for the driver
(:mod:`nova_zun.layers`), glanceclient with the caller's token for the
native API and ``nova-zun-image``.
"""

import abc
import dataclasses
import hashlib
import json
import re

from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import uuidutils

from nova_zun.runtime import archive_stream
from nova_zun.runtime import image_archive

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
    if not (isinstance(digest, str) and is_digest(digest)):
        raise InvalidManifest('layer digest %r is not sha256:<64 hex>'
                              % (digest,))
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidManifest('layer %s has a bad size %r' % (digest, size))
    if not (isinstance(image, str) and uuidutils.is_uuid_like(image)):
        raise InvalidManifest('layer %s names no Glance image' % digest)
    return Layer(digest, size, image)


def is_digest(text):
    """Whether ``text`` is a digest as layers have them (sha256:<hex>)."""
    return bool(_DIGEST.match(text))


def digest_of(data):
    return '%s:%s' % (HASH_ALGORITHM, hashlib.sha256(data).hexdigest())


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


# -- names in the engine -----------------------------------------------------

#: A Glance image's only name in the engine is ``glance/<image id>:latest``.
REPOSITORY = 'glance'
TAG = 'latest'


def image_id_of(reference):
    """The Glance id an engine name ``glance/<id>:latest`` names, or None."""
    prefix, suffix = REPOSITORY + '/', ':' + TAG
    if reference and reference.startswith(prefix) and \
            reference.endswith(suffix):
        return reference[len(prefix):-len(suffix)]
    return None


# -- storing layers ----------------------------------------------------------

class ImageStore(abc.ABC):
    """Glance as one caller sees it; images are dicts of Glance's fields.

    ``project_id`` is the caller's project. Errors are the implementation's
    own.
    """

    project_id = None

    @abc.abstractmethod
    def get(self, image_id):
        """The image (``container_format``, ``status``, ``size``, hash)."""

    @abc.abstractmethod
    def data(self, image_id):
        """The image's data, an iterator of byte chunks."""

    @abc.abstractmethod
    def own_layers(self, digest):
        """The caller's project's active layer images of ``digest``.

        Never another project's: it could go away, and a digest alone never
        makes a layer usable.
        """

    @abc.abstractmethod
    def create_layer(self, digest, data, size, visibility):
        """Make a layer image named ``digest`` of the caller's project.

        ``data`` is file-like, of ``size`` bytes (None: unknown). Return the
        image's id. An image whose upload fails is not left behind.
        """

    @abc.abstractmethod
    def delete(self, image_id):
        pass


class ClientImageStore(ImageStore):
    """Glance through python-glanceclient (v2), as its session's caller."""

    def __init__(self, client, project_id):
        self.images = client.images
        self.project_id = project_id

    def get(self, image_id):
        return self.images.get(image_id)

    def data(self, image_id):
        return self.images.data(image_id)

    def own_layers(self, digest):
        return self.images.list(filters={
            'owner': self.project_id, 'status': 'active',
            'container_format': LAYER_FORMAT,
            'os_hash_value': digest.partition(':')[2]})

    def create_layer(self, digest, data, size, visibility):
        return self.create(data, size, name=digest,
                           container_format=LAYER_FORMAT,
                           visibility=visibility)

    def create(self, data, size, **fields):
        """Make an image of ``fields`` holding ``data``; return its id.

        An image whose upload fails is deleted again.
        """
        image = self.images.create(disk_format=DISK_FORMAT, **fields)
        try:
            self.images.upload(image['id'], data, image_size=size)
        except Exception as exc:
            with excutils.save_and_reraise_exception():
                LOG.warning('Upload of image %s failed, deleting it: %s',
                            image['id'], exc)
                try:
                    self.images.delete(image['id'])
                except Exception:
                    LOG.exception('Could not delete the image %s',
                                  image['id'])
        return image['id']

    def delete(self, image_id):
        self.images.delete(image_id)


class HashingReader:
    """File-like data for Glance's upload, hashed and counted as read."""

    def __init__(self, fileobj):
        self._file = fileobj
        self.digest = hashlib.sha256()
        self.count = 0

    def read(self, size=-1):
        data = self._file.read(size)
        self.digest.update(data)
        self.count += len(data)
        return data


def read_manifest(store, image_id):
    """The Manifest a manifest image holds (read up to its limit)."""
    data = b''
    for chunk in store.data(image_id):
        data += chunk
        if len(data) > MAX_MANIFEST:
            break
    return Manifest.parse(data)


def checked_manifest(store, image_id):
    """The Manifest of ``image_id``, every layer image checked as the caller.

    Raises InvalidManifest, or the store's error for an image the caller
    cannot read.
    """
    manifest = read_manifest(store, image_id)
    for layer in manifest.layers:
        check_layer(layer, store.get(layer.image))
    return manifest


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


def saved_image(runtime, image):
    """``(config, [(diff id, member name, size)])`` of an engine image.

    The engine's save is read as any archive: bounded control files, and
    every layer hashed against the config's diff ids.
    """
    found, controls = {}, {}
    for reader, info, name in _saved_members(runtime, image):
        if '/' not in name and name.endswith('.json'):
            controls[name] = reader.small_data(info, name)
            continue
        digest = hashlib.sha256()
        for piece in reader.data(info):
            digest.update(piece)
        found[name] = ('sha256:' + digest.hexdigest(), info.size)
    try:
        [entry] = json.loads(controls[archive_stream.MANIFEST])
        config = controls[archive_stream.normalized(entry['Config'])]
        paths = [archive_stream.normalized(p) for p in entry['Layers']]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidManifest('the engine saved no image: %s' % exc)
    digests = diff_ids(config)
    if [found.get(p, (None,))[0] for p in paths] != digests:
        raise InvalidManifest('the engine saved layers other than those of '
                              'the image\'s config')
    return config, [(digest, path, found[path][1])
                    for digest, path in zip(digests, paths)]


def _is_layer(layer, image):
    try:
        check_layer(layer, image)
    except InvalidManifest:
        return False
    return True


class LayerUploader:
    """Stores layers as layer images of the caller's project, each once.

    A layer the base image names is named again, one the project holds is
    reused, any other is uploaded, hashed while it streams, and deleted
    again if it is not the layer it should be. ``say`` gets a line per
    layer; ``watch(fileobj, size)`` may wrap the data read for an upload
    (a progress bar).
    """

    def __init__(self, store, visibility='private', base=None, say=None,
                 watch=None):
        self._store = store
        self._visibility = visibility
        self._known = {layer.digest: layer for layer in base.layers} \
            if base else {}
        self._say = say or (lambda text: None)
        self._watch = watch or (lambda fileobj, size: fileobj)
        self.uploaded = 0
        self.bytes = 0

    def held(self, digest, size, what):
        """The Layer of ``digest`` Glance holds for the caller, or None.

        ``size`` None: any size.
        """
        layer = self._known.get(digest)
        if layer is None:
            for image in self._store.own_layers(digest):
                candidate = Layer(digest, image['size'], image['id'])
                # Checked here too: the filters are Glance's to apply.
                if image.get('owner') == self._store.project_id and \
                        size in (None, candidate.size) and \
                        _is_layer(candidate, image):
                    layer = candidate
                    break
        if layer is not None:
            self._say('%s: already in Glance as image %s'
                      % (what, layer.image))
        return layer

    def upload(self, digest, size, data, what):
        """Upload ``data`` as the layer of ``digest``; return its Layer.

        ``data`` is file-like, of ``size`` bytes (None: unknown).
        """
        reader = HashingReader(self._watch(data, size))
        image_id = self._store.create_layer(digest, reader, size,
                                            self._visibility)
        try:
            found = 'sha256:' + reader.digest.hexdigest()
            if found != digest or size not in (None, reader.count):
                raise InvalidManifest(
                    'the layer %s holds %d bytes of digest %s'
                    % (digest, reader.count, found))
            layer = Layer(digest, reader.count, image_id)
            check_layer(layer, self._store.get(image_id))
        except Exception:
            self._store.delete(image_id)
            raise
        self.uploaded += 1
        self.bytes += reader.count
        self._say('%s: uploaded as image %s' % (what, image_id))
        return layer

    def engine_image(self, runtime, image):
        """The Manifest of engine image ``image``, its layers stored.

        The engine saves it once to hash its layers and, if Glance lacks
        any, once more to upload them: nothing goes to disk.
        """
        config, stack = saved_image(runtime, image)
        whats = ['layer %d/%d %s (%d bytes)' % (index, len(stack), digest,
                                                size)
                 for index, (digest, _, size) in enumerate(stack, 1)]
        found = [self.held(digest, size, what)
                 for (digest, _, size), what in zip(stack, whats)]
        missing = {name: index for index, (_, name, _) in enumerate(stack)
                   if found[index] is None}
        if missing:
            for reader, info, name in _saved_members(runtime, image):
                index = missing.pop(name, None)
                if index is not None:
                    found[index] = self.upload(
                        stack[index][0], info.size,
                        image_archive.ChunkReader(reader.data(info)),
                        whats[index])
        if missing:
            raise InvalidManifest('the engine saved no layer %s'
                                  % stack[min(missing.values())][0])
        return Manifest(config, tuple(found))
