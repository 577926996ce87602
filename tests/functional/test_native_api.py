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

"""The native API over real HTTP: keystonemiddleware validating tokens
against a real Keystone, the console script under gunicorn, the private
engine. Project A acts on its container, project B gets the same 404 as
for a missing one, the admin acts on every project's."""

import base64
import time
import uuid

import psutil
import pytest
import requests

from nova_zun_workshop import native_api_server as server_tool
from nova_zun_workshop.native_api_setup import SERVICE_USER
from tests.functional.native_api_support import assert_documented
from tests.functional.native_api_support import assert_zun_error
from tests.functional.native_api_support import Caller
from tests.functional.native_api_support import files_of
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional.native_api_support import native_apis  # noqa: F401
from tests.functional.native_api_support import tar_of
from tests.functional.native_api_support import workloads  # noqa: F401


@pytest.fixture
def host1(native_apis):
    return native_apis['host1'].url


def caller(url, identities, who, **kwargs):
    return Caller(url, identities.token(who), **kwargs)


@pytest.fixture(scope='module')
def bounded_api(private_engine, keystone):
    """A native API of one worker process with the smallest output cap.

    It also handles one archive at a time.
    """
    server = server_tool.NativeApiServer('host1', private_engine.url,
                                         keystone.url, *SERVICE_USER)
    server.set('native_api', workers='1', threads='4',
               max_output_bytes='1024', archive_concurrency='1')
    with server.running():
        yield server


