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

"""The native API's handlers without the engine or Keystone: a fake
runtime, and the identity headers keystonemiddleware's auth_token sets
(the real middleware is in the functional tests)."""

import base64
import uuid

from oslo_config import cfg
import pytest

from nova_zun.runtime import exception
from nova_zun.runtime import labels
from nova_zun.runtime import types
import zun_native_api

HEADER = 'OpenStack-API-Version'


class FakeRuntime:
    """Just enough of ContainerRuntime for the handlers."""

    def __init__(self):
        self.containers = {}
        self.calls = []

    def add(self, project, host='host1'):
        instance = str(uuid.uuid4())
        self.containers['nova-' + instance] = types.ContainerStatus(
            id='nova-' + instance, name='nova-' + instance,
            state=types.ContainerState.RUNNING,
            labels={labels.INSTANCE: instance, labels.PROJECT: project,
                    labels.HOST: host, labels.ROLE: labels.ROLE_WORKLOAD})
        return instance

    def list_containers(self, wanted=None):
        return [c for c in self.containers.values()
                if all(c.labels.get(k) == v
                       for k, v in (wanted or {}).items())]

    def exec(self, container, command, **kwargs):
        self.calls.append(('exec', container, command, kwargs))
        return types.ExecResult(exit_code=0, output=b'x' * 10,
                                exec_id='e1')

    def logs(self, container, **kwargs):
        self.calls.append(('logs', container, kwargs))
        return iter([b'a' * 1500, b'a' * 1500, b'newest'])

    def get_archive(self, container, path):
        if path == '/small':
            return iter([b'\x00\xff"\\' * 40000]), {'name': 'small'}
        return iter([b'y' * 1500, b'z' * 1500]), {'name': 'f'}

    def put_archive(self, container, path, data):
        self.calls.append(('put_archive', container, path, data))
        if '..' in path:
            raise exception.InvalidRequest('path must not contain ".."')

    def pause(self, container):
        self.calls.append(('pause', container))


@pytest.fixture
def runtime():
    return FakeRuntime()


@pytest.fixture
def client(runtime):
    conf = cfg.ConfigOpts()
    app = zun_native_api.create_app(conf, runtime=runtime)
    conf([], project='zun-native-api')
    conf.set_override('host', 'host1', group='native_api')
    conf.set_override('max_output_bytes', 1024, group='native_api')
    conf.set_override('max_archive_bytes', 2048, group='native_api')
    return app.test_client()


def identity(project, roles='member,reader'):
    return {'X-Project-Id': project, 'X-User-Id': 'u-' + project,
            'X-Roles': roles, 'X-Identity-Status': 'Confirmed',
            'X-Auth-Token': 'token', HEADER: 'container 1.40'}


def test_owner_runs_a_command_with_the_clients_quoting(client, runtime):
    instance = runtime.add('pa')
    response = client.post('/v1/containers/%s/execute' % instance,
                           query_string={'command': '"sh" "-c" "echo a b"'},
                           headers=identity('pa'))
    assert 200 == response.status_code, response.get_json()
    assert {'output': 'x' * 10, 'exit_code': 0, 'exec_id': 'e1',
            'proxy_url': None, 'truncated': False} == response.get_json()
    (_, _, command, kwargs), = runtime.calls
    assert ['sh', '-c', 'echo a b'] == command
    assert 5 == kwargs['timeout']
    assert 1024 == kwargs['max_output']


def test_another_project_gets_the_404_of_a_missing_container(client,
                                                             runtime):
    instance = runtime.add('pa')
    theirs = client.post('/v1/containers/%s/pause' % instance,
                         headers=identity('pb'))
    missing_id = str(uuid.uuid4())
    missing = client.post('/v1/containers/%s/pause' % missing_id,
                          headers=identity('pb'))
    assert 404 == theirs.status_code == missing.status_code
    assert (theirs.get_json()['errors'][0]['detail'].replace(instance, 'X')
            == missing.get_json()['errors'][0]['detail'].replace(
                missing_id, 'X'))
    assert [] == runtime.calls


def test_admin_acts_on_another_projects_container(client, runtime):
    instance = runtime.add('pa')
    response = client.post('/v1/containers/%s/pause' % instance,
                           headers=identity('admin-project',
                                            'admin,member,reader'))
    assert 202 == response.status_code
    assert [('pause', 'nova-' + instance)] == runtime.calls


def test_logs_keep_the_newest_output_up_to_the_cap(client, runtime):
    instance = runtime.add('pa')
    response = client.get('/v1/containers/%s/logs' % instance,
                          query_string={'stdout': 'True', 'tail': 'None'},
                          headers=identity('pa'))
    logs = response.get_json()
    assert 1024 == len(logs)
    assert logs.endswith('newest')
    (_, _, kwargs), = runtime.calls
    # The client's literal "None": no tail asked, the newest lines that
    # can fill the cap are, as a stream.
    assert (100, True) == (kwargs['tail'], kwargs['stream'])


@pytest.mark.parametrize('tail, asked', [('5', 5), ('all', 100),
                                         ('100000', 100)])
def test_logs_ask_the_engine_for_no_more_lines_than_fill_the_cap(
        client, runtime, tail, asked):
    instance = runtime.add('pa')
    client.get('/v1/containers/%s/logs' % instance,
               query_string={'tail': tail}, headers=identity('pa'))
    (_, _, kwargs), = runtime.calls
    assert asked == kwargs['tail']


def test_archive_over_the_cap_is_413(client, runtime):
    instance = runtime.add('pa')
    response = client.get('/v1/containers/%s/get_archive' % instance,
                          query_string={'path': '/etc'},
                          headers=identity('pa'))
    assert 413 == response.status_code


