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

"""What answers before the API does, in Zun's error shape: keystonemiddleware
refusing a token (401, with the WWW-Authenticate header that says where to
authenticate) and gunicorn refusing a request it cannot parse or that passes
its limits (400, 414, 431, 417, 501). The console script under gunicorn, a
real Keystone."""

import socket
from urllib import parse as urlparse

import pytest

from nova_zun_workshop.native_api_setup import USERS
from tests.functional.native_api_support import assert_error_shape
from tests.functional.native_api_support import assert_zun_error
from tests.functional.native_api_support import Caller
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional.native_api_support import native_apis  # noqa: F401
from tests.functional.native_api_support import workloads  # noqa: F401


@pytest.fixture
def server(native_apis):
    return native_apis['host1']


def _revoked_token(keystone):
    password, project, _ = USERS['alice']
    token = keystone.session('alice', password, project).get_token()
    keystone.keystone_client().tokens.revoke_token(token)
    return token


@pytest.mark.parametrize('token', ['none', 'garbage', 'revoked'])
def test_a_refused_token_is_zuns_401_naming_keystone(server, keystone, token):
    sent = {'none': None, 'garbage': 'not-a-token',
            'revoked': token == 'revoked' and _revoked_token(keystone)}
    response = Caller(server.url, sent[token]).get('/v1/containers')
    error = assert_zun_error(response, 401)
    assert 'requires authentication' in error['detail']
    assert response.headers['x-openstack-request-id'] == error['request_id']
    assert 'Keystone uri="%s"' % keystone.url == \
        response.headers['WWW-Authenticate']


def _raw_request(url, data):
    """Send ``data`` as it is; the status and the parsed JSON body."""
    parts = urlparse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port),
                                  timeout=30) as sock:
        sock.sendall(data)
        answer = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = dict(line.split(': ', 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


_GET = b'GET /v1/containers HTTP/1.1\r\nHost: api\r\n'


@pytest.mark.parametrize('data, status', [
    # Over gunicorn's limit_request_line (4094).
    (b'GET /v1/containers/' + b'a' * 5000 + b' HTTP/1.1\r\nHost: api\r\n\r\n',
     414),
    # Over limit_request_fields (100), and limit_request_field_size (8190).
    (_GET + b''.join(b'X-H%d: 1\r\n' % i for i in range(101)) + b'\r\n', 431),
    (_GET + b'X-Big: ' + b'b' * 9000 + b'\r\n\r\n', 431),
    (b'NOT A REQUEST\r\n\r\n', 400),
    (b'G(T /v1 HTTP/1.1\r\nHost: api\r\n\r\n', 400),
    (b'GET /v1 HTTP/7.1\r\nHost: api\r\n\r\n', 400),
    (_GET + b'Bad Name: x\r\n\r\n', 400),
    (_GET + b'Content-Length: ten\r\n\r\n', 400),
    (_GET + b'Expect: a-miracle\r\n\r\n', 417),
    # No length to read a body by (RFC 9112 6.3), a transfer coding
    # gunicorn does not know (RFC 9112 6.1: 501).
    (_GET + b'Transfer-Encoding: gzip\r\n\r\n', 400),
    (_GET + b'Transfer-Encoding: x-unknown\r\n\r\n', 501),
])
def test_gunicorns_own_refusals_are_in_zuns_shape(server, data, status):
    got, headers, body = _raw_request(server.url, data)
    assert status == got, body
    assert headers['Content-Type'] == 'application/json', headers
    error = assert_error_shape(body, status)
    assert error['detail']
    assert headers['x-openstack-request-id'] == error['request_id']


def test_ps_arguments_ps_refuses_are_a_400(server, identities, workloads):
    instance = workloads(identities.project('alice'))
    alice = Caller(server.url, identities.token('alice'))
    error = assert_zun_error(alice.get('/v1/containers/%s/top' % instance,
                                       params={'ps_args': 'ZbhBw2'}), 400)
    assert 'ZbhBw2' in error['detail']
    assert 200 == alice.get('/v1/containers/%s/top' % instance,
                            params={'ps_args': 'aux'}).status_code


def test_a_5xx_is_logged_with_its_cause(server, identities, workloads):
    # The suite's catalog has no image endpoint: commit cannot upload.
    instance = workloads(identities.project('alice'))
    alice = Caller(server.url, identities.token('alice'))
    response = alice.post('/v1/containers/%s/commit' % instance,
                          params={'repository': 'nowhere'})
    error = assert_zun_error(response, 503)
    logged = [line for line in server.log_text().splitlines()
              if error['request_id'] in line]
    assert any(' ERROR ' in line and error['detail'] in line
               for line in logged), logged
