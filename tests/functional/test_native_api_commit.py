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

"""commit to a real Glance (glance-api from PyPI on sqlite and a file
store, behind keystonemiddleware against the suite's Keystone): the
image is the container's filesystem, in the caller's project, and the
engine keeps no copy; another project gets 404 and no image."""

import io
import logging
import re
import time
import uuid

import docker
from glanceclient import exc as glance_exc
from nova import exception
import pytest
from zunclient import client as zun_client

from nova_zun import glance_layers
from nova_zun import images
from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun_workshop.images import COMMANDS
from nova_zun_workshop import native_api_server as server_tool
from nova_zun_workshop.native_api_setup import SERVICE_USER
from nova_zun_workshop.native_api_setup import start_workload
from tests.functional.glance_layers_support import boot  # noqa: F401
from tests.functional.glance_layers_support import delete_all_images
from tests.functional.glance_layers_support import exited
from tests.functional.glance_layers_support import glance_client
from tests.functional.glance_layers_support import image_tool
from tests.functional.glance_layers_support import nova_glance  # noqa: F401
from tests.functional.native_api_support import assert_documented
from tests.functional.native_api_support import assert_zun_error
from tests.functional.native_api_support import Caller
from tests.functional.native_api_support import glance  # noqa: F401
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional.native_api_support import workloads  # noqa: F401
from tests.functional.runtime_support import wait_for_state


@pytest.fixture(scope='module')
def native_api(private_engine, keystone, glance):
    """A native API for host1 whose image endpoint is the Glance above.

    The suite's catalog has no image endpoint, for the other tests' sake.
    """
    server = server_tool.NativeApiServer('host1', private_engine.url,
                                         keystone.url, *SERVICE_USER)
    server.set('native_api', glance_endpoint=glance.url)
    with server.running():
        yield server


def _engine_images(runtime):
    return {i.id for i in runtime.list_images()}


def _names_given(runtime, since):
    """The names the engine gave images since ``since``, from its events.

    ``since`` is in seconds since the epoch; the names come from the engine's
    image events.
    """
    api = docker.APIClient(base_url=runtime.base_url, version='auto')
    try:
        return [event['Actor']['Attributes']['name'] for event in api.events(
            since=since, until=time.time() + 1, decode=True,
            filters={'type': 'image', 'event': 'tag'})]
    finally:
        api.close()


def test_commit_uploads_the_filesystem_to_glance_as_the_caller(
        native_api, glance, identities, workloads, runtime):
    instance = workloads(identities.project('alice'))
    workload = 'nova-' + instance
    runtime.exec(workload, ['sh', '-c', 'echo by alice > /committed'])
    before = _engine_images(runtime)
    since = time.time()
    alice = Caller(native_api.url, identities.token('alice'))
    response = alice.post('/v1/containers/%s/commit' % instance,
                          params={'repository': 'alice/snap', 'tag': 'v1'})
    assert 202 == response.status_code, response.text
    # Committed, saved and removed by id: no name was ever given.
    assert [] == _names_given(runtime, since)
    assert_documented('commit', response)
    image_id = response.json()['uuid']
    images = glance_client(identities, glance, 'alice').images
    try:
        image = images.get(image_id)
        assert ('alice/snap', 'docker', 'raw', 'active', ['v1']) == (
            image['name'], image['container_format'], image['disk_format'],
            image['status'], image['tags'])
        assert identities.project('alice') == image['owner']
        # The engine keeps no copy; the workload runs again.
        assert before == _engine_images(runtime)
        assert 'running' == runtime.status(workload).state.value
        # The data is a docker save archive of the container's filesystem.
        loaded = runtime.load_image(images.data(image_id))
        try:
            check = runtime.create_container(types.ContainerSpec(
                name='commit-check-%s' % uuid.uuid4().hex[:8],
                image=loaded[0], command=['cat', '/committed'],
                labels={labels.INSTANCE: instance}))
            try:
                runtime.start(check)
                wait_for_state(runtime, check, types.ContainerState.EXITED)
                assert b'by alice\n' == runtime.logs(check)
            finally:
                runtime.remove(check, force=True)
        finally:
            for reference in loaded:
                runtime.remove_image(reference, force=True)
    finally:
        images.delete(image_id)


def test_zunclient_commits_and_prints_the_image(native_api, glance,
                                                identities, workloads):
    instance = workloads(identities.project('alice'))
    zun = zun_client.Client('1.latest', session=identities.session('alice'),
                            endpoint_override=native_api.url + '/v1')
    image_id = zun.containers.commit(instance, 'by-client')['uuid']
    images = glance_client(identities, glance, 'alice').images
    try:
        assert 'by-client' == images.get(image_id)['name']
    finally:
        images.delete(image_id)


