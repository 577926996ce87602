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

"""Glance images as container images.

A Glance image with container_format ``docker`` holds a ``docker save`` (or
OCI) archive. It is streamed from Glance into the engine through a pipe, so
no whole image is ever held in memory or on disk, loaded by content (no
name inside the archive reaches the engine), then named by its Glance id
alone and kept for later boots.

:func:`ensure_image` is the policy (the cache, one load per image, the
flavor's disk); :class:`GlanceLoader` loads an image's data,
:class:`RegistryPuller` pulls the registry image it names instead, and
:class:`ImageCache` ages out images no instance uses.
"""

import functools
import os
import threading

from nova.compute import task_states
from nova import exception
from nova.virt import imagecache
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import units

from nova_zun import glance_layers
from nova_zun import layers
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import image_archive
from nova_zun.runtime import references

LOG = logging.getLogger(__name__)

CONTAINER_FORMAT = image_archive.CONTAINER_FORMAT
DISK_FORMAT = image_archive.DISK_FORMAT
#: The property of a Glance image carrying an instance's filesystem to
#: another host: the instance's uuid.
MOVE_PROPERTY = 'nova_zun_move_of'
#: Namespaces of the engine's own names (Docker Hub's, as the engine reads
#: a reference without a registry): no registry image is pulled into them.
RESERVED_NAMESPACES = (glance_layers.REPOSITORY, 'nova-zun')
_DOCKER_HUB = ('docker.io', 'index.docker.io')
_CHUNK = 64 * 1024


def reference(image_id):
    """The engine reference of a Glance image."""
    return '%s/%s:%s' % (glance_layers.REPOSITORY, image_id,
                         glance_layers.TAG)


def _repository(image_id):
    return '%s/%s' % (glance_layers.REPOSITORY, image_id)


# -- naming and the cache ----------------------------------------------------

def _name(runtime, image, image_id):
    """Name ``image`` (an id or name in the engine) by the Glance id alone.

    That is the only name a Glance image has in the engine.
    """
    runtime.tag_image(image, _repository(image_id), glance_layers.TAG)


def mark_used(runtime, image_id):
    """Record in the engine that an instance uses the image now.

    Its name is given again, which sets the engine's last-tagged time.
    """
    try:
        _name(runtime, reference(image_id), image_id)
    except runtime_exc.ContainerRuntimeError as exc:
        LOG.warning('Could not mark image %s used: %s', image_id, exc)


def _cached(runtime, image_id, how):
    """Whether the engine has the image already; one found is marked used.

    ``how`` says why it has it, for the log.
    """
    if not runtime.image_exists(reference(image_id)):
        return False
    mark_used(runtime, image_id)
    LOG.info('Image %s %s: downloaded 0 bytes, stored 0 bytes', image_id,
             how)
    return True


def _forget(runtime, name):
    try:
        runtime.remove_image(name)
    except runtime_exc.ContainerRuntimeError as exc:
        LOG.warning('Could not remove image name %s: %s', name, exc)


class _quietly:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            LOG.warning('Ignored while cleaning up: %s', exc)
        return True


# -- Glance ------------------------------------------------------------------

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


def _glance_fault(image_id, exc):
    """A fault that says what went wrong with Glance, or None."""
    if isinstance(exc, exception.ImageNotFound):
        return exception.ImageUnacceptable(
            image_id=image_id,
            reason='the image is not in Glance (deleted?): %s'
                   % exc.format_message())
    if isinstance(exc, exception.GlanceConnectionFailed):
        return exception.ImageUnacceptable(
            image_id=image_id,
            reason='Glance is unreachable: %s' % exc.format_message())
    return None


