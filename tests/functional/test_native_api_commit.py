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

import time
import uuid

import docker
import glanceclient
import pytest
from zunclient import client as zun_client

from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun_workshop import native_api_server as server_tool
from nova_zun_workshop.native_api_setup import SERVICE_USER
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


def _glance_client(identities, glance, who):
    return glanceclient.Client('2', session=identities.session(who),
                               endpoint_override=glance.url)


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
    images = _glance_client(identities, glance, 'alice').images
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
    images = _glance_client(identities, glance, 'alice').images
    try:
        assert 'by-client' == images.get(image_id)['name']
    finally:
        images.delete(image_id)


def test_another_project_gets_404_and_no_image(native_api, glance,
                                               identities, workloads,
                                               runtime):
    instance = workloads(identities.project('alice'))
    admin_images = _glance_client(identities, glance, 'admin').images
    before = {i['id'] for i in admin_images.list()}
    engine_before = _engine_images(runtime)
    bob = Caller(native_api.url, identities.token('bob'))
    assert_zun_error(bob.post('/v1/containers/%s/commit' % instance,
                              params={'repository': 'stolen'}), 404)
    assert before == {i['id'] for i in admin_images.list()}
    assert engine_before == _engine_images(runtime)
    assert 'running' == runtime.status('nova-' + instance).state.value