def test_another_project_gets_404_and_no_image(native_api, glance,
                                               identities, workloads,
                                               runtime):
    instance = workloads(identities.project('alice'))
    admin_images = glance_client(identities, glance, 'admin').images
    before = {i['id'] for i in admin_images.list()}
    engine_before = _engine_images(runtime)
    bob = Caller(native_api.url, identities.token('bob'))
    assert_zun_error(bob.post('/v1/containers/%s/commit' % instance,
                              params={'repository': 'stolen'}), 404)
    assert before == {i['id'] for i in admin_images.list()}
    assert engine_before == _engine_images(runtime)
    assert 'running' == runtime.status('nova-' + instance).state.value


@pytest.fixture
def layered_workload(runtime, test_image_refs, keystone, glance, identities,
                     tmp_path):
    """A workload of alice's of a layered image she imported.

    ``(instance uuid, Glance id of its image)``: the image is the sleeper
    test image plus a small layer. Every image of the test's Glance and of
    the engine it made is removed afterwards.
    """
    made, instances = [], []
    try:
        with exited(runtime, test_image_refs['sleeper'],
                    ['/bin/sh', '-c', 'echo base > /base'],
                    'build') as container:
            made.append(runtime.commit(container))
        archive = tmp_path / 'base.tar'
        with open(archive, 'wb') as out:
            for chunk in runtime.save_image(made[0]):
                out.write(chunk)
        printed = image_tool(keystone, glance, 'alice', 'import', '--name',
                             'layered-base', str(archive))
        image_id = re.search(r'^image (\S+):', printed, re.M).group(1)
        # The engine's image of the archive is the image's (its id is the
        # config's digest), named as the driver names what it loads.
        runtime.tag_image(made[0], 'glance/%s' % image_id, 'latest')
        made.append(images.reference(image_id))
        instances.append(start_workload(
            runtime, images.reference(image_id), identities.project('alice'),
            command=COMMANDS['sleeper']))
        yield instances[0], image_id
    finally:
        for instance in instances:
            for c in runtime.list_containers({labels.INSTANCE: instance}):
                runtime.remove(c.id, force=True)
        for image in reversed(made):
            if runtime.image_exists(image):
                runtime.remove_image(image, force=True)
        delete_all_images(identities, glance)


def test_commit_of_a_layered_image_uploads_only_its_new_layer(
        native_api, glance, identities, layered_workload, runtime, boot,
        caplog):
    instance, base_id = layered_workload
    runtime.exec('nova-' + instance, [
        'sh', '-c', 'head -c 1048576 /dev/urandom > /new && mv /new /written'])
    alice_images = glance_client(identities, glance, 'alice').images
    layers_before = {i['id'] for i in alice_images.list(
        filters={'container_format': glance_layers.LAYER_FORMAT})}
    alice = Caller(native_api.url, identities.token('alice'))
    response = alice.post('/v1/containers/%s/commit' % instance,
                          params={'repository': 'alice/layered'})
    assert 202 == response.status_code, response.text
    image_id = response.json()['uuid']
    image = alice_images.get(image_id)
    print({k: image.get(k) for k in ('container_format', 'size',
                                     glance_layers.FORMAT_PROPERTY)})
    assert glance_layers.FORMAT_VERSION == image.get(
        glance_layers.FORMAT_PROPERTY)
    assert image['size'] < 64 * 1024
    new = [i for i in alice_images.list(
        filters={'container_format': glance_layers.LAYER_FORMAT})
        if i['id'] not in layers_before]
    print([(i['name'], i['size'], i['visibility']) for i in new])
    [layer] = new
    assert 1024 * 1024 < layer['size'] < 1024 * 1024 + 64 * 1024
    assert ('private', identities.project('alice')) == (
        layer['visibility'], layer['owner'])
    manifest, base = (glance_layers.Manifest.parse(b''.join(
        alice_images.data(i))) for i in (image_id, base_id))
    assert base.layers == manifest.layers[:-1]
    # It boots, where the engine holds the base: only the new layer moves.
    caplog.set_level(logging.INFO, logger='nova_zun')
    written = boot('alice', image_id)
    assert re.search(r'downloaded %d bytes of layers from Glance \(1 of %d '
                     r'layers' % (layer['size'], len(manifest.layers)),
                     caplog.text), caplog.text
    with exited(runtime, written, ['/bin/sh', '-c',
                                   'wc -c < /written; cat /base'],
                'check') as check:
        assert b'1048576\nbase\n' == runtime.logs(check)
    # Another project reads none of it: not the image, not its new layer,
    # not with a manifest of its own naming that layer.
    bob_images = glance_client(identities, glance, 'bob').images
    with pytest.raises(glance_exc.HTTPNotFound):
        bob_images.get(layer['id'])
    with pytest.raises(exception.ImageNotFound):
        boot('bob', image_id)
    copy = bob_images.create(
        name='copy', container_format=glance_layers.MANIFEST_FORMAT,
        disk_format='raw',
        **{glance_layers.FORMAT_PROPERTY: glance_layers.FORMAT_VERSION})
    bob_images.upload(copy['id'], io.BytesIO(manifest.to_json()))
    with pytest.raises(exception.ImageUnacceptable) as raised:
        boot('bob', copy['id'])
    assert 'cannot be read' in str(raised.value)
