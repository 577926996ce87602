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

"""Layered images on a real Glance (glance-api from PyPI behind
keystonemiddleware against the suite's Keystone) and the suite's engine:
``nova-zun-image import`` stores each layer once, the boot path downloads
only the layers the engine lacks, with the booting user's token."""

import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid

from glanceclient import exc as glance_exc
from nova import exception
from nova import objects
import pytest

from nova_zun import glance_layers
from nova_zun import images
from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun_workshop.polling import wait_for
from tests.functional.glance_layers_support import boot  # noqa: F401
from tests.functional.glance_layers_support import context_of
from tests.functional.glance_layers_support import delete_all_images
from tests.functional.glance_layers_support import exited
from tests.functional.glance_layers_support import glance_client
from tests.functional.glance_layers_support import image_tool
from tests.functional.glance_layers_support import nova_glance  # noqa: F401
from tests.functional.native_api_support import glance  # noqa: F401
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401

BASE_BYTES = 64 * 1024 * 1024
MANIFEST = {'container_format': glance_layers.MANIFEST_FORMAT,
            'disk_format': 'raw',
            glance_layers.FORMAT_PROPERTY: glance_layers.FORMAT_VERSION}


def _commit(runtime, image, script):
    """An unnamed image of ``image`` after running ``script`` in it."""
    with exited(runtime, image, ['/bin/sh', '-c', script],
                'build') as container:
        return runtime.commit(container)


@pytest.fixture(scope='module')
def archives(runtime, test_image_refs):
    """``{'a': path, 'b': path}``: docker save archives of two images.

    Both are a base holding a 64 MiB file, plus a small layer of their own;
    built here, and none of them is left in the engine. The archives are
    removed after the module.
    """
    made = []
    directory = tempfile.mkdtemp(prefix='nova-zun-layers-')
    try:
        base = _commit(runtime, test_image_refs['sleeper'],
                       'head -c %d /dev/urandom > /base.bin' % BASE_BYTES)
        made.append(base)
        found = {}
        for name in ('a', 'b'):
            image = _commit(runtime, base, 'echo %s > /%s' % (name, name))
            made.append(image)
            found[name] = os.path.join(directory, '%s.tar' % name)
            with open(found[name], 'wb') as out:
                for chunk in runtime.save_image(image):
                    out.write(chunk)
        _remove_images(runtime, made)
        yield found
    finally:
        _remove_images(runtime, made)
        shutil.rmtree(directory)


def _remove_images(runtime, made):
    # Removing an image removes its unnamed parents too.
    for image in reversed(made):
        if runtime.image_exists(image):
            runtime.remove_image(image, force=True)


def _layer_images(client):
    return {i['id']: i for i in client.images.list(
        filters={'container_format': glance_layers.LAYER_FORMAT})}


@pytest.fixture(scope='module')
def imported(keystone, glance, identities, archives):
    """Glance ids of the two images, imported by alice one after the other.

    ``{'a': id, 'b': id, 'outputs': {...}, 'stored': {...}}``; every image of
    the test's Glance is deleted afterwards.
    """
    client = glance_client(identities, glance, 'alice')
    found = {'outputs': {}, 'stored': {}}
    try:
        for name in ('a', 'b'):
            before = _layer_images(client)
            out = image_tool(keystone, glance, 'alice', 'import',
                             '--name', 'layered-%s' % name, archives[name])
            found['outputs'][name] = out
            found[name] = re.search(r'^image (\S+):', out, re.M).group(1)
            found['stored'][name] = [
                i for key, i in _layer_images(client).items()
                if key not in before]
        yield found
    finally:
        delete_all_images(identities, glance)


def _cat(runtime, image, path):
    with exited(runtime, image, ['cat', path], 'check') as container:
        return runtime.logs(container)


def _layer_sizes(imported, name):
    return sorted(i['size'] for i in imported['stored'][name])


def test_the_second_import_stores_only_its_own_layer(imported):
    print(imported['outputs'])
    # The busybox root, the 64 MiB base, and a's own layer.
    assert 3 == len(imported['stored']['a'])
    assert BASE_BYTES < _layer_sizes(imported, 'a')[-1]
    [own] = imported['stored']['b']
    assert own['size'] < 1024 * 1024
    assert re.search(r'3 layers: 1 uploaded \(%d bytes\), 2 already in '
                     r'Glance' % own['size'], imported['outputs']['b'])


def test_a_second_image_boots_downloading_only_its_own_layer(
        imported, boot, runtime, caplog):
    caplog.set_level(logging.INFO, logger='nova_zun')
    boot('alice', imported['a'])
    caplog.clear()
    ref = boot('alice', imported['b'])
    [own] = imported['stored']['b']
    logged = caplog.text
    print(logged)
    assert re.search(r'Image %s: downloaded %d bytes of layers from Glance '
                     r'\(1 of 3 layers; 2 in the engine already\)'
                     % (imported['b'], own['size']), logged), logged
    assert b'b\n' == _cat(runtime, ref, '/b')
    assert b'a\n' == _cat(runtime, images.reference(imported['a']), '/a')


