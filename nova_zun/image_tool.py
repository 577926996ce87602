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

"""``nova-zun-image``: layered container images in Glance.

    nova-zun-image import --name myapp-1.0 myapp.tar   # docker save / OCI
    nova-zun-image import --name busybox docker.io/library/busybox:latest
    nova-zun-image share IMAGE PROJECT
    nova-zun-image gc [--delete]

``import`` stores each layer of an image as a layer image of the caller's
project, unless the project has it already (so an import cut short resumes
where it stopped), then the manifest. The image is a ``docker save``
archive or an OCI image layout (a tar), or a registry reference, which the
Docker engine at ``--docker-url`` pulls and saves (streamed, nothing on
disk). ``share`` makes an image and its layers readable by another project;
``gc`` lists (and deletes) the project's layers that none of its images
names. Authentication is keystoneauth's (``OS_*`` variables or ``--os-*``
options); Glance is the catalog's image endpoint, or ``--os-image-url``.
"""

import argparse
import datetime
import gzip
import io
import json
import os
import sys
import tarfile

import glanceclient
from glanceclient.common import progressbar
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading as ks_loading
from oslo_utils import timeutils

from nova_zun import glance_layers
from nova_zun.runtime import archive_stream
from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import exception as runtime_exception

#: Who may read an image, narrowest first: a layer is at least as readable
#: as the widest image that uses it.
VISIBILITIES = ('private', 'shared', 'community', 'public')
#: The password for ``--registry-username`` (never on the command line).
REGISTRY_PASSWORD = 'NOVA_ZUN_REGISTRY_PASSWORD'
_BLOBS = 'blobs/'
#: OCI layer media types by how their blobs are compressed.
_UNCOMPRESSED = ('application/vnd.oci.image.layer.v1.tar',
                 'application/vnd.docker.image.rootfs.diff.tar')
_GZIP = ('application/vnd.oci.image.layer.v1.tar+gzip',
         'application/vnd.docker.image.rootfs.diff.tar.gzip')


class ToolError(Exception):
    """What the tool says before it exits with 1."""


class _Archive:
    """A tar archive on disk, read as a tenant's.

    At most archive_stream.MAX_MEMBERS members, each name once, control
    files bounded, layers only as regular files.
    """

    def __init__(self, tar):
        self._tar = tar
        self.members = {}
        for count, member in enumerate(tar, 1):
            name = archive_stream.normalized(member.name)
            if count > archive_stream.MAX_MEMBERS or name in self.members:
                raise ToolError('the archive has %s' % (
                    'over %d members' % archive_stream.MAX_MEMBERS
                    if count > archive_stream.MAX_MEMBERS
                    else 'two members %s' % name))
            self.members[name] = member

    def file(self, name, what):
        member = self.members.get(name)
        if member is None or not member.isfile():
            raise ToolError('the archive has no file %s (%s)' % (name, what))
        return member

    def small(self, name, what):
        member = self.file(name, what)
        if member.size > archive_stream.MAX_SMALL_MEMBER:
            raise ToolError('%s is over %d bytes'
                            % (what, archive_stream.MAX_SMALL_MEMBER))
        return self._tar.extractfile(member).read()

    def json(self, name, what):
        try:
            return json.loads(self.small(name, what))
        except (ValueError, RecursionError) as exc:
            raise ToolError('%s is not JSON: %s' % (what, exc))

    def blob(self, descriptor, what):
        """The name of the blob a descriptor names, checked as a digest."""
        digest = descriptor.get('digest') if isinstance(descriptor, dict) \
            else None
        if not (isinstance(digest, str) and glance_layers.is_digest(digest)):
            raise ToolError('%s names no sha256 blob' % what)
        return _BLOBS + digest.replace(':', '/')

    def open(self, member):
        return self._tar.extractfile(member)


def _verified(archive, name, digest, what):
    """A small blob's data, refused unless it is of ``digest``."""
    data = archive.small(name, what)
    if glance_layers.digest_of(data) != digest:
        raise ToolError('%s is not of its digest %s' % (what, digest))
    return data


