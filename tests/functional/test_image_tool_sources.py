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

"""``nova-zun-image import`` of an OCI image layout (gzip layers) and of a
registry reference (pulled by the suite's engine from a local registry
with credentials), into a real Glance behind the suite's Keystone; each
image boots through the driver's image step."""

import gzip
import hashlib
import io
import json
import re
import tarfile

import pytest

from nova_zun import glance_layers
from nova_zun import image_tool as image_tool_module
from tests.functional.glance_layers_support import boot  # noqa: F401
from tests.functional.glance_layers_support import delete_all_images
from tests.functional.glance_layers_support import exited
from tests.functional.glance_layers_support import glance_client
from tests.functional.glance_layers_support import image_tool
from tests.functional.glance_layers_support import nova_glance  # noqa: F401
from tests.functional.native_api_support import glance  # noqa: F401
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional.runtime_support import local_registry  # noqa: F401
from tests.functional.runtime_support import REGISTRY_PASSWORD
from tests.functional.runtime_support import REGISTRY_USERNAME


@pytest.fixture
def cleaned(identities, glance):
    """Every image of the test's Glance is deleted after the test."""
    yield
    delete_all_images(identities, glance)


def _digest(data):
    return 'sha256:' + hashlib.sha256(data).hexdigest()


def _oci_layout(saved, path):
    """Write an OCI layout of a docker save archive, layers gzipped."""
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        [entry] = json.load(tar.extractfile('manifest.json'))
        config = tar.extractfile(entry['Config']).read()
        layer_data = [tar.extractfile(p).read() for p in entry['Layers']]
    blobs = {}

    def blob(data):
        blobs['blobs/sha256/' + _digest(data)[7:]] = data
        return {'digest': _digest(data), 'size': len(data)}

    oci = 'application/vnd.oci.image.'
    manifest = json.dumps({
        'schemaVersion': 2, 'mediaType': oci + 'manifest.v1+json',
        'config': dict(blob(config), mediaType=oci + 'config.v1+json'),
        'layers': [dict(blob(gzip.compress(d)),
                        mediaType=oci + 'layer.v1.tar+gzip')
                   for d in layer_data],
    }).encode()
    index = {'schemaVersion': 2, 'manifests': [dict(
        blob(manifest),
        mediaType=oci + 'manifest.v1+json')]}
    with tarfile.open(path, 'w') as tar:
        for name, data in [('oci-layout', b'{"imageLayoutVersion": '
                            b'"1.0.0"}'),
                           ('index.json', json.dumps(index).encode())] + \
                sorted(blobs.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return json.loads(config)['rootfs']['diff_ids']


def _image_id(printed):
    return re.search(r'^image (\S+):', printed, re.M).group(1)


def _layer_digests(glance, identities, image_id):
    client = glance_client(identities, glance, 'alice')
    manifest = glance_layers.Manifest.parse(b''.join(
        client.images.data(image_id)))
    return [layer.digest for layer in manifest.layers]


def test_an_oci_layout_with_gzip_layers_imports_and_boots(
        keystone, glance, identities, runtime, test_image_refs, boot,
        cleaned, tmp_path):
    saved = b''.join(runtime.save_image(test_image_refs['printer']))
    path = str(tmp_path / 'oci.tar')
    diff_ids = _oci_layout(saved, path)
    printed = image_tool(keystone, glance, 'alice', 'import', '--name',
                         'from-oci', path)
    assert 'gzip' in printed
    image_id = _image_id(printed)
    assert diff_ids == _layer_digests(glance, identities, image_id)
    ref = boot('alice', image_id)
    with exited(runtime, ref, ['cat', '/bin/sh'], 'oci') as container:
        assert runtime.logs(container)


@pytest.fixture
def pushed(runtime, local_registry, test_image_refs):
    """A reference the registry holds and the engine does not name.

    The image is made of the printer test image plus a marker layer; it
    and its names are removed from the engine afterwards.
    """
    ref = '%s/zun-tool/app:v1' % local_registry.address
    with exited(runtime, test_image_refs['printer'],
                ['/bin/sh', '-c', 'echo from the registry > /marker'],
                'push') as container:
        image = runtime.commit(container)
    try:
        runtime.tag_image(image, ref.rpartition(':')[0], 'v1')
        runtime.push_image(ref, auth={'username': REGISTRY_USERNAME,
                                      'password': REGISTRY_PASSWORD})
        runtime.remove_image(ref)
        yield ref
    finally:
        for name in (ref, image):
            if runtime.image_exists(name):
                runtime.remove_image(name, force=True)


def test_a_registry_reference_imports_through_the_engine_and_boots(
        keystone, glance, identities, runtime, private_engine, pushed, boot,
        cleaned):
    printed = image_tool(
        keystone, glance, 'alice', 'import', '--name', 'from-registry',
        '--docker-url', private_engine.url,
        '--registry-username', REGISTRY_USERNAME, pushed,
        env={image_tool_module.REGISTRY_PASSWORD: REGISTRY_PASSWORD})
    assert REGISTRY_PASSWORD not in printed
    image_id = _image_id(printed)
    # The pull's name is gone again; the engine keeps no name of it.
    assert not runtime.image_exists(pushed)
    ref = boot('alice', image_id)
    with exited(runtime, ref, ['cat', '/marker'], 'registry') as container:
        assert b'from the registry\n' == runtime.logs(container)
