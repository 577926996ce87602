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

import glanceclient
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from oslo_log import log as logging

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
        self.client = glanceclient.Client('2', session=session,
                                          endpoint_override=endpoint)

    def upload(self, name, data, tag=None):
        """Make an image ``name`` of the caller's project from ``data``.

        The image has container_format docker and disk_format raw; ``data`` is
        a file-like ``docker save`` archive. Return its id. An image whose
        upload fails is deleted again.
        """
        try:
            image = self.client.images.create(
                name=name, container_format=image_archive.CONTAINER_FORMAT,
                disk_format=image_archive.DISK_FORMAT,
                tags=[tag] if tag else [])
        except _GLANCE_ERRORS as exc:
            raise _error(exc)
        try:
            self.client.images.upload(image['id'], data)
        except Exception as exc:
            LOG.warning('Upload of image %s failed, deleting it: %s',
                        image['id'], exc)
            try:
                self.client.images.delete(image['id'])
            except Exception:
                LOG.exception('Could not delete the image %s', image['id'])
            if isinstance(exc, _GLANCE_ERRORS):
                raise _error(exc)
            raise
        return image['id']