def _layers(config, count):
    try:
        digests = glance_layers.diff_ids(config)
    except glance_layers.InvalidManifest as exc:
        raise ToolError(str(exc))
    if len(digests) != count:
        raise ToolError('the archive does not hold the %d layers its config '
                        'lists' % len(digests))
    return digests


def _docker_image(archive):
    """``(config, [(digest, size, open)])`` of a docker save archive."""
    try:
        [entry] = archive.json(archive_stream.MANIFEST,
                               archive_stream.MANIFEST)
        config_name = archive_stream.normalized(entry['Config'])
        paths = [archive_stream.normalized(p) for p in entry['Layers']]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ToolError('%s does not describe one image: %s'
                        % (archive_stream.MANIFEST, exc))
    config = archive.small(config_name, 'the config')
    digests = _layers(config, len(paths))
    members = [archive.file(p, 'layer %s' % d)
               for p, d in zip(paths, digests)]
    return config, [(d, m.size, m) for d, m in zip(digests, members)]


def _oci_image(archive):
    """``(config, [(digest, size or None, member, gzip)])`` of a layout.

    A gzip layer's size is None: it is stored uncompressed, by its diff id
    (the upload hashes it as it decompresses).
    """
    index = archive.json(archive_stream.INDEX, archive_stream.INDEX)
    manifests = index.get('manifests') if isinstance(index, dict) else None
    if not isinstance(manifests, list) or len(manifests) != 1:
        raise ToolError('%s does not describe one image'
                        % archive_stream.INDEX)
    name = archive.blob(manifests[0], 'the index')
    try:
        manifest = json.loads(_verified(archive, name, manifests[0]['digest'],
                                        'the image manifest'))
        config_desc, descriptors = manifest['config'], manifest['layers']
        config_name = archive.blob(config_desc, 'the image manifest')
        config = _verified(archive, config_name, config_desc['digest'],
                           'the config')
        digests = _layers(config, len(descriptors))
        stack = []
        for digest, descriptor in zip(digests, descriptors):
            media = descriptor.get('mediaType')
            if media not in _UNCOMPRESSED + _GZIP:
                raise ToolError('layer %s is of media type %r: only tar and '
                                'tar+gzip layers are read' % (digest, media))
            member = archive.file(archive.blob(descriptor, 'a layer'),
                                  'layer %s' % digest)
            stack.append((digest, member.size if media in _UNCOMPRESSED
                          else None, member, media in _GZIP))
    except (ValueError, RecursionError, TypeError, KeyError,
            AttributeError) as exc:
        raise ToolError('not an OCI image layout: %s' % exc)
    return config, stack


def _terminal_progress(fileobj, size):
    """``fileobj`` with glanceclient's progress bar (on a terminal only)."""
    return progressbar.VerboseFileWrapper(fileobj, size or 0)


