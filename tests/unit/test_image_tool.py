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

"""``nova-zun-image``'s decisions: which archives it accepts, which layers
it uploads, reuses, widens and collects. Glance is an autospecced client
whose calls act on a dict of images; the real Glance is in
tests/functional/test_glance_layers.py."""

import datetime
import gzip
import hashlib
import io
import json
import tarfile
from unittest import mock
import uuid

from glanceclient.v2 import image_members
from glanceclient.v2 import images
import pytest

from nova_zun import glance_layers
from nova_zun import image_tool
from nova_zun.runtime import docker as docker_runtime

PROJECT = 'p-owner'
OTHER = 'p-other'


def _digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _archive(path, layer_data, manifest=None, config=None, skip=()):
    """A docker save archive of one image with ``layer_data`` as layers."""
    diff_ids = [_digest(d) for d in layer_data]
    config = config if config is not None else json.dumps(
        {'rootfs': {'type': 'layers', 'diff_ids': diff_ids}}).encode()
    names = ['%d/layer.tar' % i for i in range(len(layer_data))]
    manifest = manifest if manifest is not None else [
        {'Config': 'config.json', 'Layers': names}]
    with tarfile.open(path, 'w') as tar:
        _add(tar, 'manifest.json', json.dumps(manifest).encode())
        _add(tar, 'config.json', config)
        for name, data in zip(names, layer_data):
            if name not in skip:
                _add(tar, name, data)
    return str(path)


class GlanceImages:
    """Images by id; the autospecced controllers' calls act on them."""

    def __init__(self, now):
        self.images = {}
        self.members = []
        self._now = now
        self.controller = mock.create_autospec(images.Controller,
                                               instance=True)
        for name in ('list', 'create', 'upload', 'get', 'update', 'delete',
                     'data'):
            getattr(self.controller, name).side_effect = getattr(self, name)
        self.member_controller = mock.create_autospec(
            image_members.Controller, instance=True)
        self.member_controller.create.side_effect = (
            lambda image, member: self.members.append((image, member)))

    def add(self, owner=PROJECT, data=None, age=7200, **fields):
        image_id = str(uuid.uuid4())
        created = self._now - datetime.timedelta(seconds=age)
        self.images[image_id] = dict(
            dict(visibility='private', status='queued', size=None),
            id=image_id, owner=owner, created_at=created.isoformat(),
            **fields)
        if data is not None:
            self.upload(image_id, io.BytesIO(data), len(data))
        return self.images[image_id]

    def list(self, filters):
        for image in list(self.images.values()):
            if all(str(image.get(k)) == str(v) for k, v in filters.items()):
                yield image

    def create(self, **fields):
        return self.add(age=0, **fields)

    def upload(self, image_id, data, image_size):
        body = data.read()
        self.images[image_id].update(
            status='active', size=len(body), data=body,
            os_hash_algo='sha256',
            os_hash_value=hashlib.sha256(body).hexdigest())

    def get(self, image_id):
        return self.images[image_id]

    def update(self, image_id, **fields):
        self.images[image_id].update(fields)

    def delete(self, image_id):
        del self.images[image_id]

    def data(self, image_id):
        return iter([self.images[image_id]['data']])

    def layers(self):
        return [i for i in self.images.values()
                if i.get('container_format') == glance_layers.LAYER_FORMAT]


@pytest.fixture
def glance():
    return GlanceImages(datetime.datetime.now(datetime.timezone.utc))


@pytest.fixture
def store(glance):
    client = mock.Mock(spec=['images', 'image_members'])
    client.images = glance.controller
    client.image_members = glance.member_controller
    return image_tool.LayerStore(client, PROJECT, out=io.StringIO())


def _add_layer(glance, data, owner=PROJECT, visibility='private', age=7200):
    return glance.add(owner=owner, data=data, age=age, name=_digest(data),
                      visibility=visibility,
                      container_format=glance_layers.LAYER_FORMAT)