@pytest.mark.parametrize('version, decode', [
    ('container 1.40', base64.b64decode),
    ('container 1.24', lambda data: data.encode('latin-1'))])
def test_archives_are_sent_as_zun_sends_them(runtime, version, decode):
    conf = cfg.ConfigOpts()
    app = zun_native_api.create_app(conf, runtime=runtime)
    conf([], project='zun-native-api')
    conf.set_override('host', 'host1', group='native_api')
    instance = runtime.add('pa')
    response = app.test_client().get(
        '/v1/containers/%s/get_archive' % instance,
        query_string={'path': '/small'},
        headers=dict(identity('pa'), **{HEADER: version}))
    assert 200 == response.status_code
    body = response.get_json()
    assert {'name': 'small'} == body['stat']
    assert b'\x00\xff"\\' * 40000 == decode(body['data'])


def test_a_worker_sends_a_bounded_number_of_archives(client, runtime):
    instance = runtime.add('pa')
    slots = client.application.config['NATIVE_API_STATE'].archive_slots
    assert slots.acquire(blocking=False) and slots.acquire(blocking=False)
    try:
        response = client.get('/v1/containers/%s/get_archive' % instance,
                              query_string={'path': '/etc'},
                              headers=identity('pa'))
        assert 429 == response.status_code
        assert 'archive_concurrency' in \
            response.get_json()['errors'][0]['detail']
    finally:
        slots.release()
        slots.release()
    # Answered, refused or not: every slot is free again.
    client.get('/v1/containers/%s/get_archive' % instance,
               query_string={'path': '/etc'}, headers=identity('pa'))
    assert slots.acquire(blocking=False) and slots.acquire(blocking=False)


def test_runtime_refusal_is_400(client, runtime):
    instance = runtime.add('pa')
    response = client.post('/v1/containers/%s/put_archive' % instance,
                           query_string={'path': '/tmp/../etc'},
                           json={'data': base64.b64encode(b'x').decode()},
                           headers=identity('pa'))
    assert 400 == response.status_code
    assert '..' in response.get_json()['errors'][0]['detail']


def test_before_1_25_archive_data_is_not_base64(client, runtime):
    instance = runtime.add('pa')
    headers = dict(identity('pa'), **{HEADER: 'container 1.24'})
    client.post('/v1/containers/%s/put_archive' % instance,
                query_string={'path': '/tmp'}, json={'data': 'raw'},
                headers=headers)
    assert ('put_archive', 'nova-' + instance, '/tmp', b'raw') == \
        runtime.calls[-1]


def test_a_container_of_another_host_is_not_served_locally(client, runtime):
    # host2 is not in [native_api] hosts: nowhere to forward, so 404.
    instance = runtime.add('pa', host='host2')
    response = client.get('/v1/containers/%s/logs' % instance,
                          headers=identity('pa'))
    assert 404 == response.status_code
    assert [] == runtime.calls


def test_list_without_nova_is_a_clear_503(client):
    response = client.get('/v1/containers', headers=identity('pa'))
    assert 503 == response.status_code
    assert 'nova_endpoint' in response.get_json()['errors'][0]['detail']


@pytest.mark.parametrize('body, detail', [
    ({'image': 'x', 'mounts': [{'source': 'vol', 'destination': '/d'}]},
     'mounts of Cinder volumes are not supported'),
    ({'image': 'x', 'mounts': [{'source': '/'}]},
     "'destination' is a required property"),
    ({'image': 'x', 'mounts': [{'type': 'bind', 'source': '%%',
                                'destination': '/d'}]},
     'source is not base64'),
    ({'image': 'x', 'registry': 'r'}, 'registry is not supported'),
    ({'image': 'x', 'exposed_ports': {'80': {}},
      'security_groups': ['default']},
     'exposed_ports and security_groups cannot be given together'),
    ({'image': 'x', 'exposed_ports': {'70000/tcp': {}}},
     'is invalid as publish port'),
    ({'image': 'x', 'exposed_ports': {'80/sctp': {}}}, 'exposed_ports'),
    ({'image': 'x', 'restart_policy': {'Name': 'always',
                                       'MaximumRetryCount': 2}},
     'maximum retry count not valid with restart policy of always'),
    ({'image': 'x', 'restart_policy': {'Name': 'sometimes'}},
     'restart_policy'),
    ({'image': 'x', 'memory': 'lots'}, 'memory'),
    ({'image': 'x', 'environment': {'A=B': 'c'}}, 'environment'),
    ({'name': 'x'}, "'image' is a required property"),
])
def test_create_refuses_what_it_cannot_honour(client, body, detail):
    response = client.post('/v1/containers', json=body,
                           headers=identity('pa'))
    assert 400 == response.status_code
    assert detail in response.get_json()['errors'][0]['detail']


@pytest.mark.parametrize('path, query, detail', [
    ('network_attach', {}, 'is not valid under any of the given schemas'),
    ('network_attach', {'network': 'n', 'port': 'p'}, 'valid under each'),
    ('network_detach', {'network': 'n', 'port': 'p'}, 'valid under each'),
    ('network_detach', {'network': 'n', 'x': '1'}, 'x'),
])
def test_network_actions_take_a_network_or_a_port(client, path, query,
                                                  detail):
    response = client.post('/v1/containers/c/%s' % path, query_string=query,
                           headers=identity('pa'))
    assert 400 == response.status_code
    assert detail in response.get_json()['errors'][0]['detail']


def test_host_id_is_novas():
    # Non-admins see only hostId; the native API finds the host by it.
    from nova import utils as nova_utils

    from zun_native_api import nova as nova_api
    assert (nova_utils.generate_hostid('compute2', 'p1') ==
            nova_api.host_id('p1', 'compute2'))
