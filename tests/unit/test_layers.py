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

"""Layered images: the manifest's checks, layer checks, the archive made
from layers."""

import hashlib
import io
import json
import tarfile
from unittest import mock

import pytest

from nova_zun import glance_layers
from nova_zun.runtime import layered_archive

LAYER = b'layer data'
DIGEST = 'sha256:' + hashlib.sha256(LAYER).hexdigest()
IMAGE = '0b7f6c1c-9d4a-4c55-bb0e-1f1c2a8a6f00'
CONFIG = json.dumps({'rootfs': {'type': 'layers', 'diff_ids': [DIGEST]}})


def _manifest(**changes):
    doc = {'format': glance_layers.FORMAT_VERSION, 'config': CONFIG,
           'layers': [{'digest': DIGEST, 'size': len(LAYER),
                       'image': IMAGE}]}
    doc.update(changes)
    return json.dumps(doc).encode()


def test_a_manifest_round_trips():
    manifest = glance_layers.Manifest.parse(_manifest())
    assert (DIGEST, len(LAYER), IMAGE) == (
        manifest.layers[0].digest, manifest.layers[0].size,
        manifest.layers[0].image)
    assert manifest == glance_layers.Manifest.parse(manifest.to_json())


@pytest.mark.parametrize('data, words', [
    (b'x' * (glance_layers.MAX_MANIFEST + 1), 'over'),
    (b'[', 'not JSON'),
    (_manifest(format='other'), 'format'),
    (_manifest(config=7), 'no config'),
    (_manifest(layers=[]), '1 to'),
    (_manifest(layers=[{'digest': 'sha256:../x', 'size': 1,
                        'image': IMAGE}]), 'digest'),
    (_manifest(layers=[{'digest': DIGEST, 'size': True, 'image': IMAGE}]),
     'size'),
    (_manifest(layers=[{'digest': DIGEST, 'size': 1, 'image': '../x'}]),
     'no Glance image'),
    (_manifest(config=json.dumps({'rootfs': {'type': 'layers',
                                             'diff_ids': []}})),
     'not those of its config'),
])
def test_a_bad_manifest_says_what_is_wrong(data, words):
    with pytest.raises(glance_layers.InvalidManifest, match=words):
        glance_layers.Manifest.parse(data)


def _glance_layer(**changes):
    image = {'container_format': glance_layers.LAYER_FORMAT,
             'status': 'active',
             'os_hash_algo': 'sha256', 'os_hash_value': DIGEST[7:],
             'size': len(LAYER)}
    image.update(changes)
    return image


def test_a_layer_is_what_glance_computed():
    layer = glance_layers.Layer(DIGEST, len(LAYER), IMAGE)
    glance_layers.check_layer(layer, _glance_layer())
    for changes, words in ((dict(os_hash_value='0' * 64), 'Glance computed'),
                           (dict(os_hash_algo='sha512'), 'hashing_algorithm'),
                           (dict(container_format='docker'), 'no active')):
        with pytest.raises(glance_layers.InvalidManifest, match=words):
            glance_layers.check_layer(layer, _glance_layer(**changes))


def test_chain_ids_follow_the_oci_image_spec():
    a, b = 'sha256:' + 'a' * 64, 'sha256:' + 'b' * 64
    assert [a, 'sha256:' + hashlib.sha256(
        ('%s %s' % (a, b)).encode()).hexdigest()] == \
        layered_archive.chain_ids([a, b])


def test_the_archive_holds_only_the_layers_given():
    other = 'sha256:' + 'c' * 64
    data = b''.join(layered_archive.archive(
        CONFIG.encode(), [other, DIGEST],
        [(DIGEST, len(LAYER), [LAYER[:3], LAYER[3:]])]))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar}
    config_name = hashlib.sha256(CONFIG.encode()).hexdigest() + '.json'
    assert {DIGEST[7:] + '/layer.tar': LAYER, config_name: CONFIG.encode(),
            'manifest.json': json.dumps([{
                'Config': config_name,
                'Layers': ['c' * 64 + '/layer.tar',
                           DIGEST[7:] + '/layer.tar']}]).encode()} == files


@pytest.mark.parametrize('chunks', [[LAYER[:3]], [LAYER, b'more']])
def test_a_layer_of_another_size_ends_the_archive_early(chunks):
    data = b''.join(layered_archive.archive(
        CONFIG.encode(), [DIGEST], [(DIGEST, len(LAYER), chunks)]))
    assert b'manifest.json' not in data


def _store(listed):
    store = mock.create_autospec(glance_layers.ImageStore, instance=True)
    store.project_id = 'own'
    store.own_layers.return_value = listed
    return store


def test_only_a_layer_of_the_callers_own_project_is_reused():
    theirs = dict(_glance_layer(), id=IMAGE, owner='other')
    uploader = glance_layers.LayerUploader(_store([theirs]))
    assert uploader.held(DIGEST, len(LAYER), 'layer') is None
    own = dict(theirs, owner='own')
    uploader = glance_layers.LayerUploader(_store([own]))
    assert glance_layers.Layer(DIGEST, len(LAYER), IMAGE) == uploader.held(
        DIGEST, None, 'layer')


def test_an_upload_that_is_not_its_layer_is_deleted():
    store = _store([])
    store.create_layer.side_effect = (
        lambda digest, data, size, visibility: data.read() and IMAGE)
    uploader = glance_layers.LayerUploader(store)
    with pytest.raises(glance_layers.InvalidManifest, match='of digest'):
        uploader.upload(DIGEST, None, io.BytesIO(b'other data'), 'layer')
    store.delete.assert_called_once_with(IMAGE)