def _manifest(layer_images):
    """The bytes import_archive would store for these layer images."""
    config = json.dumps({'rootfs': {'type': 'layers', 'diff_ids': [
        _digest(i['data']) for i in layer_images]}}).encode()
    return glance_layers.Manifest(config, tuple(
        glance_layers.Layer(_digest(i['data']), i['size'], i['id'])
        for i in layer_images)).to_json()


@pytest.mark.parametrize('manifest, skip, message', [
    ([], (), 'does not describe one image'),
    ([{'Config': 'config.json', 'Layers': []}] * 2, (),
     'does not describe one image'),
    ([{'Config': 'other.json', 'Layers': []}], (), 'has no file other.json'),
    (None, ('1/layer.tar',), 'has no file 1/layer.tar'),
])
def test_import_refuses_an_archive_that_is_not_one_whole_image(
        tmp_path, store, glance, manifest, skip, message):
    path = _archive(tmp_path / 'a.tar', [b'base', b'top'], manifest=manifest,
                    skip=skip)
    with pytest.raises(image_tool.ToolError, match=message):
        store.import_archive(path, 'app')
    assert glance.images == {}


def test_import_refuses_a_file_that_is_no_archive(tmp_path, store):
    path = tmp_path / 'not.tar'
    path.write_bytes(b'not a tar file at all')
    with pytest.raises(image_tool.ToolError, match='cannot read'):
        store.import_archive(str(path), 'app')


def test_import_uploads_only_layers_the_project_lacks(tmp_path, store,
                                                      glance):
    base = _add_layer(glance, b'base')
    _add_layer(glance, b'top', owner=OTHER, visibility='public')
    path = _archive(tmp_path / 'a.tar', [b'base', b'top'])

    image_id = store.import_archive(path, 'app')

    own_top = [i for i in glance.layers()
               if i['owner'] == PROJECT and i['data'] == b'top']
    assert len(own_top) == 1, 'another project\'s layer is never reused'
    assert [c.args[0] for c in glance.controller.upload.call_args_list
            ] == [own_top[0]['id'], image_id]
    manifest = glance_layers.Manifest.parse(glance.images[image_id]['data'])
    assert [layer.image for layer in manifest.layers] == [
        base['id'], own_top[0]['id']]
    assert glance.images[image_id][glance_layers.FORMAT_PROPERTY] == \
        glance_layers.FORMAT_VERSION


def test_import_deletes_a_layer_whose_data_is_not_its_digest(tmp_path,
                                                             store, glance):
    config = json.dumps({'rootfs': {'type': 'layers',
                                    'diff_ids': [_digest(b'claimed')]}})
    path = _archive(tmp_path / 'a.tar', [b'actual'], config=config.encode())
    with pytest.raises(glance_layers.InvalidManifest, match='of digest'):
        store.import_archive(path, 'app')
    assert glance.images == {}, 'no layer and no manifest is left'


def test_import_widens_a_reused_layer_and_never_narrows_one(tmp_path, store,
                                                            glance):
    private = _add_layer(glance, b'base')
    public = _add_layer(glance, b'top', visibility='public')
    path = _archive(tmp_path / 'a.tar', [b'base', b'top'])

    store.import_archive(path, 'app', visibility='shared')

    assert private['visibility'] == 'shared'
    assert public['visibility'] == 'public'


def test_share_adds_the_member_to_the_image_and_every_layer(store, glance):
    layer_images = [_add_layer(glance, b'base'), _add_layer(glance, b'top')]
    image = glance.add(data=_manifest(layer_images),
                       container_format=glance_layers.MANIFEST_FORMAT,
                       **{glance_layers.FORMAT_PROPERTY:
                          glance_layers.FORMAT_VERSION})
    glance.member_controller.create.side_effect = [
        None, image_tool.glance_exc.HTTPConflict(), None]

    store.share(image['id'], OTHER)

    shared = [image] + layer_images
    assert [c.args for c in glance.member_controller.create.call_args_list
            ] == [(i['id'], OTHER) for i in shared]
    assert {i['visibility'] for i in shared} == {'shared'}


