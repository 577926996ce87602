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

"""A fuzz run of the native API against its own OpenAPI document
(schemathesis): every operation, positive and negative data, as a project
member with a real Keystone token and without a token. The console script
runs under gunicorn in front of Nova's in-process API (behind a real
keystonemiddleware, on a local port), a real Glance and the suite's
private engine; the member owns a running container, another project owns
one too, and a share of the requests name them (by UUID and by name).

Every answer must be: no 5xx; every 4xx and 5xx in Zun's error shape;
status, content type, headers and body as the document says; data the
document forbids refused. A refused request (4xx) changes nothing the API
can reach: Nova's servers, the engine's containers (state, limits, files,
new execs), the engine's and Glance's images, the console tokens.

``NOVA_ZUN_FUZZ_EXAMPLES`` sets the examples per operation and caller
(default 25: about 3 minutes on 2 cores); examples are derandomized, so a
run is reproducible. Everything found is reported at the end, with a curl
command each.
"""

import collections
import copy
import os
import time

import docker
import glanceclient
import hypothesis
from hypothesis import strategies as st
from keystoneauth1 import adapter
import pytest
import schemathesis
from schemathesis import errors as st_errors

from nova_zun.runtime import labels
from nova_zun_workshop import native_api_server as server_tool
from nova_zun_workshop.native_api_setup import SERVICE_USER
from tests.functional import base
from tests.functional.native_api_support import assert_error_shape
from tests.functional.native_api_support import Caller
from tests.functional.native_api_support import glance  # noqa: F401
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional import nova_api_support
from zun_native_api import microversion
from zun_native_api import openapi

EXAMPLES = int(os.environ.get('NOVA_ZUN_FUZZ_EXAMPLES', '25'))
# Only the operations whose label ("POST /v1/containers") contains this.
ONLY = os.environ.get('NOVA_ZUN_FUZZ_OPERATIONS', '')
CONTAINER_SPEC = {'trait:CUSTOM_ZUN_CONTAINER_HOST': 'required'}
NOVA_MICROVERSION = '2.79'
# What a share of the requests name instead of a generated container:
# the member's container (by UUID, by name) and another project's.
TARGETS = (None, 'alice', 'alice-by-name', 'bob')
# The microversion header: as generated (often absent, or not one), or
# one of those that change what the API does.
VERSIONS = (None, 'container 1.1', 'container 1.13', 'container 1.25',
            'container latest')
# The document's checks (schemathesis's names); positive_data_acceptance
# is left out: valid-looking data gets legitimate 400s the document cannot
# express (an unknown image or network, a command the shell cannot split).
CHECKS = ('not_a_server_error', 'status_code_conformance',
          'content_type_conformance', 'response_headers_conformance',
          'response_schema_conformance', 'negative_data_rejection')
# How invalid data may be refused: also too large (body, request line,
# headers: the last two by gunicorn, before the API).
REFUSALS = ('400', '401', '403', '404', '405', '406', '409', '413', '414',
            '415', '422', '431')
SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
    verbosity=hypothesis.Verbosity.quiet)
PUBLIC = ('GET /', 'GET /v1', 'GET /console')
_CONTAINER = {'container_ident': ''}
# What an earlier fuzz of the all-in-one found (issue 16), sent on every
# run as the member: (operation, target, the case's parts).
KNOWN = [
    ('GET /v1/containers/{container_ident}', None,
     {'path_parameters': {'container_ident': ident}})
    for ident in ('d%2E%2A', 'rel1|fuzz-alice', 'x&name=fuzz-alice',
                  'fuzz-alice#x', 'fuzz-\U0001F600alice')
] + [
    ('GET /v1/containers', None, {'query': {'name': 'd\U0001F600mo'}}),
    ('POST /v1/containers/{container_ident}/kill', 'alice',
     {'path_parameters': _CONTAINER, 'query': {'signal': '92'}}),
    ('POST /v1/containers/{container_ident}/execute_resize', 'alice',
     {'path_parameters': _CONTAINER,
      'query': {'exec_id': '0' * 64, 'w': '80', 'h': '24'}}),
]
_SETTLE_SECONDS = 180