class LayerStore:
    """One project's layered images in Glance."""

    def __init__(self, client, project_id, out=sys.stdout):
        self._store = glance_layers.ClientImageStore(client, project_id)
        self._images = client.images
        self._members = client.image_members
        self._project = project_id
        self._out = out

    def _say(self, text):
        print(text, file=self._out, flush=True)

    def _widen(self, image, visibility):
        if VISIBILITIES.index(image['visibility']) < \
                VISIBILITIES.index(visibility):
            self._images.update(image['id'], visibility=visibility)

    def _uploader(self, visibility, watch=None):
        return glance_layers.LayerUploader(self._store, visibility,
                                           say=self._say, watch=watch)

    def import_archive(self, path, name, visibility='private'):
        """Import a docker save archive or OCI layout; return its id."""
        try:
            tar = tarfile.open(path)
        except (OSError, tarfile.TarError) as exc:
            raise ToolError('cannot read %s: %s' % (path, exc))
        uploader = self._uploader(visibility)
        with tar:
            archive = _Archive(tar)
            if archive_stream.MANIFEST in archive.members:
                config, stack = _docker_image(archive)
                stack = [(d, size, member, False)
                         for d, size, member in stack]
            elif archive_stream.INDEX in archive.members:
                config, stack = _oci_image(archive)
            else:
                raise ToolError('not a docker save archive nor an OCI '
                                'layout: it has no %s nor %s'
                                % (archive_stream.MANIFEST,
                                   archive_stream.INDEX))
            found = []
            for index, (digest, size, member, gzipped) in enumerate(
                    stack, 1):
                what = 'layer %d/%d %s (%d bytes%s)' % (
                    index, len(stack), digest, member.size,
                    ', gzip' if gzipped else '')
                layer = uploader.held(digest, size, what)
                if layer is None:
                    # The bar counts the bytes read from the archive.
                    data = _terminal_progress(archive.open(member),
                                              member.size)
                    if gzipped:
                        data = gzip.GzipFile(fileobj=data, mode='rb')
                    layer = uploader.upload(digest, size, data, what)
                found.append(layer)
        return self._store_manifest(
            glance_layers.Manifest(config, tuple(found)), name, visibility,
            uploader)

    def import_reference(self, runtime, reference, name,
                         visibility='private', auth=None):
        """Import a registry image through the engine; return its id.

        The engine pulls it and saves it (twice: to hash its layers, then
        to upload those the project lacks). A name the pull gave is
        removed again.
        """
        uploader = self._uploader(visibility, watch=_terminal_progress)
        existed = runtime.image_exists(reference)
        try:
            image = runtime.pull_image(reference, auth=auth)
            manifest = uploader.engine_image(runtime, image)
        except runtime_exception.ContainerRuntimeError as exc:
            raise ToolError('%s could not be pulled and saved: %s'
                            % (reference, exc))
        finally:
            if not existed and runtime.image_exists(reference):
                runtime.remove_image(reference)
        return self._store_manifest(manifest, name, visibility, uploader)

    def _store_manifest(self, manifest, name, visibility, uploader):
        """Store the manifest; return its id.

        It goes last: the image is bootable once all its layers are in
        Glance. The layers are widened to ``visibility``.
        """
        if visibility != 'private':
            for layer in manifest.layers:
                self._widen(self._images.get(layer.image), visibility)
        data = manifest.to_json()
        image_id = self._store.create(
            io.BytesIO(data), len(data), name=name,
            container_format=glance_layers.MANIFEST_FORMAT,
            visibility=visibility,
            **{glance_layers.FORMAT_PROPERTY: glance_layers.FORMAT_VERSION})
        self._say('image %s: %d layers: %d uploaded (%d bytes), %d already '
                  'in Glance' % (image_id, len(manifest.layers),
                                 uploader.uploaded, uploader.bytes,
                                 len(manifest.layers) - uploader.uploaded))
        return image_id

    def share(self, image_id, project_id):
        """Make an image and its layers readable by ``project_id``."""
        image = self._images.get(image_id)
        if image.get(glance_layers.FORMAT_PROPERTY) != \
                glance_layers.FORMAT_VERSION:
            raise ToolError('image %s is not a layered image' % image_id)
        manifest = glance_layers.read_manifest(self._store, image_id)
        for target in [image_id] + [layer.image for layer in manifest.layers]:
            self._widen(self._images.get(target), 'shared')
            try:
                self._members.create(target, project_id)
            except glance_exc.HTTPConflict:
                pass  # a member already
        self._say('image %s and its %d layers are shared with project %s'
                  % (image_id, len(manifest.layers), project_id))

    def unreferenced_layers(self, min_age, include_shared=False):
        """The project's layer images no manifest of the project names.

        Layers younger than ``min_age`` seconds (an import or snapshot may be
        about to name them) are left out, and so are layers other projects
        can read (their images may name them) unless ``include_shared``.
        """
        named = set()
        for image in self._images.list(filters={
                'owner': self._project,
                glance_layers.FORMAT_PROPERTY: glance_layers.FORMAT_VERSION}):
            if image['status'] != 'active':
                continue
            manifest = glance_layers.read_manifest(self._store, image['id'])
            named.update(layer.image for layer in manifest.layers)
        oldest = timeutils.utcnow(with_timezone=True) - datetime.timedelta(
            seconds=min_age)
        owned = self._images.list(filters={
            'owner': self._project,
            'container_format': glance_layers.LAYER_FORMAT})
        return [image for image in owned
                if image['id'] not in named and
                timeutils.parse_isotime(image['created_at']) <= oldest and
                (include_shared or image['visibility'] == 'private')]

    def collect(self, min_age, include_shared=False, delete=False):
        """List (and with ``delete``, delete) unreferenced layers."""
        found = self.unreferenced_layers(min_age, include_shared)
        for image in found:
            if delete:
                self._images.delete(image['id'])
            self._say('%s layer image %s (%s, %d bytes)' % (
                'deleted' if delete else 'unreferenced', image['id'],
                image['name'], image['size'] or 0))
        self._say('%d unreferenced layer images, %d bytes%s' % (
            len(found), sum(i['size'] or 0 for i in found),
            '' if delete else ' (dry run: --delete deletes them)'))