def _glance_call(image_id, func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        fault = _glance_fault(image_id, exc)
        if fault is None:
            raise
        raise fault from exc


class _CountingWriter:
    """The write end of the pipe, counting the bytes Glance sent."""

    def __init__(self, writer):
        self._writer = writer
        self.count = 0

    def write(self, data):
        self._writer.write(data)
        self.count += len(data)


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
            self.loaded = self._runtime.load_image_report(
                iter(lambda: self._reader.read(_CHUNK), b''))
        except Exception as exc:
            self.error = exc
        finally:
            # The writer gets EPIPE instead of blocking on a reader gone.
            self._reader.close()


class GlanceLoader:
    """Loads the data of Glance images (archives) into the engine."""

    source = 'Glance'

    def __init__(self, context, runtime, image_api):
        self._context = context
        self._runtime = runtime
        self._image_api = image_api

    def load(self, image_id):
        """Load the image's archive and name it by its Glance id.

        Return the engine's ImageTransfer and the bytes Glance sent.
        """
        LOG.info('Loading Glance image %s into the container engine',
                 image_id)
        # Loaded unnamed (the runtime drops every name the archive
        # holds): the Glance id is its only name.
        transfer, downloaded = self._stream(image_id)
        _name(self._runtime, transfer.references[0], image_id)
        return transfer, downloaded

    def _stream(self, image_id):
        """Stream the image's data from Glance into the engine.

        Return the engine's ImageTransfer and the bytes Glance sent.
        """
        read_fd, write_fd = os.pipe()
        loader = _LoadThread(self._runtime, read_fd)
        loader.start()
        download_error = None
        counter = None
        try:
            with os.fdopen(write_fd, 'wb') as writer:
                counter = _CountingWriter(writer)
                self._image_api.download(self._context, image_id,
                                         data=counter)
        except BrokenPipeError:
            pass  # the engine stopped reading: its error says why
        except Exception as exc:
            download_error = exc
        loader.join()
        if download_error is not None:
            # A download cut short also makes the engine refuse the
            # archive: the download's error is the cause.
            fault = _glance_fault(image_id, download_error)
            if fault is not None:
                raise fault from download_error
            raise download_error
        if loader.error is not None:
            if isinstance(loader.error, runtime_exc.InvalidRequest):
                raise exception.ImageUnacceptable(
                    image_id=image_id,
                    reason='not a container image archive: %s'
                           % loader.error.message)
            raise loader.error
        return loader.loaded, counter.count


# -- registries --------------------------------------------------------------

def registry_reference(image, prop):
    """The registry reference of a Glance image to pull, or None.

    ``image`` is a dict as Glance shows it; None means it is loaded from its
    data.
    """
    ref = (image.get('properties') or {}).get(prop)
    if ref and not image.get('size'):
        return ref
    return None


def _check_namespace(image_id, ref):
    """Refuse a reference the engine would name like its own images."""
    registry = references.registry_of(ref)
    path = ref[len(registry) + 1:] if ref.startswith(registry + '/') else ref
    if registry in _DOCKER_HUB and \
            path.partition('/')[0] in RESERVED_NAMESPACES and '/' in path:
        raise exception.ImageUnacceptable(
            image_id=image_id,
            reason='registry image %s names a repository reserved for this '
                   'host (%s)' % (ref, ', '.join(
                       n + '/' for n in RESERVED_NAMESPACES)))


# What a failed pull fault says, by what the runtime found.
_PULL_FAULTS = (
    (runtime_exc.NotFound, 'the registry has no such image'),
    (runtime_exc.PermissionDenied, 'the registry refused access'),
    (runtime_exc.RegistryUnavailable, 'the registry is unreachable'),
)


class RegistryPuller:
    """Pulls the registry images Glance images name instead of holding data.

    A Glance image names its registry image in its ``reference_property``. The
    pull is from one of the ``allowed`` registries (empty: any), with ``auth``
    only for the registries in ``auth_hosts``.
    """

    source = 'registry'

    def __init__(self, runtime, reference_property=None, auth=None,
                 auth_hosts=(), allowed=()):
        self._runtime = runtime
        self._property = reference_property
        self._auth = auth
        self._auth_hosts = auth_hosts or ()
        self._allowed = allowed

    def reference(self, image):
        """The reference to pull for a Glance image, or None.

        ``image`` is a dict as Glance shows it; None means it is loaded from
        its data.
        """
        if not self._property:
            return None
        return registry_reference(image, self._property)

    def credentials(self, image_id, ref):
        """The credentials for pulling ``ref``, None to pull anonymously.

        A registry that is not allowed is refused.
        """
        registry = references.registry_of(ref)
        if self._allowed and registry not in self._allowed:
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason='registry image %s: registry %s is not in [zun] '
                       'allowed_registries' % (ref, registry))
        return self._auth if self._auth and registry in self._auth_hosts \
            else None

    def pull(self, image_id, ref):
        """Pull ``ref`` and name the image by ``image_id`` alone.

        Return the engine's ImageTransfer and the bytes the registry sent.
        """
        _check_namespace(image_id, ref)
        auth = self.credentials(image_id, ref)
        LOG.info('Pulling registry image %s for Glance image %s (%s)',
                 ref, image_id,
                 'with the configured credentials' if auth
                 else 'anonymously')
        transfer = self._pull_and_name(image_id, ref, auth)
        return transfer, transfer.bytes_stored

    def _pull_and_name(self, image_id, ref, auth):
        """Pull ``ref`` and name the image by ``image_id`` instead of ``ref``.

        The engine names what it pulls ``ref``: pulls of one reference take
        turns, so no other boot's pull re-points or removes that name between
        this pull and its renaming.
        """
        with lockutils.lock('nova-zun-pull-%s' % ref):
            try:
                transfer = self._runtime.pull_image_report(ref, auth=auth)
            except runtime_exc.EngineUnavailable:
                raise
            except runtime_exc.ContainerRuntimeError as exc:
                # The engine's words name the registry and reference, never
                # the credentials.
                reason = exc.reason or exc.message
                what = next((words for cls, words in _PULL_FAULTS
                             if isinstance(exc, cls)), None)
                raise exception.ImageUnacceptable(
                    image_id=image_id,
                    reason='registry image %s could not be pulled: %s'
                           % (ref, '%s: %s' % (what, reason) if what
                              else reason))
            try:
                _name(self._runtime, transfer.references[0], image_id)
            finally:
                # The registry's name goes; it never names anyone's image.
                _forget(self._runtime, ref)
        return transfer


