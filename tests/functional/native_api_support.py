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

"""Fixtures of the native API functional tests: a real Keystone (from
PyPI, on sqlite, under gunicorn), two native API servers (the console
script, under gunicorn) on the suite's private engine, and workloads
labelled as the driver labels them.

Test modules import the fixtures by name so pytest finds them there.
"""

import io
import json
import os
import tarfile

import jsonschema
import pytest
import requests

from nova_zun.runtime import labels
from nova_zun_workshop import glance as glance_tool
from nova_zun_workshop import keystone as keystone_tool
from nova_zun_workshop import native_api_server as server_tool
from nova_zun_workshop.native_api_setup import GLANCE_USER
from nova_zun_workshop.native_api_setup import HEADER
from nova_zun_workshop.native_api_setup import SERVICE_USER
from nova_zun_workshop.native_api_setup import start_keystone
from nova_zun_workshop.native_api_setup import start_workload
from nova_zun_workshop.native_api_setup import USERS
from zun_native_api import openapi


class Identities:
    """Tokens and project ids of the test's callers."""

    def __init__(self, keystone):
        self.keystone = keystone
        self.projects = {}
        self._sessions = {}

    def session(self, who):
        if who not in self._sessions:
            if who == 'admin':
                self._sessions[who] = self.keystone.admin_session()
            else:
                password, project, _ = USERS[who]
                self._sessions[who] = self.keystone.session(who, password,
                                                            project)
        return self._sessions[who]

    def token(self, who):
        return self.session(who).get_token()

    def project(self, who):
        return self.session(who).get_project_id()


@pytest.fixture(scope='session')
def keystone():
    """The suite's own Keystone (see :func:`start_keystone`)."""
    ks = start_keystone()
    yield ks
    ks.stop()


@pytest.fixture(scope='session')
def identities(keystone):
    return Identities(keystone)


@pytest.fixture(scope='module')
def glance(keystone):
    """A real Glance behind keystonemiddleware against the suite's Keystone.

    It is glance-api from PyPI on sqlite and a file store.
    """
    if not keystone.keystone_client().users.list(name=GLANCE_USER[0]):
        keystone.project_user('service', GLANCE_USER[0], GLANCE_USER[1],
                              role='service')
    server = glance_tool.Glance(keystone.url, *GLANCE_USER)
    with server.running():
        yield server


@pytest.fixture(scope='session')
def native_apis(private_engine, keystone):
    """``{host: NativeApiServer}`` for host1 and host2, on the same engine.

    Each knows the other's URL.
    """
    servers = {host: server_tool.NativeApiServer(
        host, private_engine.url, keystone.url, *SERVICE_USER)
        for host in ('host1', 'host2')}
    hosts = ','.join('%s:%s' % (h, s.url) for h, s in servers.items())
    try:
        for server in servers.values():
            server.set('native_api', hosts=hosts)
            server.start()
    except Exception:
        for server in servers.values():
            server.stop()
        raise
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def workloads(runtime, test_image_refs):
    """Running workloads labelled like the driver's, removed after the test.

    ``make(project_id, host='host1', tag='printer', **spec_fields)`` returns
    the instance uuid of a new one.
    """
    made = []

    def make(project_id, host='host1', tag='printer', user_id='user',
             **spec_fields):
        instance = start_workload(runtime, test_image_refs[tag], project_id,
                                  host=host, user_id=user_id, **spec_fields)
        made.append(instance)
        return instance
    yield make
    for instance in made:
        for c in runtime.list_containers({labels.INSTANCE: instance}):
            runtime.remove(c.id, force=True)


def cli_environment(keystone, who):
    """The environment in which ``zun`` and ``openstack`` act as ``who``.

    The command lines are authenticated by ``keystone``.
    """
    if who == 'admin':
        password, project = keystone_tool.ADMIN_PASSWORD, 'admin'
    else:
        password, project, _ = USERS[who]
    return dict(os.environ, OS_AUTH_URL=keystone.url, OS_USERNAME=who,
                OS_PASSWORD=password, OS_PROJECT_NAME=project,
                OS_USER_DOMAIN_ID='default', OS_PROJECT_DOMAIN_ID='default',
                OS_IDENTITY_API_VERSION='3')


class Caller:
    """Plain HTTP to one native API server as one identity."""

    def __init__(self, base_url, token=None, version='container 1.40'):
        self.base_url = base_url
        self.token = token
        self.version = version

    def request(self, method, path, headers=None, **kwargs):
        all_headers = {}
        if self.token:
            all_headers['X-Auth-Token'] = self.token
        if self.version:
            all_headers[HEADER] = self.version
        all_headers.update(headers or {})
        return requests.request(method, self.base_url + path,
                                headers=all_headers, timeout=60, **kwargs)

    def get(self, path, **kwargs):
        return self.request('GET', path, **kwargs)

    def post(self, path, **kwargs):
        return self.request('POST', path, **kwargs)


def tar_of(files):
    """A tar archive (bytes) of ``{name: bytes}``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def files_of(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar
                if m.isfile()}


_DOC = openapi.load()


def assert_documented(operation, response):
    """The response matches what openapi.yaml documents for ``operation``.

    The schema checked is the one documented for the response's status.
    """
    jsonschema.validate(response.json(), openapi.response_schema(
        operation, response.status_code, _DOC))


#: The fields of an error in Zun's body, python-zunclient reads them.
ERROR_FIELDS = {'status', 'code', 'title', 'detail', 'request_id', 'links'}


def assert_error_shape(body, status):
    """``body`` (bytes, or parsed JSON) is Zun's error body for ``status``.

    It holds one error with all of Zun's fields, a title, a detail and the
    request id; returns that error.
    """
    if isinstance(body, bytes):
        body = json.loads(body)
    # Every operation documents one error shape.
    jsonschema.validate(body, openapi.response_schema('logs', 400, _DOC))
    (error,) = body['errors']
    assert ERROR_FIELDS == set(error), error
    assert status == error['status']
    assert error['title'] and error['detail'] and error['request_id']
    return error


def assert_zun_error(response, status):
    assert status == response.status_code, response.text
    return assert_error_shape(response.json(), status)
