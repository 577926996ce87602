"""Glance images as container images.

A Glance image with container_format ``docker`` holds a ``docker save`` (or
OCI) archive. It is streamed from Glance into the engine through a pipe, so
no whole image is ever held in memory or on disk, then tagged by its Glance
id and kept for later boots.
"""

import os
import threading

from nova import exception
from oslo_concurrency import lockutils
from oslo_log import log as logging

from nova_zun.runtime import exception as runtime_exc

LOG = logging.getLogger(__name__)

CONTAINER_FORMAT = 'docker'
REPOSITORY = 'glance'
_CHUNK = 64 * 1024


def reference(image_id):
    """The engine reference of a Glance image."""
    return '%s/%s:latest' % (REPOSITORY, image_id)


class _LoadThread(threading.Thread):
    """Feeds the read end of a pipe to the engine's image load."""

    def __init__(self, runtime, read_fd):
        super().__init__(name='image-load', daemon=True)
        self._runtime = runtime
        self._reader = os.fdopen(read_fd, 'rb')
        self.loaded = None
        self.error = None

    def run(self):
        try:
            self.loaded = self._runtime.load_image(
                iter(lambda: self._reader.read(_CHUNK), b''))
        except Exception as exc:
            self.error = exc
        finally:
            # The writer gets EPIPE instead of blocking on a reader gone.
            self._reader.close()


def _check_container_image(image_meta):
    if image_meta.obj_attr_is_set('container_format'):
        container_format = image_meta.container_format
    else:
        container_format = None
    if container_format != CONTAINER_FORMAT:
        raise exception.ImageUnacceptable(
            image_id=image_meta.id,
            reason='container_format is %r: nova-zun boots only Glance '
                   'images with container_format %r (a "docker save" '
                   'archive)' % (container_format, CONTAINER_FORMAT))


def _load_from_glance(context, runtime, image_api, image_id):
    read_fd, write_fd = os.pipe()
    loader = _LoadThread(runtime, read_fd)
    loader.start()
    download_error = None
    try:
        with os.fdopen(write_fd, 'wb') as writer:
            image_api.download(context, image_id, data=writer)
    except BrokenPipeError:
        pass  # the engine stopped reading: its error says why
    except Exception as exc:
        download_error = exc
    loader.join()
    if loader.error is not None:
        if isinstance(loader.error, runtime_exc.InvalidRequest):
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='not a container image archive: %s'
                       % loader.error.message)
        raise loader.error
    if download_error is not None:
        raise download_error
    return loader.loaded


def ensure_image(context, runtime, image_api, image_meta):
    """Make the instance's Glance image available to the engine and return
    its engine reference. Concurrent boots of one image load it once."""
    _check_container_image(image_meta)
    image_id = image_meta.id
    ref = reference(image_id)
    if runtime.image_exists(ref):
        return ref
    with lockutils.lock('nova-zun-image-%s' % image_id):
        if runtime.image_exists(ref):
            return ref
        LOG.info('Loading Glance image %s into the container engine',
                 image_id)
        loaded = _load_from_glance(context, runtime, image_api, image_id)
        if len(loaded) != 1:
            for name in loaded:
                _forget(runtime, name)
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='the archive holds %d images; exactly one is needed'
                       % len(loaded))
        runtime.tag_image(loaded[0], '%s/%s' % (REPOSITORY, image_id),
                          'latest')
        # Names inside a tenant's archive must not linger in the engine
        # (or shadow anyone else's): the Glance id is the only name.
        if loaded[0] != ref and not loaded[0].startswith('sha256:'):
            _forget(runtime, loaded[0])
        return ref


def _forget(runtime, name):
    try:
        runtime.remove_image(name)
    except runtime_exc.ContainerRuntimeError as exc:
        LOG.warning('Could not remove image name %s: %s', name, exc)