def test_share_refuses_an_image_that_is_not_layered(store, glance):
    image = glance.add(data=b'whole archive',
                       container_format=glance_layers.MANIFEST_FORMAT)
    with pytest.raises(image_tool.ToolError, match='not a layered image'):
        store.share(image['id'], OTHER)
    glance.member_controller.create.assert_not_called()


def test_gc_finds_only_old_private_layers_no_image_names(store, glance):
    named = _add_layer(glance, b'named')
    glance.add(data=_manifest([named]),
               container_format=glance_layers.MANIFEST_FORMAT,
               **{glance_layers.FORMAT_PROPERTY: glance_layers.FORMAT_VERSION})
    orphan = _add_layer(glance, b'orphan')
    _add_layer(glance, b'young', age=10)
    shared = _add_layer(glance, b'shared', visibility='shared')
    _add_layer(glance, b'theirs', owner=OTHER)

    assert [i['id'] for i in store.unreferenced_layers(3600)] == [
        orphan['id']]
    assert [i['id'] for i in store.unreferenced_layers(
        3600, include_shared=True)] == [orphan['id'], shared['id']]


def test_gc_deletes_only_with_delete(store, glance):
    orphan = _add_layer(glance, b'orphan')
    store.collect(3600)
    assert orphan['id'] in glance.images
    store.collect(3600, delete=True)
    assert orphan['id'] not in glance.images


def test_main_reports_a_tool_error_and_exits_1(tmp_path, capsys):
    path = tmp_path / 'not.tar'
    path.write_bytes(b'junk')
    with mock.patch.object(image_tool.ks_loading,
                           'load_session_from_argparse_arguments',
                           autospec=True) as session, \
            mock.patch.object(image_tool.glanceclient, 'Client',
                              autospec=True):
        session.return_value.get_project_id.return_value = PROJECT
        status = image_tool.main(['--os-auth-type', 'none', 'import',
                                  '--name', 'app', str(path)])
    assert status == 1
    assert capsys.readouterr().err.startswith('nova-zun-image: cannot read')


_OCI_TAR = 'application/vnd.oci.image.layer.v1.tar'
_OCI_GZIP = _OCI_TAR + '+gzip'


def _oci_layout(path, layer_data, media=(_OCI_GZIP, _OCI_TAR),
                config=None, extra=()):
    """An OCI image layout of one image; the layers as ``media`` says."""
    blobs = {}

    def blob(data):
        blobs['blobs/sha256/' + _digest(data)[7:]] = data
        return _digest(data)

    config = config if config is not None else json.dumps({'rootfs': {
        'type': 'layers', 'diff_ids': [_digest(d) for d in layer_data]}})
    descriptors = [{'mediaType': m, 'digest': blob(
        gzip.compress(d) if m.endswith('gzip') else d), 'size': 1}
        for d, m in zip(layer_data, media)]
    manifest = json.dumps({'config': {'digest': blob(config.encode())},
                           'layers': descriptors}).encode()
    index = {'manifests': [{'digest': blob(manifest)}]}
    with tarfile.open(path, 'w') as tar:
        _add(tar, 'oci-layout', b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, 'index.json', json.dumps(index).encode())
        for name, data in list(blobs.items()) + list(extra):
            _add(tar, name, data)
    return str(path)


def test_import_of_an_oci_layout_stores_gzip_layers_by_their_diff_id(
        tmp_path, store, glance):
    path = _oci_layout(tmp_path / 'oci.tar', [b'base', b'top'])
    image_id = store.import_archive(path, 'app')
    manifest = glance_layers.Manifest.parse(glance.images[image_id]['data'])
    stored = [glance.images[layer.image]['data']
              for layer in manifest.layers]
    assert [b'base', b'top'] == stored, 'uncompressed, bottom first'
    assert [_digest(b'base'), _digest(b'top')] == [
        layer.digest for layer in manifest.layers]