def _manifest(glance, identities, image_id):
    client = glance_client(identities, glance, 'alice')
    return glance_layers.Manifest.parse(b''.join(client.images.data(image_id)))


def test_concurrent_boots_download_each_missing_layer_once(
        imported, boot, glance, identities, caplog):
    caplog.set_level(logging.INFO, logger='nova_zun')
    threads = [threading.Thread(target=boot, args=('alice', imported[name]))
               for name in ('a', 'b')]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(caplog.text)
    downloaded = re.findall(r'downloaded (\d+) bytes of layers from Glance',
                            caplog.text)
    assert 2 == len(downloaded), caplog.text
    # The engine has the bottom layer (the test images'); the 64 MiB base
    # once, and each image's own layer.
    a, b = (_manifest(glance, identities, imported[n]) for n in 'ab')
    assert sum(layer.size for layer in a.layers[1:] + b.layers[2:]) == \
        sum(int(n) for n in downloaded)


def test_another_project_cannot_read_a_private_images_layers(
        imported, boot, glance, identities):
    alice = glance_client(identities, glance, 'alice')
    bob = glance_client(identities, glance, 'bob')
    [layer] = imported['stored']['b']
    with pytest.raises(glance_exc.HTTPNotFound):
        bob.images.get(layer['id'])
    with pytest.raises(exception.ImageNotFound):
        boot('bob', imported['b'])
    # A manifest of bob's own naming alice's layers (by id and digest)
    # gets nothing, although the engine holds those layers.
    boot('alice', imported['b'])
    manifest = b''.join(alice.images.data(imported['b']))
    copy = bob.images.create(name='copy', **MANIFEST)
    bob.images.upload(copy['id'], io.BytesIO(manifest))
    with pytest.raises(exception.ImageUnacceptable) as raised:
        boot('bob', copy['id'])
    assert 'cannot be read' in str(raised.value)
    # Nor do layers of bob's own that claim alice's digests.
    forged = json.loads(manifest)
    for claimed in forged['layers']:
        fake = bob.images.create(name=claimed['digest'],
                                 container_format='zun-layer',
                                 disk_format='raw')
        bob.images.upload(fake['id'], io.BytesIO(b'not that layer'))
        claimed.update(image=fake['id'], size=len(b'not that layer'))
    copy = bob.images.create(name='forged', **MANIFEST)
    bob.images.upload(copy['id'], io.BytesIO(json.dumps(forged).encode()))
    with pytest.raises(exception.ImageUnacceptable) as raised:
        boot('bob', copy['id'])
    assert 'Glance computed' in str(raised.value)


def test_another_project_boots_a_shared_image(imported, boot, keystone,
                                              glance, identities, runtime,
                                              caplog):
    caplog.set_level(logging.INFO, logger='nova_zun')
    image_tool(keystone, glance, 'alice', 'share', imported['b'],
               identities.project('bob'))
    bob = glance_client(identities, glance, 'bob')
    for layer in imported['stored']['b'] + imported['stored']['a']:
        if layer['size'] > 1024 * 1024:
            assert 'shared' == bob.images.get(layer['id'])['visibility']
    ref = boot('bob', imported['b'])
    assert b'b\n' == _cat(runtime, ref, '/b')


def test_a_layer_changed_in_glances_store_is_refused(imported, boot, glance,
                                                     runtime):
    [layer] = imported['stored']['b']
    path = os.path.join(glance.base_dir, 'images', layer['id'])
    with open(path, 'rb') as f:
        original = f.read()
    try:
        with open(path, 'wb') as f:
            f.write(bytes(len(original)))
        with pytest.raises(exception.ImageUnacceptable) as raised:
            boot('alice', imported['b'])
        # Glance's client checks its hash too, at the end of the data.
        assert 'layer image %s' % layer['id'] in str(raised.value)
        assert not runtime.image_exists(images.reference(imported['b']))
    finally:
        with open(path, 'wb') as f:
            f.write(original)


def _first_boot_of_b(boot, runtime, ids, caplog):
    """Bytes and seconds of the first boot of ``b`` on a host that ran ``a``.

    Both images are removed from the engine again.
    """
    boot('alice', ids['a'])
    caplog.clear()
    started = time.monotonic()
    boot('alice', ids['b'])
    seconds = time.monotonic() - started
    [downloaded] = re.findall(r'Image %s: downloaded (\d+) bytes from Glance'
                              % ids['b'], caplog.text)
    for image_id in (ids['b'], ids['a']):
        runtime.remove_image(images.reference(image_id), force=True)
    return int(downloaded), seconds