def _schema(token=None):
    """The document, checked as CHECKS say.

    With ``token`` every request sends it, else X-Auth-Token is generated
    (missing, or anything).
    """
    checks = {name: {'enabled': True} for name in CHECKS}
    checks['negative_data_rejection']['expected-statuses'] = list(REFUSALS)
    config = {'checks': dict(checks, enabled=False)}
    if token:
        config['headers'] = {'X-Auth-Token': token}
    return schemathesis.openapi.from_dict(
        openapi.load(), config=schemathesis.Config.from_dict(config))


class NativeApiFuzzTestCase(base.ZunDriverTestCase):

    @pytest.fixture(autouse=True)
    def _services(self, keystone, identities, glance):
        self.keystone = keystone
        self.identities = identities
        self.glance_url = glance.url

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=64,
                                            extra_spec=CONTAINER_SPEC)
        self.image = self.glance_image_from('printer')
        self.nova_url = nova_api_support.serve(
            self, nova_api_support.nova_behind_keystone(
                self, self.keystone)) + '/v2.1'
        self.server = server_tool.NativeApiServer(
            'compute1', self.engine_url, self.keystone.url, *SERVICE_USER)
        self.server.set('native_api', nova_endpoint=self.nova_url,
                        glance_endpoint=self.glance_url,
                        default_networks='none')
        self.server.start()
        self.addCleanup(self.server.stop)
        self.engine = docker.DockerClient(base_url=self.engine_url).api
        self.addCleanup(self.engine.close)
        self.glance = glanceclient.Client(
            '2', session=self.identities.session('admin'),
            endpoint_override=self.glance_url)
        self.addCleanup(self._remove_glance_images,
                        self._glance_images())
        self.targets = {}
        self.addCleanup(self._remove_servers)
        self._restore()
        self.failures = []
        self.statuses = collections.defaultdict(collections.Counter)

    # -- the cloud around the API -------------------------------------------

    def _nova_as(self, who):
        return adapter.Adapter(self.identities.session(who),
                               service_type='compute',
                               endpoint_override=self.nova_url,
                               default_microversion=NOVA_MICROVERSION)

    def _boot(self, who):
        server = self._nova_as(who).post('/servers', json={'server': {
            'name': 'fuzz-' + who, 'imageRef': self.image,
            'flavorRef': self.flavor, 'networks': 'none'}}).json()['server']
        self._wait_for_state_change(server, 'ACTIVE', max_retries=120)
        return server['id']

    def _servers(self):
        return {s['id']: s for s in self.admin_api.get_servers(
            search_opts={'all_tenants': 1})}

    def _workloads(self):
        return {c.labels[labels.INSTANCE]: c
                for c in self.runtime.list_containers(
                    {labels.ROLE: labels.ROLE_WORKLOAD})}

    def _settled(self):
        """Nova's servers once settled; None until then.

        Settled means no task is under way and Nova's power state agrees with
        the engine's (a kill or a pause through the runtime reaches Nova as a
        lifecycle event).
        """
        servers = self._servers()
        workloads = self._workloads()
        # Created (create without run) is Nova's NOSTATE; a restart
        # policy's restarting is running.
        power = {'running': 1, 'restarting': 1, 'paused': 3, 'created': 0}
        for server in servers.values():
            if server['OS-EXT-STS:task_state'] or server['status'] not in (
                    'ACTIVE', 'SHUTOFF', 'ERROR'):
                return None
            workload = workloads.get(server['id'])
            if server['status'] == 'ACTIVE' and (
                    workload is None or server['OS-EXT-STS:power_state'] !=
                    power.get(workload.state.value, 4)):
                return None
        return servers

    def _settle(self):
        deadline = time.monotonic() + _SETTLE_SECONDS
        while time.monotonic() < deadline:
            servers = self._settled()
            if servers is not None:
                return servers
            time.sleep(0.2)
        self.fail('Nova and the engine did not settle: %s' % self._state())

    def _restore(self):
        """Settle; then run the member's and the other project's containers.

        They are started, unpaused or booted again if gone, and no other server
        is left.
        """
        servers = self._settle()
        for server_id, server in servers.items():
            if server_id not in self.targets.values() or \
                    server['status'] == 'ERROR':
                self.admin_api.delete_server(server_id)
                self._wait_until_deleted(server)
        for who in ('alice', 'bob'):
            server = servers.get(self.targets.get(who))
            if server is None or server['status'] == 'ERROR':
                self.targets[who] = self._boot(who)
            elif server['status'] == 'SHUTOFF':
                self.admin_api.post_server_action(server['id'],
                                                  {'os-start': None})
                self._wait_for_state_change(server, 'ACTIVE',
                                            max_retries=120)
        for instance in self.targets.values():
            workload = self._workloads()[instance]
            if workload.state.value == 'paused':
                self.runtime.unpause(workload.id)
        self._settle()

    def _remove_servers(self):
        for server in self._servers().values():
            self.admin_api.delete_server(server['id'])
            self._wait_until_deleted(server)

    def _glance_images(self):
        return {image['id'] for image in self.glance.images.list()}

    def _remove_glance_images(self, kept):
        for image in self._glance_images() - kept:
            self.glance.images.delete(image)

    # -- what a refused request must not change -----------------------------

    def _state(self):
        containers = {}
        execs = set()
        for summary in self.engine.containers(all=True):
            inspected = self.engine.inspect_container(summary['Id'])
            host = inspected['HostConfig']
            execs.update(inspected.get('ExecIDs') or ())
            containers[summary['Id']] = (
                inspected['Name'], inspected['State']['Status'],
                inspected['RestartCount'], inspected['Config']['Labels'],
                host['NanoCpus'], host['CpuQuota'], host['Memory'],
                host['MemorySwap'],
                sorted((c['Path'], c['Kind']) for c in
                       self.engine.diff(summary['Id']) or ()))
        servers = {s['id']: (
            s['name'], s['status'], s['OS-EXT-STS:vm_state'],
            s['OS-EXT-STS:task_state'], s['OS-EXT-STS:power_state'],
            s['tenant_id'], s['metadata'], s['flavor'])
            for s in self._servers().values()}
        token_dir = self.server.sections['native_api']['console_token_dir']
        return {'servers': servers, 'containers': containers,
                'images': sorted(i['Id'] for i in self.engine.images()),
                'glance': sorted(self._glance_images()),
                # Exited execs and expired tokens go on their own: only
                # new ones count.
                'execs': execs,
                'console_tokens': set(os.listdir(token_dir)
                                      if os.path.isdir(token_dir) else ())}

    @staticmethod
    def _changes(before, after):
        changed = []
        for key in before:
            if key in ('execs', 'console_tokens'):
                if after[key] - before[key]:
                    changed.append('new %s: %s' % (
                        key, sorted(after[key] - before[key])))
            elif before[key] != after[key]:
                changed.append('%s: %s -> %s' % (key, before[key],
                                                 after[key]))
        return changed

    # -- the run ---------------------------------------------------------

    def _prepare(self, case, target, version):
        if target and 'container_ident' in (case.path_parameters or {}):
            instance = self.targets[target.split('-')[0]]
            case.path_parameters['container_ident'] = (
                self.admin_api.get_server(instance)['name']
                if target.endswith('by-name') else instance)
        if (target == 'alice' and case.operation.label == 'POST /v1/containers'
                and isinstance(case.body, dict) and 'image' in case.body):
            case.body['image'] = self.image
        if version:
            case.headers = dict(case.headers or {},
                                **{microversion.HEADER: version})

    def _check(self, case, response, who):
        problems = []
        try:
            case.validate_response(response)
        except st_errors.FailureGroup as group:
            problems.extend(failure.title + ': ' + failure.message
                            for failure in group.exceptions)
        status = response.status_code
        if status >= 400:
            try:
                assert_error_shape(response.content, status)
            except (AssertionError, ValueError) as exc:
                problems.append('Not in Zun\'s error shape (%s): %r'
                                % (exc, response.content[:300]))
        # Only the public documents answer without a token, and gunicorn
        # refuses what it will not read.
        if who is None and status not in (401, 414, 431) and \
                case.operation.label not in PUBLIC:
            problems.append('Answered %d without a token' % status)
        return problems

    def _call(self, case, target, version, who):
        self._prepare(case, target, version)
        label = case.operation.label
        try:
            response = case.call(base_url=self.server.url, timeout=120)
        except Exception as exc:
            self.failures.append((label, who, None, [repr(exc)], ''))
            return None
        self.statuses[(label, who)][response.status_code] += 1
        problems = self._check(case, response, who)
        if problems:
            self.failures.append((label, who, response.status_code,
                                  problems, case.as_curl_command()))
        return response

    def _fuzz(self, label, who):
        schema = _schema(self.identities.token(who) if who else None)
        operation = schema.find_operation_by_label(label)
        strategy = st.one_of([operation.as_strategy(generation_mode=mode)
                              for mode in schemathesis.GenerationMode])
        state = {}

        @SETTINGS
        @hypothesis.given(case=strategy, target=st.sampled_from(TARGETS),
                          version=st.sampled_from(VERSIONS))
        def run(case, target, version):
            self._one(case, target, version, who, state)
        run()
        if who:
            for _, target, parts in filter(lambda k: k[0] == label, KNOWN):
                case = operation.Case(headers=schema.config.headers_for(
                    operation=operation), **copy.deepcopy(parts))
                self._one(case, target, None, who, state)

    def _one(self, case, target, version, who, state):
        """Send ``case``; as a member, check that a refusal changed nothing.

        ``state['now']`` is the state after the last refusal.
        """
        if who is None:
            self._call(case, target, version, who)
            return
        before = state.get('now') or self._state()
        response = self._call(case, target, version, who)
        if response is not None and 400 <= response.status_code < 500:
            after = self._state()
            changes = self._changes(before, after)
            if not changes:
                state['now'] = after
                return
            self.failures.append((
                case.operation.label, who, response.status_code,
                ['Changed by a refused request: %s' % changes],
                case.as_curl_command()))
        state.pop('now', None)
        self._restore()

    def _report(self):
        lines = ['%d problems:' % len(self.failures)]
        for label, who, status, problems, curl in self.failures:
            lines.append('%s as %s -> %s' % (label, who or 'nobody', status))
            lines.extend('    ' + p.replace('\n', '\n    ')
                         for p in problems)
            lines.append('    ' + curl)
        lines.append('Answers (operation, caller: {status: count}):')
        for (label, who), counts in sorted(self.statuses.items(),
                                           key=lambda kv: str(kv[0])):
            lines.append('    %s, %s: %s' % (label, who or 'nobody',
                                             dict(sorted(counts.items()))))
        with open(self.server.log_file, errors='replace') as f:
            logged = [line for line in f if ' ERROR ' in line or
                      not line[:4].isdigit()]
        lines.append('The API\'s errors (%d lines):' % len(logged))
        lines.extend(line.rstrip() for line in logged[-200:])
        return '\n'.join(lines)

    def test_limits_may_be_integral_numbers_in_any_json_form(self):
        # 64.0 is an integer to JSON Schema.
        alice = Caller(self.server.url, self.identities.token('alice'))
        response = alice.request('PATCH', '/v1/containers/%s'
                                 % self.targets['alice'],
                                 json={'memory': 64.0})
        self.assertEqual(200, response.status_code, response.text)
        self.assertEqual('64', response.json()['memory'])

    def test_fuzz_every_operation(self):
        operations = [result.ok().label for result in
                      _schema().get_all_operations()
                      if ONLY in result.ok().label]
        # Without a token: all refused (but the public documents), and
        # nothing changed.
        before = self._state()
        for operation in operations:
            self._fuzz(operation, None)
        changes = self._changes(before, self._state())
        if changes:
            self.failures.append(('*', None, 401, [
                'Changed by requests without a token: %s' % changes], ''))
        for operation in operations:
            self._fuzz(operation, 'alice')
        report = self._report()
        print(report)
        if self.failures:
            self.fail(report)
