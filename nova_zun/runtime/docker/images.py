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

"""The image service of the Docker backend, and the pod sandbox image.

A mixin of :class:`~nova_zun.runtime.docker.backend.DockerRuntime`, as
Kubernetes' CRI serves images apart from containers: its methods use the
runtime's engine connection (``_api``), its ``sandbox_binary`` and the
sandbox image id it keeps (``_sandbox_image``).
"""

import itertools
import json
import logging

import docker
from docker import errors as docker_errors

from nova_zun.runtime import archive_stream
from nova_zun.runtime.docker import conversions
from nova_zun.runtime.docker import errors
from nova_zun.runtime import exception
from nova_zun.runtime import layered_archive
from nova_zun.runtime import sandbox_image
from nova_zun.runtime import types

LOG = logging.getLogger(__name__)

# The formats the engine's image load reads: a docker-archive's
# manifest.json (Docker's graph-driver image store reads nothing else; an
# OCI index beside it, as Docker 25 and later save, goes on without its
# names).
_LOAD_FORMATS = (archive_stream.DOCKER_ARCHIVE,)
_LOADED_ID = 'Loaded image ID: '


class ImageService:
    """Operations on the engine's images.

    It can load, import, pull, push, save, tag, remove, inspect and list them.
    """

    def _ensure_sandbox_image(self):
        """The id of the pod sandbox image, loaded if the engine lacks it.

        The image is pinned by id, never found by a name or label (see
        :mod:`nova_zun.runtime.sandbox_image`).
        """
        if self._sandbox_image:
            return self._sandbox_image
        image_id, archive = sandbox_image.build(self.sandbox_binary)
        if not self.image_exists(image_id):
            LOG.info('Loading pod sandbox image %s, made from %s', image_id,
                     self.sandbox_binary)
            loaded = self.load_image_report([archive]).references
            if loaded != (image_id,):
                raise exception.ContainerRuntimeError(
                    'the pod sandbox image loaded as %s, not as %s: the '
                    'engine computes image ids differently'
                    % (loaded, image_id))
        self._sandbox_image = image_id
        return image_id

    @errors.engine_call
    def load_image(self, data):
        return list(self.load_image_report(data).references)

    @errors.engine_call
    def load_image_report(self, data, absent_layers=()):
        loaded = []
        # Not quiet: the engine then reports each layer it stores (and is
        # silent about layers it has already).
        stored = {}
        # The engine would give the image the names inside the archive as
        # it loads it: it gets the archive without them, and says the id.
        archive = archive_stream.without_names(data, _LOAD_FORMATS,
                                               absent_layers)
        try:
            progress = list(self._api.load_image(archive, quiet=False))
        except docker_errors.APIError as exc:
            raise exception.InvalidRequest(
                'image archive refused: %s' % errors.explanation(exc),
                reason=errors.explanation(exc))
        for line in progress:
            for item in _json_lines(line):
                if item.get('error'):
                    raise exception.InvalidRequest(
                        'image archive refused: %s' % item['error'],
                        reason=item['error'])
                if item.get('status') == 'Loading layer' and item.get('id'):
                    total = (item.get('progressDetail') or {}).get('total')
                    stored[item['id']] = max(stored.get(item['id'], 0),
                                             total or 0)
                for text in item.get('stream', '').splitlines():
                    if text.startswith(_LOADED_ID):
                        loaded.append(text[len(_LOADED_ID):].strip())
        if len(loaded) != 1:
            raise exception.InvalidRequest(
                'the engine loaded %d images from an archive of one'
                % len(loaded))
        layers = set()
        for name in loaded:
            layers.update(self._api.inspect_image(name)['RootFS']['Layers'])
        return types.ImageTransfer(
            references=tuple(loaded), layers_stored=len(stored),
            layers_present=max(0, len(layers) - len(stored)),
            bytes_stored=sum(stored.values()))

    @errors.engine_call
    def layers_present(self, diff_ids):
        wanted = layered_archive.chain_ids(diff_ids)
        held = set()
        # The engine lists no layers: every layer is in an image's stack.
        for item in self._api.images():
            try:
                stack = self._api.inspect_image(item['Id'])['RootFS']
            except docker_errors.NotFound:
                continue  # removed meanwhile
            held.update(layered_archive.chain_ids(stack.get('Layers') or ()))
        return next((i for i, chain in enumerate(wanted)
                     if chain not in held), len(wanted))

    @errors.engine_call
    def import_rootfs(self, data, reference, *, command=None, labels=None):
        changes = []
        if command:
            changes.append('CMD ' + json.dumps(command))
        for key, value in (labels or {}).items():
            changes.append('LABEL %s=%s' % (key, json.dumps(value)))
        # Not rpartition(':'): 'registry:5000/name' has no tag, and a
        # reference without one means ':latest'.
        repository, tag = docker.utils.parse_repository_tag(reference)
        result = self._api.import_image_from_data(
            data, repository=repository, tag=tag or 'latest',
            changes=changes)
        for item in _json_lines(result):
            if item.get('error'):
                raise exception.InvalidRequest(item['error'])
        return self._api.inspect_image(reference)['Id']

    @errors.engine_call
    def pull_image(self, reference, auth=None):
        return self.pull_image_report(reference, auth=auth).references[0]

    @errors.engine_call
    def pull_image_report(self, reference, auth=None):
        repository, tag = docker.utils.parse_repository_tag(reference)
        sizes, stored, present = {}, set(), set()
        try:
            for item in self._api.pull(repository, tag=tag or 'latest',
                                       auth_config=auth, stream=True,
                                       decode=True):
                if item.get('error'):
                    raise errors.pull_error(reference, item['error'])
                layer, status = item.get('id'), item.get('status', '')
                if status == 'Downloading':
                    total = (item.get('progressDetail') or {}).get('total')
                    sizes[layer] = max(sizes.get(layer, 0), total or 0)
                elif status == 'Pull complete':
                    stored.add(layer)
                elif status == 'Already exists':
                    present.add(layer)
        except docker_errors.APIError as exc:
            if exc.status_code == 400:
                raise  # the reference itself
            raise errors.pull_error(reference, errors.explanation(exc),
                                    exc.status_code) from exc
        return types.ImageTransfer(
            references=(self._api.inspect_image(reference)['Id'],),
            layers_stored=len(stored), layers_present=len(present),
            bytes_stored=sum(sizes.get(layer, 0) for layer in stored))

    @errors.engine_call
    def push_image(self, reference, auth=None):
        repository, tag = docker.utils.parse_repository_tag(reference)
        for item in self._api.push(repository, tag=tag or 'latest',
                                   auth_config=auth, stream=True,
                                   decode=True):
            if item.get('error'):
                raise exception.ContainerRuntimeError(
                    'push of %s failed: %s' % (reference, item['error']),
                    reason=item['error'])

    @errors.engine_call
    def save_image(self, image):
        chunks = self._api.get_image(image)
        # The SDK checks the engine's answer on the first read: read it
        # now, so that a missing image raises NotFound here.
        first = next(chunks, b'')
        return errors.translated_chunks(itertools.chain([first], chunks),
                                        'save_image')

    @errors.engine_call
    def tag_image(self, image, repository, tag):
        self._api.tag(image, repository, tag=tag, force=True)

    @errors.engine_call
    def remove_image(self, image, force=False):
        self._api.remove_image(image, force=force)

    @errors.engine_call
    def image_exists(self, image):
        try:
            self._api.inspect_image(image)
            return True
        except docker_errors.NotFound:
            return False

    @errors.engine_call
    def inspect_image(self, image):
        return conversions.image_info(self._api.inspect_image(image))

    @errors.engine_call
    def list_images(self, labels=None):
        return [conversions.image_info_from_list(item) for item in
                self._api.images(filters=conversions.labels_filter(labels))]


def _json_lines(data):
    """Decode the engine's progress output: JSON objects, one per line.

    The output is given as bytes, str, or an already-decoded dict.
    """
    if isinstance(data, dict):
        yield data
        return
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    for line in data.splitlines():
        line = line.strip()
        if line:
            try:
                yield json.loads(line)
            except ValueError:
                yield {'stream': line}
