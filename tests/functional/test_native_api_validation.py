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

"""Bad requests to the native API over real HTTP (real Keystone tokens,
the private engine): each gets a clear 4xx in Zun's error format and
changes nothing."""

import base64
import io
import tarfile

import pytest

from tests.functional.native_api_support import assert_zun_error
from tests.functional.native_api_support import Caller
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional.native_api_support import native_apis  # noqa: F401
from tests.functional.native_api_support import tar_of
from tests.functional.native_api_support import workloads  # noqa: F401


@pytest.fixture
def alice(native_apis, identities):
    return Caller(native_apis['host1'].url, identities.token('alice'))


@pytest.fixture
def container(workloads, identities):
    return '/v1/containers/%s' % workloads(identities.project('alice'))


def _tmp_listing(runtime, base):
    return runtime.exec('nova-' + base.rsplit('/', 1)[1],
                        ['ls', '-a', '/tmp', '/']).output


def _b64(data):
    return base64.b64encode(data).decode()


@pytest.mark.parametrize('body, detail', [
    (b'{"data": ', 'Malformed JSON'),
    (b'not json at all', 'Malformed JSON'),
    (b'["data"]', 'is not of type'),
    (b'', 'body is required'),
])
def test_malformed_json_is_400(alice, container, runtime, body, detail):
    before = _tmp_listing(runtime, container)
    response = alice.post(container + '/put_archive',
                          params={'path': '/tmp'}, data=body,
                          headers={'Content-Type': 'application/json'})
    error = assert_zun_error(response, 400)
    assert detail in error['detail']
    assert before == _tmp_listing(runtime, container)


def test_oversized_body_is_413(alice, container, runtime):
    before = _tmp_listing(runtime, container)
    big = tar_of({'big': b'x' * (17 * 1024 * 1024)})
    response = alice.post(container + '/put_archive',
                          params={'path': '/tmp'},
                          json={'data': _b64(big)})
    assert_zun_error(response, 413)
    assert before == _tmp_listing(runtime, container)


def test_unknown_body_field_is_400(alice, container, runtime):
    before = _tmp_listing(runtime, container)
    response = alice.post(container + '/put_archive', params={'path': '/tmp'},
                          json={'data': _b64(tar_of({'f': b'x'})),
                                'mode': '0777'})
    error = assert_zun_error(response, 400)
    assert "'mode'" in error['detail']
    assert before == _tmp_listing(runtime, container)


@pytest.mark.parametrize('method, suffix, params', [
    ('GET', '/logs', {'colour': 'yes'}),
    ('GET', '/logs', {'tail': 'lots'}),
    ('POST', '/execute', {}),
    ('POST', '/execute', {'command': '"echo" "hi"', 'sudo': 'true'}),
    ('POST', '/execute', {'command': '"unbalanced'}),
    ('GET', '/top', {'ps_args': 'aux; rm -rf /'}),
    ('POST', '/kill', {'signal': 'SIG KILL'}),
    ('GET', '/get_archive', {}),
    ('POST', '/commit', {}),
    ('POST', '/commit', {'repository': 'Upper/Case'}),
    ('POST', '/commit', {'repository': '../escape'}),
    ('POST', '/commit', {'repository': 'fine', 'tag': '-bad'}),
])
def test_bad_query_parameters_are_400(alice, container, runtime, method,
                                      suffix, params):
    response = alice.request(method, container + suffix, params=params)
    assert_zun_error(response, 400)
    assert 'running' == runtime.status(
        'nova-' + container.rsplit('/', 1)[1]).state.value


@pytest.mark.parametrize('signal', ['92', '0', '65', 'SIGFOO', 'RTMAX-15'])
def test_a_signal_linux_does_not_have_is_400(alice, container, runtime,
                                             signal):
    response = alice.post(container + '/kill', params={'signal': signal})
    error = assert_zun_error(response, 400)
    assert 'signal' in error['detail']
    assert 'running' == runtime.status(
        'nova-' + container.rsplit('/', 1)[1]).state.value


def test_actions_take_no_body(alice, container, runtime):
    response = alice.post(container + '/pause', json={'now': True})
    assert_zun_error(response, 400)
    assert 'running' == runtime.status(
        'nova-' + container.rsplit('/', 1)[1]).state.value