# -- the image an instance boots ---------------------------------------------

def _check_disk(image_id, size, disk_gb):
    if disk_gb and size and size > disk_gb * units.Gi:
        raise exception.FlavorDiskSmallerThanImage(
            flavor_size=disk_gb * units.Gi, image_size=size)


def _check_unpacked_size(runtime, image_id, disk_gb, size):
    """Remove the image again when it is too large for the root disk.

    That is when, unpacked, it is larger than the flavor's root disk.
    """
    try:
        _check_disk(image_id, size, disk_gb)
    except exception.FlavorDiskSmallerThanImage:
        with _quietly():
            _forget(runtime, reference(image_id))
        raise


def ensure_image(context, runtime, image_api, image_meta, disk_gb=0,
                 registry_property=None, registry_auth=None,
                 registry_auth_hosts=(), allowed_registries=()):
    """Make the instance's Glance image available to the engine.

    Return its engine reference. Concurrent boots of one image load it once.

    ``disk_gb`` (the flavor's root disk, 0 for no limit) bounds the image size.
    An image with a ``registry_property`` and no data is pulled, from one of
    ``allowed_registries`` (empty: any), with ``registry_auth`` if its registry
    is one of ``registry_auth_hosts``.
    """
    _check_container_image(image_meta)
    image_id = image_meta.id
    ref = reference(image_id)
    if _cached(runtime, image_id, 'is cached in the engine'):
        return ref
    with lockutils.lock('nova-zun-image-%s' % image_id):
        if _cached(runtime, image_id, 'was loaded by a concurrent boot'):
            return ref
        image = _glance_call(image_id, image_api.get, context, image_id)
        _check_disk(image_id, image.get('size'), disk_gb)
        puller = RegistryPuller(runtime, registry_property, registry_auth,
                                registry_auth_hosts, allowed_registries)
        pull_ref = puller.reference(image)
        timer = timeutils.StopWatch().start()
        if pull_ref:
            transfer, downloaded = puller.pull(image_id, pull_ref)
            source = puller.source
        elif glance_layers.is_manifest(image):
            loader = layers.LayeredLoader(context, runtime, image_api)
            transfer, downloaded = _glance_call(image_id, loader.load,
                                                image_id)
            _name(runtime, transfer.references[0], image_id)
            source = loader.source
        else:
            loader = GlanceLoader(context, runtime, image_api)
            transfer, downloaded = loader.load(image_id)
            source = loader.source
        size = runtime.inspect_image(ref).size_bytes
        LOG.info('Image %(id)s: downloaded %(down)d bytes from %(src)s in '
                 '%(secs).1fs; stored %(stored)d bytes in %(new)d new '
                 'layers, %(old)d layers already present (not stored '
                 'again); image size %(size)d bytes',
                 {'id': image_id, 'down': downloaded, 'src': source,
                  'secs': timer.elapsed(), 'stored': transfer.bytes_stored,
                  'new': transfer.layers_stored,
                  'old': transfer.layers_present, 'size': size})
        _check_unpacked_size(runtime, image_id, disk_gb, size)
        return ref