def _peak_rss(server):
    """Peak memory (VmHWM, bytes) of a worker process of ``server`` so far."""
    peak = 0
    for worker in psutil.Process(server.process.pid).children():
        with open('/proc/%d/status' % worker.pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    peak = max(peak, int(line.split()[1]) * 1024)
    return peak


# Every runtime operation: (method, path suffix, query, body).
RUNTIME_OPERATIONS = [
    ('GET', '/logs', {}, None),
    ('POST', '/execute', {'command': '"echo" "hi"', 'run': 'true'}, None),
    ('GET', '/top', {}, None),
    ('GET', '/stats', {}, None),
    ('GET', '/get_archive', {'path': '/etc'}, None),
    ('POST', '/put_archive', {'path': '/tmp'},
     {'data': base64.b64encode(tar_of({'b-was-here': b'x'})).decode()}),
    ('POST', '/pause', {}, None),
    ('POST', '/unpause', {}, None),
    ('POST', '/kill', {'signal': 'SIGKILL'}, None),
]


def test_version_document_is_public(host1):
    response = Caller(host1).get('/')
    assert 200 == response.status_code
    assert_documented('root', response)
    assert '1.40' == response.json()['versions'][0]['max_version']


@pytest.mark.parametrize('token', [None, 'not-a-token'])
def test_no_valid_token_is_401(host1, identities, workloads, token):
    instance = workloads(identities.project('alice'))
    response = Caller(host1, token).get('/v1/containers/%s/logs' % instance)
    assert 401 == response.status_code


def test_project_a_inspects_its_container(host1, identities, workloads,
                                          runtime):
    instance = workloads(identities.project('alice'))
    alice = caller(host1, identities, 'alice')
    base = '/v1/containers/%s' % instance

    logs = alice.get(base + '/logs', params={'stdout': 'True',
                                             'stderr': 'True'})
    assert 200 == logs.status_code, logs.text
    assert_documented('logs', logs)
    assert 'hello from nova-zun' in logs.json()
    assert 'to stderr' in logs.json()
    stdout_only = alice.get(base + '/logs', params={'stderr': 'False'})
    assert 'to stderr' not in stdout_only.json()

    # The client's quoting: every token double-quoted.
    result = alice.post(base + '/execute', params={
        'command': '"sh" "-c" "echo out; echo err >&2; exit 7"',
        'run': 'true'})
    assert 200 == result.status_code, result.text
    assert_documented('execute', result)
    body = result.json()
    assert 7 == body['exit_code']
    assert 'out' in body['output'] and 'err' in body['output']
    assert body['exec_id']

    assert_documented('top', alice.get(base + '/top'))
    assert_documented('stats', alice.get(base + '/stats'))
    top = alice.get(base + '/top').json()
    assert 'PID' in top['Titles']
    assert any('sleep' in ' '.join(p) for p in top['Processes'])

    stats = alice.get(base + '/stats').json()
    assert {'CPU %', 'MEM USAGE(MiB)', 'MEM LIMIT(MiB)', 'MEM %',
            'BLOCK I/O(B)', 'NET I/O(B)'} <= set(stats)
    assert stats['MEM USAGE(MiB)'] > 0

    data = base64.b64encode(tar_of({'hello.txt': b'from alice'})).decode()
    put = alice.post(base + '/put_archive', params={'path': '/tmp'},
                     json={'data': data})
    assert 200 == put.status_code, put.text
    got = alice.get(base + '/get_archive',
                    params={'path': '/tmp/hello.txt'})
    assert 200 == got.status_code, got.text
    assert_documented('get_archive', got)
    assert {'hello.txt': b'from alice'} == files_of(
        base64.b64decode(got.json()['data']))
    assert 'hello.txt' == got.json()['stat']['name']
    cat = alice.post(base + '/execute',
                     params={'command': '"cat" "/tmp/hello.txt"'})
    assert 'from alice' == cat.json()['output']


def test_project_a_pauses_unpauses_and_kills(host1, identities, workloads,
                                             runtime):
    instance = workloads(identities.project('alice'))
    alice = caller(host1, identities, 'alice')
    base = '/v1/containers/%s' % instance
    assert 202 == alice.post(base + '/pause').status_code
    assert 'paused' == runtime.status('nova-' + instance).state.value
    assert 202 == alice.post(base + '/unpause').status_code
    assert 'running' == runtime.status('nova-' + instance).state.value
    assert 202 == alice.post(base + '/kill',
                             params={'signal': 'SIGKILL'}).status_code
    assert 'exited' == runtime.status('nova-' + instance).state.value


@pytest.mark.parametrize('method, suffix, query, body', RUNTIME_OPERATIONS)
def test_project_b_gets_404_like_for_a_missing_container(
        host1, identities, workloads, runtime, method, suffix, query, body):
    instance = workloads(identities.project('alice'))
    bob = caller(host1, identities, 'bob')
    theirs = bob.request(method, '/v1/containers/%s%s' % (instance, suffix),
                         params=query, json=body)
    missing_id = str(uuid.uuid4())
    missing = bob.request(method, '/v1/containers/%s%s'
                          % (missing_id, suffix), params=query, json=body)
    error = assert_zun_error(theirs, 404)
    assert_zun_error(missing, 404)
    assert (theirs.headers['x-openstack-request-id'] ==
            error['request_id'])
    assert (error['detail'].replace(instance, 'X') ==
            missing.json()['errors'][0]['detail'].replace(missing_id, 'X'))
    # Nothing happened to it.
    status = runtime.status('nova-' + instance)
    assert 'running' == status.state.value
    listing = runtime.exec('nova-' + instance, ['ls', '/tmp'])
    assert b'b-was-here' not in listing.output


@pytest.mark.parametrize('method, suffix, query, body', RUNTIME_OPERATIONS)
def test_admin_acts_on_every_project(host1, identities, workloads, runtime,
                                     method, suffix, query, body):
    instance = workloads(identities.project('alice'))
    if suffix == '/unpause':
        runtime.pause('nova-' + instance)
    admin = caller(host1, identities, 'admin')
    response = admin.request(method, '/v1/containers/%s%s'
                             % (instance, suffix), params=query, json=body)
    assert response.status_code in (200, 202), response.text


def test_a_container_of_another_host_is_forwarded(native_apis, identities,
                                                  workloads):
    # The workload runs on host2; the request goes to host1.
    instance = workloads(identities.project('alice'), host='host2')
    host1 = native_apis['host1'].url
    alice = caller(host1, identities, 'alice')
    result = alice.post('/v1/containers/%s/execute' % instance,
                        params={'command': '"hostname"'})
    assert 200 == result.status_code, result.text
    assert 0 == result.json()['exit_code']
    assert 'container 1.40' == result.headers['OpenStack-API-Version']
    assert 'hello from nova-zun' in alice.get(
        '/v1/containers/%s/logs' % instance).json()
    # host2 answered: its access log has the forwarded requests.
    assert ('/v1/containers/%s/execute' % instance
            in native_apis['host2'].log_text())
    assert_zun_error(caller(host1, identities, 'bob').get(
        '/v1/containers/%s/logs' % instance), 404)
    # Only one hop: host2 does not send it back.
    assert_zun_error(alice.get('/v1/containers/%s/logs' % instance,
                               headers={'X-Nova-Zun-Forwarded-By': 'x'}),
                     404)


def test_logs_read_only_as_much_as_they_answer(bounded_api, identities,
                                               workloads, runtime):
    # 32 MiB of log in lines of 1 KiB, then "done".
    line = 'x' * 1023
    instance = workloads(identities.project('alice'), command=[
        '/bin/sh', '-c', 'yes %s | head -n 32768; echo done; '
        'exec sleep 2147483647' % line])
    deadline = time.monotonic() + 120
    while runtime.logs('nova-' + instance, tail=1) != b'done\n':
        assert time.monotonic() < deadline, 'the log was never written'
        time.sleep(0.5)
    alice = caller(bounded_api.url, identities, 'alice')
    logs = '/v1/containers/%s/logs' % instance
    # The worker's first request loads what every request needs.
    assert 'done\n' == alice.get(logs, params={'tail': '1'}).json()
    before = _peak_rss(bounded_api)
    response = alice.get(logs, params={'tail': 'all'})
    assert 200 == response.status_code, response.text
    newest = response.json()
    assert 1024 == len(newest)
    assert newest.endswith('x\ndone\n')
    # Not the 32 MiB log (nor copies of it): a few pages of it at most.
    assert _peak_rss(bounded_api) - before < 8 * 1024 * 1024


def test_get_archive_holds_a_bounded_number_of_archives(
        bounded_api, identities, workloads, runtime):
    instance = workloads(identities.project('alice'))
    # 12 MiB, 16 MiB in base64: more than the sockets buffer.
    runtime.exec('nova-' + instance, [
        'dd', 'if=/dev/urandom', 'of=/tmp/big', 'bs=1048576', 'count=12'])
    alice = caller(bounded_api.url, identities, 'alice')
    path = '/v1/containers/%s/get_archive' % instance
    # A caller that does not read its answer keeps the worker's only slot.
    slow = requests.get(bounded_api.url + path, params={'path': '/tmp/big'},
                        headers={'X-Auth-Token': identities.token('alice'),
                                 'OpenStack-API-Version': 'container 1.40'},
                        stream=True, timeout=60)
    try:
        assert 200 == slow.status_code
        error = assert_zun_error(alice.get(path, params={
            'path': '/etc/hostname'}), 429)
        assert 'archive_concurrency' in error['detail']
        got = slow.json()
    finally:
        slow.close()
    assert 12 * 1024 * 1024 == len(files_of(base64.b64decode(
        got['data']))['big'])
    again = alice.get(path, params={'path': '/etc/hostname'})
    assert 200 == again.status_code, again.text


def test_execute_takes_the_command_in_the_body(host1, identities, workloads):
    # zun-tempest-plugin sends {"command": "echo hello"}; python-zunclient
    # the query parameter. Both are Zun's.
    instance = workloads(identities.project('alice'))
    alice = caller(host1, identities, 'alice')
    path = '/v1/containers/%s/execute' % instance
    result = alice.post(path, json={'command': 'echo hello', 'run': True})
    assert 200 == result.status_code, result.text
    assert_documented('execute', result)
    assert ('hello\n', 0) == (result.json()['output'],
                              result.json()['exit_code'])
    quoted = alice.post(path, json={'command': '"sh" "-c" "exit 3"'})
    assert 3 == quoted.json()['exit_code'], quoted.text
    for query, body, words in (
            ({}, {}, 'command'),
            ({}, None, 'command'),
            ({}, {'command': ['echo', 'hi']}, 'command'),
            ({}, {'command': ''}, 'command'),
            ({}, {'command': 'echo', 'user': 'root'}, 'user'),
            ({'command': '"echo" "a"'}, {'command': 'echo b'}, 'both'),
            ({}, {'command': 'echo', 'interactive': 'maybe'},
             'interactive')):
        error = assert_zun_error(alice.post(path, params=query, json=body),
                                 400)
        assert words in error['detail'], error


def test_stats_has_zuns_keys(host1, identities, workloads):
    instance = workloads(identities.project('alice'))
    alice = caller(host1, identities, 'alice')
    response = alice.get('/v1/containers/%s/stats' % instance)
    assert_documented('stats', response)
    stats = response.json()
    # zun/container/docker/driver.py stats: every key Zun answers.
    assert {'CONTAINER', 'CPU %', 'MEM USAGE(MiB)', 'MEM LIMIT(MiB)',
            'MEM %', 'BLOCK I/O(B)', 'NET I/O(B)'} <= set(stats), stats
    assert instance == stats['CONTAINER']
    assert 0 < stats['MEM USAGE(MiB)'] <= stats['MEM LIMIT(MiB)']
