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

    nova-zun-image import --name myapp-1.0 myapp.tar   # docker save -o
    nova-zun-image share IMAGE PROJECT
    nova-zun-image gc [--delete]

``import`` stores each layer of a ``docker save`` archive as a layer image
of the caller's project, unless the project has it already (so an import
cut short resumes where it stopped), then the manifest. ``share`` makes an
image and its layers readable by another project; ``gc`` lists (and
deletes) the project's layers that none of its images names.
Authentication is keystoneauth's (``OS_*`` variables or ``--os-*``
options); Glance is the catalog's image endpoint, or ``--os-image-url``.
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import sys
import tarfile

import glanceclient
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading as ks_loading
from oslo_utils import timeutils

from nova_zun import layers
from nova_zun.runtime import archive_stream

#: Who may read an image, narrowest first: a layer is at least as readable
#: as the widest image that uses it.
VISIBILITIES = ('private', 'shared', 'community', 'public')


class ToolError(Exception):
    """What the tool says before it exits with 1."""


class _HashingReader:
    """A member's data for Glance's upload, hashed as it is read."""

    def __init__(self, fileobj):
        self._file = fileobj
        self.digest = hashlib.sha256()

    def read(self, size=-1):
        data = self._file.read(size)
        self.digest.update(data)
        return data


def _small(tar, member, what):
    if not member.isfile() or member.size > archive_stream.MAX_SMALL_MEMBER:
        raise ToolError('%s is not a file of at most %d bytes'
                        % (what, archive_stream.MAX_SMALL_MEMBER))
    return tar.extractfile(member).read()


def _archive_image(tar):
    """``(config bytes, [(digest, layer member)])`` of a one-image archive."""
    members = {archive_stream.normalized(m.name): m for m in tar}
    if archive_stream.MANIFEST not in members:
        raise ToolError('not a docker save archive: it has no %s'
                        % archive_stream.MANIFEST)
    try:
        entries = json.loads(_small(tar, members[archive_stream.MANIFEST],
                                    archive_stream.MANIFEST))
        [entry] = entries
        config_name = archive_stream.normalized(entry['Config'])
        paths = [archive_stream.normalized(p) for p in entry['Layers']]
    except (ValueError, TypeError, KeyError) as exc:
        raise ToolError('%s does not describe one image: %s'
                        % (archive_stream.MANIFEST, exc))
    if config_name not in members:
        raise ToolError('the archive has no config %s' % config_name)
    config = _small(tar, members[config_name], config_name)
    try:
        digests = layers.diff_ids(config)
    except layers.InvalidManifest as exc:
        raise ToolError(str(exc))
    if len(digests) != len(paths) or not all(
            p in members and members[p].isfile() for p in paths):
        raise ToolError('the archive does not hold the %d layers its config '
                        'lists' % len(digests))
    return config, list(zip(digests, (members[p] for p in paths)))


class LayerStore:
    """One project's layered images in Glance."""

    def __init__(self, client, project_id, out=sys.stdout):
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

    def find_layer(self, digest, size):
        """The project's own active layer image of ``digest``, or None.

        Only the project's own: another's could go away, and a digest alone
        never makes a layer usable.
        """
        for image in self._images.list(filters={
                'owner': self._project, 'status': 'active',
                'container_format': layers.LAYER_FORMAT,
                'os_hash_value': digest.partition(':')[2]}):
            if layers.glance_digest(image) == digest and \
                    image['size'] == size:
                return image
        return None

    def upload_layer(self, digest, size, data, visibility):
        image = self._images.create(
            name=digest, container_format=layers.LAYER_FORMAT,
            disk_format=layers.DISK_FORMAT, visibility=visibility)
        try:
            reader = _HashingReader(data)
            self._images.upload(image['id'], reader, image_size=size)
            found = 'sha256:' + reader.digest.hexdigest()
            if found != digest:
                raise ToolError('the archive\'s layer %s holds data of '
                                'digest %s' % (digest, found))
            layers.check_layer(layers.Layer(digest, size, image['id']),
                               self._images.get(image['id']))
        except Exception:
            self._images.delete(image['id'])
            raise
        return image

    def import_archive(self, path, name, visibility='private'):
        """Import a ``docker save`` archive; return the manifest's id."""
        try:
            tar = tarfile.open(path)
        except (OSError, tarfile.TarError) as exc:
            raise ToolError('cannot read %s: %s' % (path, exc))
        with tar:
            config, stack = _archive_image(tar)
            found, uploaded, sent = [], 0, 0
            for index, (digest, member) in enumerate(stack, 1):
                what = 'layer %d/%d %s (%d bytes)' % (
                    index, len(stack), digest, member.size)
                image = self.find_layer(digest, member.size)
                if image is None:
                    image = self.upload_layer(digest, member.size,
                                              tar.extractfile(member),
                                              visibility)
                    uploaded += 1
                    sent += member.size
                    self._say('%s: uploaded as image %s' % (what,
                                                            image['id']))
                else:
                    self._widen(image, visibility)
                    self._say('%s: already in Glance as image %s'
                              % (what, image['id']))
                found.append(layers.Layer(digest, member.size, image['id']))
        manifest = layers.Manifest(config, tuple(found)).to_json()
        image = self._images.create(
            name=name, container_format=layers.MANIFEST_FORMAT,
            disk_format=layers.DISK_FORMAT, visibility=visibility,
            **{layers.FORMAT_PROPERTY: layers.FORMAT_VERSION})
        self._images.upload(image['id'], io.BytesIO(manifest),
                            image_size=len(manifest))
        self._say('image %s: %d layers: %d uploaded (%d bytes), %d already '
                  'in Glance' % (image['id'], len(found), uploaded, sent,
                                 len(found) - uploaded))
        return image['id']

    def share(self, image_id, project_id):
        """Make an image and its layers readable by ``project_id``."""
        image = self._images.get(image_id)
        if image.get(layers.FORMAT_PROPERTY) != layers.FORMAT_VERSION:
            raise ToolError('image %s is not a layered image' % image_id)
        manifest = layers.Manifest.parse(b''.join(self._images.data(
            image_id)))
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
                layers.FORMAT_PROPERTY: layers.FORMAT_VERSION}):
            if image['status'] != 'active':
                continue
            manifest = layers.Manifest.parse(b''.join(self._images.data(
                image['id'])))
            named.update(layer.image for layer in manifest.layers)
        oldest = timeutils.utcnow(with_timezone=True) - datetime.timedelta(
            seconds=min_age)
        owned = self._images.list(filters={
            'owner': self._project, 'container_format': layers.LAYER_FORMAT})
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
        'import', help='store a docker save archive as a layered image')
    imports.add_argument('archive', help='a docker save archive (tar)')
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
            store.import_archive(args.archive, args.name, args.visibility)
        elif args.command == 'share':
            store.share(args.image, args.project)
        else:
            store.collect(args.min_age, args.include_shared, args.delete)
    except (ToolError, layers.InvalidManifest, glance_exc.BaseException,
            glance_exc.ClientException, ks_exceptions.ClientException) as exc:
        print('nova-zun-image: %s' % exc, file=sys.stderr)
        return 1
    return 0