# -- snapshots ---------------------------------------------------------------

def snapshot_metadata(snapshot, instance):
    """What the driver sets on the snapshot's Glance image."""
    properties = {
        'image_location': 'snapshot',
        'image_state': 'available',
        'owner_id': instance.project_id,
    }
    if instance.os_type:
        properties['os_type'] = instance.os_type
    return {'name': snapshot['name'], 'status': 'active',
            'container_format': CONTAINER_FORMAT,
            'disk_format': DISK_FORMAT, 'properties': properties}


def _layered_snapshot(context, runtime, image_api, committed, instance,
                      metadata):
    """Upload the layers a snapshot of a layered image adds.

    Return a reader of its manifest; ``metadata`` is made to say it is one.
    """
    try:
        base = layers.LayeredLoader(context, runtime, image_api).manifest(
            instance.image_ref)
    except (exception.ImageNotFound, exception.ImageUnacceptable) as exc:
        LOG.warning('The image of the server cannot be read (%s): every '
                    'layer of the snapshot is uploaded', exc,
                    instance=instance)
        base = None
    uploader = glance_layers.LayerUploader(
        layers.NovaImageStore(context, image_api), base=base)
    try:
        manifest = uploader.engine_image(runtime, committed)
    except glance_layers.InvalidManifest as exc:
        raise exception.ImageUnacceptable(image_id=instance.image_ref,
                                          reason=str(exc))
    LOG.info('Uploaded %(bytes)d bytes in %(new)d new layers of the '
             'snapshot to Glance; %(old)d layers already in Glance',
             {'bytes': uploader.bytes, 'new': uploader.uploaded,
              'old': len(manifest.layers) - uploader.uploaded},
             instance=instance)
    metadata['properties'][glance_layers.FORMAT_PROPERTY] = \
        glance_layers.FORMAT_VERSION
    return image_archive.ChunkReader([manifest.to_json()])


def snapshot(context, runtime, image_api, container, instance, image_id,
             update_task_state, pause=True):
    """Commit ``container``'s filesystem and stream it to Glance.

    The Glance image it goes to is ``image_id``.

    A running container is frozen only for the commit, and runs again whatever
    happens. The committed image stays in the engine under the snapshot's
    Glance name (its only one), so a boot of the snapshot here downloads
    nothing; on failure it is removed.
    """
    glance_image = _glance_call(image_id, image_api.get, context, image_id)
    update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
    timer = timeutils.StopWatch().start()
    committed, frozen = image_archive.commit_frozen(
        runtime, container,
        'nova-zun snapshot of instance %s' % instance.uuid, pause=pause)
    LOG.info('Committed the container filesystem in %.1fs (%s)',
             timer.elapsed(), 'frozen' if frozen else 'not frozen',
             instance=instance)
    try:
        _name(runtime, committed, image_id)
        update_task_state(task_state=task_states.IMAGE_UPLOADING,
                          expected_state=task_states.IMAGE_PENDING_UPLOAD)
        timer.restart()
        metadata = snapshot_metadata(glance_image, instance)
        if glance_layers.is_manifest(glance_image):
            reader = _layered_snapshot(context, runtime, image_api,
                                       committed, instance, metadata)
        else:
            # Saved by id: the archive carries no name of ours.
            reader = image_archive.ChunkReader(runtime.save_image(committed))
        _glance_call(image_id, image_api.update, context, image_id,
                     metadata, reader)
    except Exception:
        with _quietly():
            runtime.remove_image(committed, force=True)
        raise
    LOG.info('Uploaded snapshot %(id)s to Glance: %(bytes)d bytes in '
             '%(secs).1fs', {'id': image_id, 'bytes': reader.count,
                             'secs': timer.elapsed()}, instance=instance)


# -- moving an instance to another host --------------------------------------