def test_layered_images_against_whole_archives(imported, archives, boot,
                                               glance, identities, runtime,
                                               caplog):
    caplog.set_level(logging.INFO, logger='nova_zun')
    alice = glance_client(identities, glance, 'alice')
    whole = {}
    for name in 'ab':
        image = alice.images.create(name='whole-' + name,
                                    container_format='docker',
                                    disk_format='raw')
        with open(archives[name], 'rb') as data:
            alice.images.upload(image['id'], data)
        whole[name] = image['id']
    whole_bytes, whole_seconds = _first_boot_of_b(boot, runtime, whole,
                                                  caplog)
    layered_bytes, layered_seconds = _first_boot_of_b(boot, runtime,
                                                      imported, caplog)
    # Glance's storage for ten images on the base, from the sizes stored.
    a, b = (_manifest(glance, identities, imported[n]) for n in 'ab')
    manifest_size = alice.images.get(imported['b'])['size']
    archive_size = alice.images.get(whole['b'])['size']
    layered_storage = sum(layer.size for layer in a.layers[:2]) + 10 * (
        b.layers[2].size + manifest_size)
    print('second image, first boot: %d bytes in %.2fs layered, %d bytes '
          'in %.2fs whole (bytes ratio %.5f, time ratio %.2f); Glance '
          'storage of 10 images on the base: %d bytes layered, %d whole '
          '(ratio %.3f)' % (
              layered_bytes, layered_seconds, whole_bytes, whole_seconds,
              layered_bytes / whole_bytes, layered_seconds / whole_seconds,
              layered_storage, 10 * archive_size,
              layered_storage / (10 * archive_size)))
    assert b.layers[2].size == layered_bytes
    assert archive_size == whole_bytes


def test_a_snapshot_uploads_only_its_new_layer(imported, boot, nova_glance,
                                               identities, runtime, caplog):
    caplog.set_level(logging.INFO, logger='nova_zun')
    ref = boot('alice', imported['b'])
    context = context_of(identities, 'alice')
    container = runtime.create_container(types.ContainerSpec(
        name='layers-snap-%s' % uuid.uuid4().hex[:8], image=ref,
        command=['/bin/sh', '-c', 'head -c 1048576 /dev/urandom > /new; '
                                  'mv /new /snap; sleep 600'],
        labels={labels.INSTANCE: 'layers-snap'}))
    try:
        runtime.start(container)
        # As Nova makes it: the server's image properties are inherited.
        snapshot = nova_glance.create(context, {
            'name': 'snap', 'container_format': 'docker',
            'disk_format': 'raw', 'properties': {
                glance_layers.FORMAT_PROPERTY: glance_layers.FORMAT_VERSION}})
        instance = objects.Instance(uuid=str(uuid.uuid4()),
                                    project_id=context.project_id,
                                    image_ref=imported['b'], os_type=None)
        wait_for(lambda: runtime.exec(container, ['ls', '/snap'])
                 .exit_code == 0, 'the 1 MiB file')
        images.snapshot(context, runtime, nova_glance, container, instance,
                        snapshot['id'], lambda **kwargs: None)
    finally:
        runtime.remove(container, force=True)
    print(caplog.text)
    uploaded = int(re.search(r'Uploaded (\d+) bytes in 1 new layers of the '
                             r'snapshot to Glance; 3 layers already in '
                             r'Glance', caplog.text).group(1))
    assert 1024 * 1024 < uploaded < 1024 * 1024 + 64 * 1024
    assert nova_glance.get(context, snapshot['id'])['size'] < 64 * 1024
    # Booted where the engine lacks only its new layer.
    runtime.remove_image(images.reference(snapshot['id']), force=True)
    caplog.clear()
    assert b'1048576\n' == _file_size(runtime, boot('alice', snapshot['id']),
                                      '/snap')
    assert re.search(r'downloaded %d bytes of layers from Glance \(1 of 4 '
                     r'layers' % uploaded, caplog.text), caplog.text


def _file_size(runtime, image, path):
    with exited(runtime, image, ['/bin/sh', '-c', 'wc -c < %s' % path],
                'check') as container:
        return runtime.logs(container)


def test_gc_removes_the_layers_no_image_names(imported, keystone, glance,
                                              identities):
    alice = glance_client(identities, glance, 'alice')
    project = identities.project('alice')

    def own_layers():
        return {i['id']: i['visibility'] for i in alice.images.list(
            filters={'owner': project,
                     'container_format': glance_layers.LAYER_FORMAT})}

    def gc(*args):
        return image_tool(keystone, glance, 'alice', 'gc', '--min-age',
                          '0', *args)

    assert re.search(r'^0 unreferenced layer images',
                     gc('--include-shared'), re.M)
    for image in list(alice.images.list(filters={
            'owner': project,
            glance_layers.FORMAT_PROPERTY: glance_layers.FORMAT_VERSION})):
        alice.images.delete(image['id'])
    before = own_layers()
    assert re.search(r'^%d unreferenced layer images, \d+ bytes \(dry run'
                     % list(before.values()).count('private'), gc(), re.M)
    assert before == own_layers()
    gc('--delete')
    assert {k: v for k, v in before.items() if v != 'private'} == \
        own_layers()
    gc('--delete', '--include-shared')
    assert {} == own_layers()
