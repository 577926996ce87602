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

"""The native API's version documents and microversion negotiation."""

from oslo_config import cfg
import pytest

import zun_native_api
from zun_native_api import microversion

HEADER = 'OpenStack-API-Version'


@pytest.fixture
def client():
    app = zun_native_api.create_app(cfg.ConfigOpts())
    return app.test_client()


def _assert_zun_error(response, status):
    assert status == response.status_code
    assert 'application/json' == response.mimetype
    (error,) = response.get_json()['errors']
    assert status == error['status']
    assert error['title']
    assert error['detail']
    return error


def test_root_lists_v1_with_its_microversion_range(client):
    response = client.get('/')
    assert 200 == response.status_code
    (v1,) = response.get_json()['versions']
    assert 'v1' == v1['id']
    assert 'CURRENT' == v1['status']
    assert '1.1' == v1['min_version']
    assert '1.40' == v1['max_version']
    assert 'http://localhost/v1/' == v1['links'][0]['href']


@pytest.mark.parametrize('path', ['/v1', '/v1/'])
def test_v1_document(client, path):
    response = client.get(path)
    assert 200 == response.status_code
    body = response.get_json()
    assert ('v1', '1.1', '1.40') == (body['id'], body['min_version'],
                                     body['max_version'])


def test_no_header_gets_the_minimum_version(client):
    response = client.get('/v1')
    assert 'container 1.1' == response.headers[HEADER]
    assert '1.1' == response.headers['OpenStack-API-Minimum-Version']
    assert '1.40' == response.headers['OpenStack-API-Maximum-Version']
    assert HEADER in response.headers['Vary']


@pytest.mark.parametrize('requested, negotiated', [
    ('container 1.20', 'container 1.20'),
    ('container latest', 'container 1.40'),
    ('container 1.1', 'container 1.1'),
    ('container 1.40', 'container 1.40'),
    # Other services' versions in the same header are not ours.
    ('compute 2.90, container 1.5', 'container 1.5'),
])
def test_requested_version_is_echoed(client, requested, negotiated):
    response = client.get('/v1', headers={HEADER: requested})
    assert 200 == response.status_code
    assert negotiated == response.headers[HEADER]
    assert HEADER in response.headers['Vary']


@pytest.mark.parametrize('requested', [
    'container 1.41', 'container 1.0', 'container 2.1', 'container 1',
    'container one.two'])
def test_unsupported_version_is_406_in_zun_error_format(client, requested):
    response = client.get('/v1', headers={HEADER: requested})
    error = _assert_zun_error(response, 406)
    assert 'Not Acceptable' == error['title']
    # The client reads the range to tell the user what would work.
    assert '1.40' == response.headers['OpenStack-API-Maximum-Version']
    assert HEADER in response.headers['Vary']
    assert HEADER not in response.headers


def test_out_of_range_names_the_supported_range(client):
    response = client.get('/v1', headers={HEADER: 'container 1.99'})
    assert '[1.1, 1.40]' in response.get_json()['errors'][0]['detail']


def test_root_answers_whatever_version_is_asked(client):
    # python-zunclient discovers the range here, whatever it sends.
    response = client.get('/', headers={HEADER: 'container 9.9'})
    assert 200 == response.status_code


@pytest.mark.parametrize('path', ['/v1/nothing-here', '/nothing-here'])
def test_unknown_path_is_404_in_zun_error_format(client, path):
    error = _assert_zun_error(client.get(path), 404)
    assert 'Not Found' == error['title']


def test_wrong_method_is_405_in_zun_error_format(client):
    response = client.post('/v1')
    _assert_zun_error(response, 405)
    assert 'GET' in response.headers['Allow']


def test_negotiate_is_usable_without_flask():
    assert microversion.MIN_VERSION == microversion.negotiate({})
    assert (1, 33) == microversion.negotiate({HEADER: 'container 1.33'})
    with pytest.raises(microversion.NotAcceptable):
        microversion.negotiate({HEADER: 'container 1.41'})
