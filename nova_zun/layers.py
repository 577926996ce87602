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

"""Layered images in Glance, through Nova's image API with the user's
context: booting them and storing snapshots of them. The format is
:mod:`nova_zun.glance_layers`'s.

:class:`LayeredLoader` reads every layer with the booting user's token,
verifies each byte it downloads, and downloads only what the engine lacks.
"""

import contextlib
import hashlib

from nova import exception
from oslo_concurrency import lockutils
from oslo_log import log as logging

from nova_zun import glance_layers
from nova_zun.runtime import layered_archive

LOG = logging.getLogger(__name__)


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
            self._errors.append(glance_layers.InvalidManifest(
                'layer image %s could not be downloaded: %s'
                % (self.layer.image, exc)))
            return
        found = 'sha256:' + digest.hexdigest()
        if found != self.layer.digest or self.count != self.layer.size:
            self._errors.append(glance_layers.InvalidManifest(
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
        store = NovaImageStore(self._context, self._image_api)
        try:
            manifest = glance_layers.read_manifest(store, image_id)
        except glance_layers.InvalidManifest as exc:
            raise self._fault(image_id, 'not a layered image manifest: %s'
                              % exc)
        for index, layer in enumerate(manifest.layers):
            try:
                glance_layers.check_layer(layer, store.get(layer.image))
            except (exception.ImageNotFound,
                    exception.ImageNotAuthorized) as exc:
                raise self._fault(image_id, (
                    'layer %d (%s, image %s) cannot be read with your '
                    'credentials (its owner can share it: nova-zun-image '
                    'share)') % (index, layer.digest, layer.image)) from exc
            except glance_layers.InvalidManifest as exc:
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
        if isinstance(exc, glance_layers.InvalidManifest):
            return self._fault(image_id, str(exc))
        return exc


class NovaImageStore(glance_layers.ImageStore):
    """Glance through Nova's image API, as the user of ``context``."""

    def __init__(self, context, image_api):
        self._context = context
        self._image_api = image_api
        self.project_id = context.project_id

    def get(self, image_id):
        return self._image_api.get(self._context, image_id)

    def data(self, image_id):
        return self._image_api.download(self._context, image_id)

    def own_layers(self, digest):
        return self._image_api.get_all(self._context, filters={
            'owner': self.project_id, 'status': 'active',
            'container_format': glance_layers.LAYER_FORMAT,
            'os_hash_value': digest.partition(':')[2]})

    def create_layer(self, digest, data, size, visibility):
        return self._image_api.create(self._context, {
            'name': digest, 'visibility': visibility,
            'container_format': glance_layers.LAYER_FORMAT,
            'disk_format': glance_layers.DISK_FORMAT}, data=data)['id']

    def delete(self, image_id):
        self._image_api.delete(self._context, image_id)