def test_unknown_create_field_is_400(alice):
    response = alice.post('/v1/containers', json={'image': 'busybox',
                                                  'gpu': 'all'})
    error = assert_zun_error(response, 400)
    assert "'gpu'" in error['detail']


@pytest.mark.parametrize('version', ['container 1.41', 'container 0.9',
                                     'container two'])
def test_bad_microversion_is_406(native_apis, identities, container,
                                 version):
    caller = Caller(native_apis['host1'].url, identities.token('alice'),
                    version=version)
    response = caller.post(container + '/execute',
                           params={'command': '"touch" "/tmp/made"'})
    assert_zun_error(response, 406)
    assert '1.40' == response.headers['OpenStack-API-Maximum-Version']


def test_bad_microversion_changes_nothing(native_apis, identities,
                                          container, runtime):
    caller = Caller(native_apis['host1'].url, identities.token('alice'),
                    version='container 1.99')
    caller.post(container + '/execute',
                params={'command': '"touch" "/tmp/made"'})
    assert b'made' not in _tmp_listing(runtime, container)


@pytest.mark.parametrize('path', ['/tmp/../etc', 'etc', '../../etc',
                                  '/../../../../etc/passwd'])
def test_get_archive_escaping_path_is_400(alice, container, path):
    response = alice.get(container + '/get_archive', params={'path': path})
    assert_zun_error(response, 400)


def _symlink_tar(name, target):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        tar.addfile(info)
    return buf.getvalue()


@pytest.mark.parametrize('path, archive', [
    ('/tmp/../', tar_of({'escaped-a': b'x'})),
    ('tmp', tar_of({'escaped-b': b'x'})),
    ('/tmp', tar_of({'../escaped-c': b'x'})),
    ('/tmp', tar_of({'/escaped-d': b'x'})),
    ('/tmp', _symlink_tar('escaped-e', '../../etc')),
    ('/tmp', _symlink_tar('escaped-f', '/etc')),
    ('/tmp', b'not a tar archive'),
])
def test_put_archive_escaping_is_400_and_writes_nothing(
        alice, container, runtime, path, archive):
    before = _tmp_listing(runtime, container)
    response = alice.post(container + '/put_archive', params={'path': path},
                          json={'data': _b64(archive)})
    assert_zun_error(response, 400)
    after = _tmp_listing(runtime, container)
    assert before == after
    assert b'escaped' not in after


def test_put_archive_data_must_be_base64(alice, container, runtime):
    before = _tmp_listing(runtime, container)
    response = alice.post(container + '/put_archive',
                          params={'path': '/tmp'},
                          json={'data': 'not base64 !!'})
    assert_zun_error(response, 400)
    assert before == _tmp_listing(runtime, container)


def test_commit_without_an_image_service_is_503_and_keeps_no_image(
        alice, container, runtime):
    # The suite's Keystone has no image endpoint, none is configured.
    images_before = {i.id for i in runtime.list_images()}
    response = alice.post(container + '/commit',
                          params={'repository': 'snap', 'tag': 'v1'})
    error = assert_zun_error(response, 503)
    assert 'No image endpoint' in error['detail']
    assert images_before == {i.id for i in runtime.list_images()}
    assert 'running' == runtime.status(
        'nova-' + container.rsplit('/', 1)[1]).state.value


def test_rename_is_406_after_microversion_1_13(native_apis, identities,
                                               container):
    caller = Caller(native_apis['host1'].url, identities.token('alice'),
                    version='container 1.14')
    response = caller.post(container + '/rename', params={'name': 'new'})
    error = assert_zun_error(response, 406)
    assert 'PATCH' in error['detail']


@pytest.mark.parametrize('params', [{}, {'name': '../bad'},
                                    {'name': 'ok', 'extra': '1'}])
def test_rename_with_a_bad_name_is_400(native_apis, identities, container,
                                       params):
    caller = Caller(native_apis['host1'].url, identities.token('alice'),
                    version='container 1.13')
    assert_zun_error(caller.post(container + '/rename', params=params), 400)