def upload_move(context, runtime, image_api, container, instance):
    """Commit a stopped workload and upload it as a private Glance image.

    Return the image's id. The image carries the workload's filesystem to the
    destination of a resize or cold migration (:func:`load_move`);
    nothing of the commit stays in this engine.
    """
    timer = timeutils.StopWatch().start()
    committed = runtime.commit(
        container, message='nova-zun move of instance %s' % instance.uuid)
    try:
        reader = image_archive.ChunkReader(runtime.save_image(committed))
        image = image_api.create(context, {
            'name': 'nova-zun-move-%s' % instance.uuid,
            'container_format': CONTAINER_FORMAT,
            'disk_format': DISK_FORMAT, 'visibility': 'private',
            'properties': {MOVE_PROPERTY: instance.uuid}}, data=reader)
    finally:
        with _quietly():
            runtime.remove_image(committed, force=True)
    LOG.info('Uploaded the workload\'s filesystem to Glance image %(id)s '
             'for the move: %(bytes)d bytes in %(secs).1fs',
             {'id': image['id'], 'bytes': reader.count,
              'secs': timer.elapsed()}, instance=instance)
    return image['id']


def load_move(context, runtime, image_api, image_id, instance):
    """Load the image of :func:`upload_move`; delete it from Glance.

    Return its engine reference. Deleted also when the load fails: the
    source keeps the workload until the move is confirmed.
    """
    try:
        GlanceLoader(context, runtime, image_api).load(image_id)
    finally:
        delete_move(context, image_api, image_id, instance)
    return reference(image_id)


def delete_move(context, image_api, image_id, instance):
    try:
        image_api.delete(context, image_id)
    except exception.ImageNotFound:
        pass
    except Exception:
        LOG.exception('Could not delete Glance image %s, which carried the '
                      'workload\'s filesystem', image_id, instance=instance)


# -- image cache -------------------------------------------------------------

def _parse_time(text):
    if not text:
        return None
    try:
        return timeutils.parse_isotime(text)
    except ValueError:
        return None


def glance_images(runtime):
    """``{glance id: ImageInfo}`` of the engine's images with a Glance name."""
    found = {}
    for info in runtime.list_images():
        for tag in info.tags:
            image_id = glance_layers.image_id_of(tag)
            if image_id:
                found[image_id] = info
    return found


class ImageCache(imagecache.ImageCacheManager):
    """Ages out Glance images in the engine that no instance uses.

    The host keeps no state: an image's last use is the engine's
    last-tagged time, which every boot of the image and every pass that
    finds it in use sets again (:func:`mark_used`). ``clock`` says what
    time it is now (an aware UTC datetime; default: oslo's
    ``timeutils.utcnow``).
    """

    def __init__(self, runtime, clock=None):
        super().__init__()
        self._runtime = runtime
        self._clock = clock or functools.partial(timeutils.utcnow,
                                                 with_timezone=True)

    def update(self, context, all_instances, max_unused_age,
               containers_images=()):
        """Mark images in use and remove the others long unused.

        Images are in use by ``all_instances`` (as Nova lists them for this
        host) or by a container of ours here; the others are removed when
        unused for more than ``max_unused_age`` seconds. Returns the ids of the
        Glance images removed.
        """
        running = self._list_running_instances(context, all_instances)
        in_use = set(running['used_images'])
        in_use.update(image_id for image_id, info in
                      glance_images(self._runtime).items()
                      if reference(image_id) in containers_images or
                      info.id in containers_images)
        now = self._clock()
        removed = []
        for image_id, info in sorted(glance_images(self._runtime).items()):
            if image_id in in_use:
                mark_used(self._runtime, image_id)
                continue
            if not self.remove_unused_base_images:
                continue
            try:
                # Listing gives no last-tagged time; inspecting does.
                info = self._runtime.inspect_image(reference(image_id))
            except runtime_exc.NotFound:
                continue
            last_used = _parse_time(info.last_tagged)
            if last_used is None:
                # Never named by us (should not happen): the age is unknown,
                # so start the clock now.
                mark_used(self._runtime, image_id)
                continue
            age = (now - last_used).total_seconds()
            if age < max_unused_age:
                LOG.debug('Image %s unused for %ds; kept until %ds',
                          image_id, age, max_unused_age)
                continue
            try:
                self._runtime.remove_image(reference(image_id))
            except runtime_exc.Conflict as exc:
                LOG.info('Image %s is still used by a container: %s',
                         image_id, exc)
                continue
            except runtime_exc.NotFound:
                continue
            LOG.info('Removed image %s from the engine: unused for %ds',
                     image_id, age)
            removed.append(image_id)
        return removed
