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

"""Glance, called with the caller's own token (python-glanceclient): where
commit puts the images it makes."""

import contextlib
import io

import glanceclient
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from oslo_log import log as logging

from nova_zun import glance_layers
from nova_zun.runtime import image_archive
from zun_native_api import nova as nova_api

LOG = logging.getLogger(__name__)

# What glanceclient raises for Glance's answers (HTTPException and its
# kin) and for failures to reach it (keystoneauth1).
_GLANCE_ERRORS = (glance_exc.ClientException, glance_exc.BaseException,
                  ks_exceptions.ClientException)


class GlanceError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _error(exc):
    status = getattr(exc, 'code', None) or 502
    return GlanceError(status if 400 <= status < 500 else 502,
                       'Glance: %s' % exc)


@contextlib.contextmanager
def _answers():
    """Glance's errors as GlanceErrors.

    A layer Glance did not store as sent (or hashed otherwise) is Glance's
    failure too.
    """
    try:
        yield
    except _GLANCE_ERRORS as exc:
        raise _error(exc)
    except glance_layers.InvalidManifest as exc:
        raise GlanceError(502, 'Glance: %s' % exc)


class Glance:
    """One caller's view of Glance."""

    def __init__(self, conf, context, catalog_header=None):
        endpoint = nova_api.image_endpoint(conf, catalog_header)
        if not endpoint:
            raise GlanceError(503, 'No image endpoint: set [native_api] '
                                   'glance_endpoint or register one in the '
                                   'catalog')
        session = ks_session.Session(
            auth=token_endpoint.Token(endpoint, context.auth_token),
            timeout=conf.native_api.glance_timeout)
        self._client = glanceclient.Client('2', session=session,
                                           endpoint_override=endpoint)
        self._project_id = context.project_id
        self._store = glance_layers.ClientImageStore(self._client,
                                                     context.project_id)

    def registry_image(self, reference_property, ref):
        """The caller's Glance image naming registry image ``ref``.

        One of the caller's project's with ``reference_property`` ``ref`` and
        no data, else a new one, private, named ``ref``: the driver pulls
        ``ref`` when it boots it (doc/images.rst, *Registry images*). Return
        its id and whether it was made now.
        """
        with _answers():
            for image in self._client.images.list(filters={
                    'owner': self._project_id, reference_property: ref,
                    'container_format': image_archive.CONTAINER_FORMAT,
                    'status': 'active'}):
                # Checked here too: a Glance may ignore a filter.
                if (image.get('owner') == self._project_id and
                        image.get(reference_property) == ref and
                        not image.get('size')):
                    return image['id'], False
            image = self._client.images.create(
                name=ref, container_format=image_archive.CONTAINER_FORMAT,
                disk_format='raw', visibility='private',
                **{reference_property: ref})
            try:
                self._client.images.upload(image['id'], io.BytesIO(b''),
                                           image_size=0)
            except _GLANCE_ERRORS:
                self._client.images.delete(image['id'])
                raise
        LOG.info('Made Glance image %s for registry image %s', image['id'],
                 ref)
        return image['id'], True

    def delete(self, image_id):
        with _answers():
            self._client.images.delete(image_id)

    def upload(self, name, data, tag=None):
        """Make an image ``name`` of the caller's project from ``data``.

        The image has container_format docker and disk_format raw; ``data`` is
        a file-like ``docker save`` archive. Return its id. An image whose
        upload fails is deleted again.
        """
        with _answers():
            return self._store.create(
                data, None, name=name,
                container_format=image_archive.CONTAINER_FORMAT,
                tags=[tag] if tag else [])

    def layered_base(self, image_id):
        """``(layered, Manifest or None)`` of the caller's ``image_id``.

        The Manifest is None where the caller cannot read all its layers;
        an image the caller cannot read is not layered to them.
        """
        try:
            image = self._store.get(image_id)
        except _GLANCE_ERRORS:
            return False, None
        if image.get(glance_layers.FORMAT_PROPERTY) != \
                glance_layers.FORMAT_VERSION:
            return False, None
        try:
            return True, glance_layers.checked_manifest(self._store, image_id)
        except (glance_layers.InvalidManifest,) + _GLANCE_ERRORS as exc:
            LOG.warning('The layers of image %s cannot be read (%s): every '
                        'layer is uploaded', image_id, exc)
            return True, None

    def upload_layered(self, name, runtime, image, base, tag=None):
        """Make a layered image ``name`` of engine image ``image``.

        Only the layers Glance does not hold for the caller (``base``, the
        Manifest of the image it was made from, or their project's) are
        uploaded, then the manifest. Return ``(image id, LayerUploader)``.
        """
        uploader = glance_layers.LayerUploader(self._store, base=base)
        with _answers():
            manifest = uploader.engine_image(runtime, image).to_json()
            image_id = self._store.create(
                io.BytesIO(manifest), len(manifest), name=name,
                container_format=glance_layers.MANIFEST_FORMAT,
                tags=[tag] if tag else [],
                **{glance_layers.FORMAT_PROPERTY:
                   glance_layers.FORMAT_VERSION})
        return image_id, uploader