def _parser(argv):
    parser = argparse.ArgumentParser(
        prog='nova-zun-image',
        description='Layered container images in Glance.')
    ks_loading.register_session_argparse_arguments(parser)
    ks_loading.register_auth_argparse_arguments(parser, argv,
                                                default='password')
    parser.add_argument('--os-image-url',
                        default=os.environ.get('OS_IMAGE_URL'),
                        help='Glance\'s URL (default: env[OS_IMAGE_URL], '
                             'else the catalog\'s image endpoint)')
    commands = parser.add_subparsers(dest='command', required=True)
    imports = commands.add_parser(
        'import', help='store an image archive or a registry image as a '
                       'layered image')
    imports.add_argument('source', help='a docker save archive or an OCI '
                                        'image layout (a tar file), else a '
                                        'registry reference')
    imports.add_argument('--docker-url',
                         default=os.environ.get(
                             'DOCKER_HOST', 'unix:///var/run/docker.sock'),
                         help='the Docker engine that pulls a registry '
                              'reference (default: env[DOCKER_HOST], else '
                              'unix:///var/run/docker.sock)')
    imports.add_argument('--registry-username',
                         help='for the registry; the password is '
                              'env[%s]' % REGISTRY_PASSWORD)
    imports.add_argument('--name', required=True, help='the image\'s name')
    imports.add_argument('--visibility', choices=VISIBILITIES,
                         default='private',
                         help='of the image and its layers')
    share = commands.add_parser(
        'share', help='share a layered image and its layers with a project')
    share.add_argument('image', help='the image\'s Glance id')
    share.add_argument('project', help='the project\'s id')
    collect = commands.add_parser(
        'gc', help='list (or delete) layer images no image of the project '
                   'names')
    collect.add_argument('--delete', action='store_true',
                         help='delete them (default: only list them)')
    collect.add_argument('--min-age', type=int, default=3600,
                         help='seconds: younger layers are kept, an import '
                              'may be about to name them (default 3600)')
    collect.add_argument('--include-shared', action='store_true',
                         help='also layers other projects can read (images '
                              'of theirs may name them)')
    return parser


def _import(store, args):
    if os.path.isfile(args.source):
        return store.import_archive(args.source, args.name, args.visibility)
    auth = None
    if args.registry_username:
        auth = {'username': args.registry_username,
                'password': os.environ.get(REGISTRY_PASSWORD, '')}
    return store.import_reference(
        docker_runtime.DockerRuntime(args.docker_url), args.source,
        args.name, args.visibility, auth=auth)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(argv).parse_args(argv)
    try:
        auth = ks_loading.load_auth_from_argparse_arguments(args)
        session = ks_loading.load_session_from_argparse_arguments(args,
                                                                  auth=auth)
        client = glanceclient.Client('2', session=session,
                                     endpoint_override=args.os_image_url)
        store = LayerStore(client, session.get_project_id())
        if args.command == 'import':
            _import(store, args)
        elif args.command == 'share':
            store.share(args.image, args.project)
        else:
            store.collect(args.min_age, args.include_shared, args.delete)
    except (ToolError, glance_layers.InvalidManifest, glance_exc.BaseException,
            glance_exc.ClientException, ks_exceptions.ClientException,
            runtime_exception.ContainerRuntimeError) as exc:
        print('nova-zun-image: %s' % exc, file=sys.stderr)
        return 1
    return 0