def test_import_of_an_oci_layout_reuses_a_layer_of_any_size(tmp_path,
                                                            store, glance):
    base = _add_layer(glance, b'base')
    path = _oci_layout(tmp_path / 'oci.tar', [b'base', b'top'])
    image_id = store.import_archive(path, 'app')
    manifest = glance_layers.Manifest.parse(glance.images[image_id]['data'])
    assert base['id'] == manifest.layers[0].image


@pytest.mark.parametrize('changes, message', [
    (dict(media=('application/vnd.oci.image.layer.v1.tar+zstd',)),
     'only tar and tar\\+gzip'),
    (dict(config=json.dumps({'rootfs': {'type': 'layers', 'diff_ids': [
        _digest(b'other')]}})), 'of digest'),
    (dict(extra=[('index.json', b'{}')]), 'two members index.json'),
])
def test_import_refuses_an_oci_layout_it_cannot_trust(tmp_path, store,
                                                      glance, changes,
                                                      message):
    path = _oci_layout(tmp_path / 'oci.tar', [b'base'], **changes)
    with pytest.raises((image_tool.ToolError,
                        glance_layers.InvalidManifest), match=message):
        store.import_archive(path, 'app')
    assert glance.images == {}


def test_import_refuses_an_oci_blob_that_is_not_its_digest(tmp_path, store,
                                                           glance):
    path = _oci_layout(tmp_path / 'oci.tar', [b'base'])
    with tarfile.open(path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]
    with tarfile.open(path, 'w') as tar:
        for name, data in members:
            _add(tar, name, b'{"forged": 1}' if name.startswith(
                'blobs/') and data.startswith(b'{"config"') else data)
    with pytest.raises(image_tool.ToolError, match='not of its digest'):
        store.import_archive(path, 'app')


def test_import_refuses_an_archive_with_too_many_members(tmp_path, store,
                                                         monkeypatch):
    monkeypatch.setattr(image_tool.archive_stream, 'MAX_MEMBERS', 2)
    path = _archive(tmp_path / 'a.tar', [b'base', b'top'])
    with pytest.raises(image_tool.ToolError, match='over 2 members'):
        store.import_archive(path, 'app')


def test_import_of_a_reference_pulls_saves_and_removes_the_name(
        tmp_path, store, glance):
    runtime = mock.create_autospec(docker_runtime.DockerRuntime,
                                   instance=True)
    runtime.image_exists.side_effect = [False, True]
    runtime.pull_image.return_value = 'sha256:image'
    saved = _archive(tmp_path / 'saved.tar', [b'base', b'top'])
    runtime.save_image.side_effect = lambda image: iter(
        [open(saved, 'rb').read()])
    _add_layer(glance, b'base')

    image_id = store.import_reference(runtime, 'registry:5000/app:1', 'app')

    runtime.pull_image.assert_called_once_with('registry:5000/app:1',
                                               auth=None)
    # Once to hash the layers, once to upload the one Glance lacks.
    assert [mock.call('sha256:image')] * 2 == \
        runtime.save_image.call_args_list
    runtime.remove_image.assert_called_once_with('registry:5000/app:1')
    manifest = glance_layers.Manifest.parse(glance.images[image_id]['data'])
    assert [b'base', b'top'] == [glance.images[layer.image]['data']
                                 for layer in manifest.layers]


def test_the_progress_bar_is_off_when_stdout_is_no_terminal(capsys):
    data = image_tool._terminal_progress(io.BytesIO(b'x' * 10), 10)
    assert b'x' * 10 == data.read()
    assert '' == capsys.readouterr().out


def test_the_progress_bar_shows_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(image_tool.progressbar.sys.stdout, 'isatty',
                        lambda: True)
    data = image_tool._terminal_progress(io.BytesIO(b'x' * 10), 10)
    data.read(5)
    assert '50%' in capsys.readouterr().out
