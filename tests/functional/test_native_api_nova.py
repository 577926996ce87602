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

"""The native API's Nova-backed operations (list, show, create, delete,
start, stop, reboot), and python-zunclient from PyPI driving it.

Nova is Nova's in-process functional framework with compute services on
ZunDriver and the private engine. Its API runs behind a real
keystonemiddleware that validates against the suite's real Keystone, so
the native API calls it with the caller's own Keystone token, as in a
cloud. The native API runs in a green thread of this process (eventlet's
WSGI server, as Nova's framework runs on eventlet; Nova's API is reachable
through wsgi-intercept in this process only), with keystonemiddleware
against the same Keystone.
"""

import base64
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from urllib import parse as urlparse

from eventlet.green import subprocess
import fixtures
import glanceclient
from keystoneauth1 import adapter
from nova import context as nova_context
from nova import objects
from nova.tests.functional.api import client as nova_client
from oslo_config import cfg
from oslo_context import context as oslo_context
import pytest
import websocket
from wsgi_intercept import interceptor
from zunclient import client as zun_client
from zunclient import exceptions as zun_exceptions

from nova_zun.runtime import labels
from nova_zun.runtime import rootfs
from nova_zun_workshop import images as test_images
from tests.functional import base
from tests.functional.native_api_support import assert_documented
from tests.functional.native_api_support import assert_zun_error
from tests.functional.native_api_support import Caller
from tests.functional.native_api_support import cli_environment
from tests.functional.native_api_support import glance  # noqa: F401
from tests.functional.native_api_support import identities  # noqa: F401
from tests.functional.native_api_support import keystone  # noqa: F401
from tests.functional import nova_api_support
from tests.functional.runtime_support import local_registry  # noqa: F401
from tests.functional.runtime_support import REGISTRY_PASSWORD
from tests.functional.runtime_support import REGISTRY_USERNAME
from zun_native_api import conf as api_conf
from zun_native_api import openapi
from zun_native_api import policy
from zun_native_api import wsgi as api_wsgi

NOVA_URL = 'http://nova-behind-keystone.test:80/v2.1'
CONTAINER_SPEC = {'trait:CUSTOM_ZUN_CONTAINER_HOST': 'required'}


# An example request of every operation of openapi.yaml, on a container
# when its path names one: (query, JSON body, microversion or None). The
# matrix test fails for an operation missing here: no route escapes it.
MATRIX_REQUESTS = {
    'root': ({}, None, None),
    'v1': ({}, None, None),
    'get_all': ({}, None, None),
    'create': ({}, {'image': '3b5ac68c-5d4a-4f0e-9a5b-2a5e0e7f2c11',
                    'cpu': 1, 'memory': '64'}, None),
    'get_one': ({}, None, None),
    'update': ({}, {'name': 'taken', 'memory': '64'}, None),
    'delete': ({}, None, None),
    'start': ({}, None, None),
    'stop': ({}, None, None),
    'reboot': ({}, None, None),
    'rebuild': ({}, None, None),
    'pause': ({}, None, None),
    'unpause': ({}, None, None),
    'kill': ({'signal': 'SIGKILL'}, None, None),
    'logs': ({}, None, None),
    'execute': ({'command': '"touch" "/tmp/matrix"'}, None, None),
    'execute_resize': ({'exec_id': '0' * 64, 'w': '80', 'h': '24'}, None,
                       None),
    'attach': ({}, None, None),
    'resize': ({'w': '80', 'h': '24'}, None, None),
    'commit': ({'repository': 'matrix'}, None, None),
    'rename': ({'name': 'renamed'}, None, 'container 1.13'),
    'console': ({'token': 'A' * 43}, None, None),
    'top': ({}, None, None),
    'stats': ({}, None, None),
    'get_archive': ({'path': '/etc/hostname'}, None, None),
    'put_archive': ({'path': '/tmp'}, {'data': 'bWF0cml4'}, None),
    'network_attach': ({'network': '5d8b7a53-1c39-4b8a-9f5e-0d3c2b7e6a41'},
                       None, None),
    'network_detach': ({'network': '5d8b7a53-1c39-4b8a-9f5e-0d3c2b7e6a41'},
                       None, None),
    'network_list': ({}, None, None),
    'host_list': ({}, None, None),
    'service_list': ({}, None, None),
}
# The policy rule of an operation, where it is not container:<operation>.
RULES = {'host_list': 'host:get_all', 'service_list': 'zun-service:get_all'}
# What refuses: no token, policy, no such container (or not the caller's).
_REFUSALS = (401, 403, 404)


def _without_request_id(text):
    """An error body with its request id (each request's own) left out."""
    return re.sub(r'req-[0-9a-f-]{36}', 'req-', text)


def _documented_operations():
    """Every operation of openapi.yaml.

    Each is (method, path, operationId, needs a Keystone token).
    """
    return [(method.upper(), path, op['operationId'], 'security' in op)
            for path, methods in openapi.load()['paths'].items()
            for method, op in methods.items()]


class NovaHarness(base.ZunDriverTestCase):
    """Nova's framework behind Keystone, the native API in front of it.

    No tests of its own: test cases of other modules (networks on a private
    switch) build on it.
    """

    @pytest.fixture(autouse=True)
    def _identities(self, keystone, identities):
        self.keystone = keystone
        self.identities = identities

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96,
                                            extra_spec=CONTAINER_SPEC)
        # A flavor that is not a container flavor is never chosen.
        self.container_flavor(vcpu=1, memory_mb=64)
        self.image = self.glance_image_from('printer')
        self._nova_behind_keystone()
        self.native_url = self._serve_native_api()

    def _nova_behind_keystone(self):
        """Nova's API at NOVA_URL behind a real auth_token."""
        protected = nova_api_support.nova_behind_keystone(self,
                                                          self.keystone)
        intercept = interceptor.RequestsInterceptor(
            lambda: protected, url='http://nova-behind-keystone.test:80/')
        intercept.install_intercept()
        self.addCleanup(intercept.uninstall_intercept)

    @pytest.fixture
    def _real_glance(self, glance):
        # A real Glance; Nova's framework keeps its own stub.
        self.real_glance = glance

    def _serve_native_api(self, host='compute1', hosts=None, zun=None,
                          **options):
        conf_file = nova_api_support.conf_file(self, 'zun-native-api.conf', {
            'native_api': dict({
                'host': host,
                'hosts': ','.join('%s:%s' % kv
                                  for kv in (hosts or {}).items()),
                'nova_endpoint': NOVA_URL, 'default_networks': 'none'},
                **options),
            'zun': dict({'engine_url': self.engine_url}, **(zun or {})),
            'keystone_authtoken': nova_api_support.keystone_options(
                self.keystone)})
        conf = cfg.ConfigOpts()
        api_conf.register_opts(conf)
        conf(['--config-file', conf_file], project='zun-native-api')
        return nova_api_support.serve(self, api_wsgi.make_app(conf))

    # -- helpers ------------------------------------------------------------

    def zun(self, who='alice'):
        """python-zunclient's Python API, at its latest version.

        The client negotiates that version from the native API's version
        document.
        """
        return zun_client.Client(
            '1.latest', session=self.identities.session(who),
            endpoint_override=self.native_url + '/v1')

    def _cli(self, command, who):
        command[0] = os.path.join(os.path.dirname(sys.executable),
                                  command[0])
        return subprocess.run(command, env=cli_environment(self.keystone,
                                                           who),
                              capture_output=True, text=True, timeout=120)

    def zun_cli(self, *args, who='alice', bypass=True):
        """The ``zun`` command line of python-zunclient.

        It talks to this test's native API, else to the catalog's container
        endpoint.
        """
        command = ['zun']
        if bypass:
            command += ['--bypass-url', self.native_url + '/v1']
        return self._cli(command + list(args), who)

    def openstack_cli(self, *args, who='alice'):
        """``openstack`` with python-zunclient's appcontainer plugin.

        It finds the native API through the catalog.
        """
        return self._cli(['openstack'] + list(args), who)

    def nova_as(self, who):
        """Nova's API as ``who`` (through the same auth_token)."""
        return adapter.Adapter(self.identities.session(who),
                               service_type='compute',
                               endpoint_override=NOVA_URL,
                               default_microversion='2.79')

    def native(self, who='alice'):
        """Plain HTTP to the native API as ``who``."""
        return Caller(self.native_url, self.identities.token(who))

    def run_container(self, **fields):
        """A container of alice's run through the native API, once Running.

        It runs the test image, with 1 vCPU and 64 MiB unless ``fields`` say
        otherwise. It is deleted after the test, also when it fails (a pod
        still building then would outlive the test's engine cleanup).
        """
        zun = self.zun()
        uuid = zun.containers.run(**dict(
            {'image': self.image, 'cpu': 1, 'memory': '64'},
            **fields)).uuid
        self.addCleanup(self.delete_server, uuid)
        self.wait_for_status(zun, uuid, 'Running')
        return uuid

    def cli_run(self, name, *options, command=(), verb='run', image=None):
        """``zun run`` (or ``verb``) of alice's container ``name``.

        It runs the test image with 1 vCPU and 64 MiB, and is deleted after
        the test. Return its UUID.
        """
        created = self.zun_cli(verb, '--name', name, *options, '--cpu', '1',
                               '--memory', '64', image or self.image,
                               *command)
        self.assertEqual(0, created.returncode, created.stderr)
        uuid = self.zun().containers.get(name).uuid
        self.addCleanup(self.delete_server, uuid)
        return uuid

    def delete_server(self, uuid):
        """Delete the server ``uuid`` unless it is gone; wait until it is."""
        try:
            self.admin_api.delete_server(uuid)
        except nova_client.OpenStackApiNotFoundException:
            return
        self._wait_until_deleted({'id': uuid})

    def wait_for_status(self, client, ident, status):
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            container = client.containers.get(ident)
            if container.status == status:
                return container
            time.sleep(0.5)
        raise AssertionError('%s never became %s (is %s)'
                             % (ident, status, container.status))

    def _serve_with_neutron(self):
        """The native API with a Neutron over the framework's fixture."""
        self.neutron_url = nova_api_support.neutron_behind_keystone(
            self, self.keystone, self.neutron)
        self.native_url = self._serve_native_api(
            neutron_endpoint=self.neutron_url)

    def _groups(self, name):
        return [g for g in self.neutron._security_groups.values()
                if g['name'] == name]

    def _wait_for_no_group(self, name):
        deadline = time.monotonic() + 60
        while self._groups(name):
            self.assertLess(time.monotonic(), deadline, name)
            time.sleep(0.5)


class NativeApiThroughNovaTestCase(NovaHarness):

    # -- tests --------------------------------------------------------------

    def test_zunclient_drives_the_container_lifecycle(self):
        zun = self.zun()
        self.assertEqual('1.40', str(zun.api_version.get_string()))
        created = zun.containers.run(
            name='web', image=self.image, cpu=1, memory='96',
            command=['/bin/sh', '-c',
                     'echo started $GREETING; sleep 2147483647'],
            environment={'GREETING': 'hello'})
        self.assertEqual('Creating', created.status)
        uuid = created.uuid
        container = self.wait_for_status(zun, uuid, 'Running')
        self.assertEqual('web', container.name)
        self.assertEqual('96', container.memory)
        self.assertEqual(1.0, container.cpu)
        self.assertEqual(self.identities.project('alice'),
                         container.project_id)
        # The server metadata the driver honours at boot.
        server = self.admin_api.get_server(uuid)
        self.assertEqual(['/bin/sh', '-c',
                          'echo started $GREETING; sleep 2147483647'],
                         json.loads(server['metadata']['zun_command']))
        self.assertEqual({'GREETING': 'hello'},
                         json.loads(server['metadata']['zun_environment']))

        plain = Caller(self.native_url, self.identities.token('alice'))
        assert_documented('get_one', plain.get('/v1/containers/' + uuid))
        assert_documented('get_all', plain.get('/v1/containers'))

        listed = zun.containers.list()
        self.assertEqual([uuid], [c.uuid for c in listed])
        self.assertEqual('Running', listed[0].status)
        # By name, as the client allows.
        self.assertEqual(uuid, zun.containers.get('web').uuid)

        deadline = time.monotonic() + 30
        while 'started hello' not in zun.containers.logs(
                'web', stdout=True, stderr=True):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.2)
        result = zun.containers.execute(uuid, command='"sh" "-c" '
                                        '"echo $GREETING; exit 4"')
        self.assertEqual(('hello\n', 4), (result['output'],
                                          result['exit_code']))
        top = zun.containers.top(uuid)
        self.assertIn('PID', top['Titles'])
        self.assertIn('MEM USAGE(MiB)', zun.containers.stats(uuid))

        zun.containers.stop(uuid, None)
        self.wait_for_status(zun, uuid, 'Stopped')
        zun.containers.start(uuid)
        self.wait_for_status(zun, uuid, 'Running')
        zun.containers.restart(uuid, None)
        self.wait_for_status(zun, uuid, 'Running')
        zun.containers.delete(uuid)
        self._wait_until_deleted({'id': uuid})
        self.assertEqual([], zun.containers.list())
        self.assertEqual([], self.pod_containers({'id': uuid}))

    def test_a_container_run_interactive_can_be_attached(self):
        zun = self.zun()
        # As ``zun run -i``: the client asks for a TTY with interactive.
        interactive = zun.containers.run(image=self.image, cpu=1,
                                         memory='64', command=['/bin/sh'],
                                         interactive=True).uuid
        detached = zun.containers.run(image=self.image, cpu=1,
                                      memory='64').uuid
        for uuid in (interactive, detached):
            self.wait_for_status(zun, uuid, 'Running')
        metadata = self.admin_api.get_server(interactive)['metadata']
        self.assertEqual(('true', 'true'), (metadata['zun_interactive'],
                                            metadata['zun_tty']))
        alice = Caller(self.native_url, self.identities.token('alice'))
        attach = alice.get('/v1/containers/%s/attach' % interactive)
        self.assertEqual(200, attach.status_code, attach.text)
        self.assertTrue(attach.json().startswith('ws://'), attach.text)
        refused = alice.get('/v1/containers/%s/attach' % detached)
        self.assertEqual(400, refused.status_code, refused.text)
        self.assertIn('stdin is closed', refused.text)

    def test_other_projects_get_404_and_admin_sees_all(self):
        alice = self.zun()
        uuid = alice.containers.run(image=self.image, cpu=1,
                                    memory='64').uuid
        self.wait_for_status(alice, uuid, 'Running')
        bob = self.zun('bob')
        self.assertEqual([], bob.containers.list())
        for call in (lambda: bob.containers.get(uuid),
                     lambda: bob.containers.logs(uuid, stdout=True,
                                                 stderr=True),
                     lambda: bob.containers.stop(uuid, None),
                     lambda: bob.containers.delete(uuid)):
            error = self.assertRaises(zun_exceptions.NotFound, call)
            self.assertEqual(404, getattr(error, 'http_status', None), error)
        admin = self.zun('admin')
        self.assertEqual([uuid], [c.uuid for c in
                                  admin.containers.list(all_projects=True)])
        self.assertEqual(uuid, admin.containers.get(uuid).uuid)
        self.assertIn('hello from nova-zun',
                      admin.containers.logs(uuid, stdout=True, stderr=True))
        admin.containers.delete(uuid)
        self._wait_until_deleted({'id': uuid})

    def test_zun_command_line(self):
        created = self.zun_cli('run', '--cpu', '1', '--memory', '96',
                               '--name', 'cli', self.image)
        self.assertEqual(0, created.returncode, created.stderr)
        zun = self.zun()
        uuid = zun.containers.get('cli').uuid
        self.wait_for_status(zun, uuid, 'Running')
        listing = self.zun_cli('list')
        self.assertEqual(0, listing.returncode, listing.stderr)
        self.assertIn(uuid, listing.stdout)
        self.assertIn('Running', listing.stdout)
        shown = self.zun_cli('show', 'cli')
        self.assertIn(uuid, shown.stdout)
        logs = self.zun_cli('logs', 'cli')
        self.assertIn('hello from nova-zun', logs.stdout)
        executed = self.zun_cli('exec', 'cli', 'echo', 'from the cli')
        self.assertEqual('from the cli', executed.stdout.strip())
        stats = self.zun_cli('stats', 'cli')
        self.assertIn('MEM USAGE(MiB)', stats.stdout)
        # zun cp, both ways: put_archive and get_archive, base64 (1.25+).
        local = tempfile.mkdtemp(prefix='nova-zun-cp-')
        self.addCleanup(shutil.rmtree, local, True)
        with open(os.path.join(local, 'note.txt'), 'w') as f:
            f.write('copied in\n')
        put = self.zun_cli('cp', os.path.join(local, 'note.txt'), 'cli:/tmp')
        self.assertEqual(0, put.returncode, put.stderr)
        self.assertEqual('copied in', self.zun_cli(
            'exec', 'cli', 'cat', '/tmp/note.txt').stdout.strip())
        back = os.path.join(local, 'back')
        got = self.zun_cli('cp', 'cli:/tmp/note.txt', back)
        self.assertEqual(0, got.returncode, got.stderr)
        with open(os.path.join(back, 'note.txt')) as f:
            self.assertEqual('copied in\n', f.read())
        # python-zunclient's own bug: print("%-20s") % titles raises
        # TypeError on Python 3, whatever the server answers.
        top = self.zun_cli('top', 'cli')
        self.assertNotEqual(0, top.returncode)
        self.assertIn("unsupported operand type(s) for %", top.stderr)
        for action, status in (('stop', 'Stopped'), ('start', 'Running')):
            result = self.zun_cli(action, 'cli')
            self.assertIn('has been accepted', result.stdout)
            self.wait_for_status(zun, uuid, status)
        deleted = self.zun_cli('delete', 'cli')
        self.assertIn('has been accepted', deleted.stdout)
        self._wait_until_deleted({'id': uuid})

    def test_a_container_of_another_host_is_forwarded_where_nova_says(self):
        # A native API for compute2, whose engine (the suite's, shared) it
        # does not search for other hosts' containers: Nova's hostId says
        # compute1 runs it, and compute1's native API answers.
        other_url = self._serve_native_api(
            'compute2', hosts={'compute1': self.native_url})
        alice = self.zun()
        uuid = alice.containers.run(image=self.image, cpu=1,
                                    memory='64').uuid
        self.wait_for_status(alice, uuid, 'Running')
        through_compute2 = zun_client.Client(
            '1.latest', session=self.identities.session('alice'),
            endpoint_override=other_url + '/v1')
        result = through_compute2.containers.execute(
            uuid, command='"cat" "/proc/1/cmdline"')
        self.assertEqual(0, result['exit_code'])
        self.assertIn('sleep', result['output'])
        # Not a container of compute2, and no peer for bob: 404.
        bob = zun_client.Client(
            '1.latest', session=self.identities.session('bob'),
            endpoint_override=other_url + '/v1')
        self.assertRaises(zun_exceptions.NotFound, bob.containers.top, uuid)
        alice.containers.delete(uuid)
        self._wait_until_deleted({'id': uuid})

    def test_update_renames_and_changes_limits_live(self):
        zun = self.zun()
        uuid = zun.containers.run(image=self.image, cpu=1,
                                  memory='96').uuid
        self.wait_for_status(zun, uuid, 'Running')
        started_at = self.workload({'id': uuid}).started_at
        updated = zun.containers.update(uuid, cpu=0.5, memory='80')
        self.assertEqual(('80', 0.5), (updated.memory, updated.cpu))
        host_config = self.workload({'id': uuid}).details['HostConfig']
        self.assertEqual(80 * 1024 * 1024, host_config['Memory'])
        self.assertEqual(50000, host_config['CpuQuota'])
        # Live: the workload was not restarted.
        self.assertEqual(started_at, self.workload({'id': uuid}).started_at)
        renamed = zun.containers.update(uuid, name='renamed')
        self.assertEqual('renamed', renamed.name)
        self.assertEqual('renamed', self.admin_api.get_server(uuid)['name'])
        bob = self.zun('bob')
        self.assertRaises(zun_exceptions.NotFound, bob.containers.update,
                          uuid, memory='200')
        self.assertEqual(80 * 1024 * 1024, self.workload(
            {'id': uuid}).details['HostConfig']['Memory'])
        zun.containers.delete(uuid)
        self._wait_until_deleted({'id': uuid})

    def test_rename_of_microversions_up_to_1_13_renames_the_server(self):
        zun = self.zun()
        uuid = zun.containers.run(name='before', image=self.image, cpu=1,
                                  memory='64').uuid
        self.wait_for_status(zun, uuid, 'Running')

        def client(who):
            return zun_client.Client(
                '1.13', session=self.identities.session(who),
                endpoint_override=self.native_url + '/v1')
        client('alice').containers.rename(uuid, 'after')
        self.assertEqual('after', self.admin_api.get_server(uuid)['name'])
        self.assertEqual(uuid, zun.containers.get('after').uuid)
        self.assertRaises(zun_exceptions.NotFound,
                          client('bob').containers.rename, uuid, 'bobs')
        # Later microversions rename with PATCH (as zun update does).
        self.assertRaises(zun_exceptions.NotAcceptable,
                          zun.containers.rename, uuid, 'latest')
        self.assertEqual('after', self.admin_api.get_server(uuid)['name'])
        zun.containers.delete(uuid)
        self._wait_until_deleted({'id': uuid})

    def test_clients_find_it_in_the_catalog(self):
        # As devstack registers Zun: one endpoint of type container,
        # ending in /v1. Both command lines find it there.
        service = self.keystone.add_endpoint('container', 'nova-zun',
                                             self.native_url + '/v1')
        self.addCleanup(self.keystone.remove_service, service)
        zun = self.zun()
        uuid = zun.containers.run(name='cat', image=self.image, cpu=1,
                                  memory='64').uuid
        self.wait_for_status(zun, uuid, 'Running')
        listing = self.zun_cli('list', bypass=False)
        self.assertEqual(0, listing.returncode, listing.stderr)
        self.assertIn(uuid, listing.stdout)
        osc = self.openstack_cli('appcontainer', 'list', '-f', 'json')
        self.assertEqual(0, osc.returncode, osc.stderr)
        self.assertEqual([uuid], [c['uuid'] for c in json.loads(osc.stdout)])
        shown = self.openstack_cli('appcontainer', 'show', 'cat', '-f',
                                   'json')
        self.assertEqual('Running', json.loads(shown.stdout)['status'])
        executed = self.openstack_cli('appcontainer', 'exec', 'cat', 'echo',
                                      'via', 'osc')
        self.assertIn('via osc', executed.stdout)
        zun.containers.delete(uuid)
        self._wait_until_deleted({'id': uuid})

    def test_update_keeps_limits_within_the_flavor(self):
        # 1 vCPU, 96 MiB: self.flavor. A bigger container flavor exists.
        bigger = self.admin_api.get_flavor(self.container_flavor(
            vcpu=2, memory_mb=256, extra_spec=CONTAINER_SPEC))
        zun = self.zun()
        uuid = self.run_container(memory='96')
        alice = self.native()
        resize = 'openstack server resize --flavor %s %s' % (
            bigger['name'], uuid)
        for body, advice in (({'memory': '200'}, resize),
                             ({'cpu': 2}, resize),
                             ({'cpu': 1.5, 'memory': '64'}, resize),
                             ({'memory': '1g'}, 'No container flavor')):
            error = assert_zun_error(alice.request(
                'PATCH', '/v1/containers/' + uuid, json=body), 409)
            self.assertIn(advice, error['detail'])
        host_config = self.workload({'id': uuid}).details['HostConfig']
        self.assertEqual((96 * 1024 * 1024, 100000),
                         (host_config['Memory'], host_config['CpuQuota']))
        # Lower, then back up to the flavor.
        zun.containers.update(uuid, cpu=0.5, memory='64')
        updated = zun.containers.update(uuid, cpu=1, memory='96')
        self.assertEqual(('96', 1.0), (updated.memory, updated.cpu))
        host_config = self.workload({'id': uuid}).details['HostConfig']
        self.assertEqual((96 * 1024 * 1024, 100000),
                         (host_config['Memory'], host_config['CpuQuota']))

    def test_names_are_looked_up_exactly(self):
        demo = self.run_container(name='demo')
        # A name only Nova's own API lets one give.
        odd = self.nova_as('alice').post('/servers', json={'server': {
            'name': 'rel1|demo', 'imageRef': self.image,
            'flavorRef': self.flavor, 'networks': 'none'}}).json()[
                'server']['id']
        self.addCleanup(self.delete_server, odd)
        alice = self.native()

        def show(ident):
            return alice.get('/v1/containers/'
                             + urlparse.quote(ident, safe=''))
        self.assertEqual(demo, show('demo').json()['uuid'])
        self.assertEqual(odd, show('rel1|demo').json()['uuid'])
        for ident in ('d%2E%2A', 'd.*', 'de', 'DEMO', 'rel1', 'demo#x',
                      'nomatch&name=demo', 'demo\\', '(demo)',
                      'd\U0001F600mo', '\U0001F600'):
            response = show(ident)
            error = assert_zun_error(response, 404)
            self.assertEqual('Container %s could not be found.' % ident,
                             error['detail'])

        def listed(name):
            response = alice.get('/v1/containers', params={'name': name})
            self.assertEqual(200, response.status_code, response.text)
            return [c['uuid'] for c in response.json()['containers']]
        self.assertEqual([demo], listed('demo'))
        self.assertEqual([odd], listed('rel1|demo'))
        self.assertEqual([], listed('d%2E%2A'))
        self.assertEqual([], listed('d\U0001F600mo'))
        # zun delete acts on the container named, not on demo.
        deleted = self.zun_cli('delete', 'rel1|demo')
        self.assertEqual(0, deleted.returncode, deleted.stderr)
        self._wait_until_deleted({'id': odd})
        self.assertEqual(demo, show('demo').json()['uuid'])

    def test_list_pages_through_nova(self):
        self.flags(max_limit=2, group='api')
        made = {self.run_container() for _ in range(3)}
        self.assertEqual(made, {c.uuid for c in self.zun().containers.list()})
        # The API's own pages: limit, and a next link to the rest.
        alice = self.native()
        page = alice.get('/v1/containers', params={'limit': '2'}).json()
        self.assertEqual(2, len(page['containers']))
        assert_documented('get_all', alice.get('/v1/containers',
                                               params={'limit': '2'}))
        following = urlparse.urlsplit(page['next'])
        rest = alice.get('%s?%s' % (following.path, following.query)).json()
        self.assertEqual(made, {c['uuid'] for c in page['containers'] +
                                rest['containers']})
        self.assertIsNone(rest['next'])

    @pytest.mark.usefixtures('_real_glance')
    def test_image_names_are_looked_up_whole_in_glance(self):
        # The Glance the native API asks holds, under a name with a colon,
        # the image Nova's own stub boots.
        images = glanceclient.Client(
            '2', session=self.identities.session('alice'),
            endpoint_override=self.real_glance.url).images
        images.create(id=self.image, name='printer:latest',
                      container_format='docker', disk_format='raw')
        self.addCleanup(images.delete, self.image)
        self.native_url = self._serve_native_api(
            glance_endpoint=self.real_glance.url)
        uuid = self.run_container(image='printer:latest')
        self.assertEqual(self.image, self.zun().containers.get(uuid).image)
        error = assert_zun_error(self.native().post(
            '/v1/containers', json={'image': 'printer:missing'}), 400)
        self.assertEqual('Image printer:missing: not found',
                         error['detail'])

    def test_a_nova_failure_is_502_and_logged_with_its_cause(self):
        self.useFixture(fixtures.MockPatch(
            'nova.compute.api.API.get_all',
            side_effect=RuntimeError('the database went away')))
        response = self.native().get('/v1/containers/demo')
        error = assert_zun_error(response, 502)
        self.assertIn('Unexpected API Error', error['detail'])
        logged = [line for line in self.stdlog.logger.output.splitlines()
                  if 'GET /servers/detail failed (Nova answered 500, '
                     'request req-' in line]
        self.assertEqual(1, len(logged), self.stdlog.logger.output)
        self.assertIn('Unexpected API Error', logged[0])

    def _policy_allows(self, who, operation, project_id):
        """What the API's default policy says of ``who``'s token.

        That is for ``container:<operation>`` on a container of
        ``project_id`` (None: of ``who``'s project).
        """
        access = self.identities.session(who).auth.get_access(
            self.identities.session(who))
        caller = oslo_context.RequestContext(
            roles=access.role_names, project_id=access.project_id,
            user_id=access.user_id)
        conf = cfg.ConfigOpts()
        conf([], default_config_files=[])
        return policy.authorize(policy.make_enforcer(conf),
                                RULES.get(operation,
                                          'container:' + operation),
                                caller, project_id)

    def _console(self, token, query):
        """The console WebSocket's handshake status with ``token``.

        ``token`` is a Keystone token or None; ``query`` is sent too.
        """
        url = '%s/console?%s' % (self.native_url.replace('http', 'ws', 1),
                                 urlparse.urlencode(query))
        headers = {'X-Auth-Token': token} if token else {}
        try:
            websocket.create_connection(url, header=headers, timeout=60,
                                        subprotocols=['binary']).close()
        except websocket.WebSocketBadStatusException as exc:
            return exc.status_code, exc.resp_body
        return 101, b''

    def test_cross_project_matrix(self):
        """Others get the right status on A's container and change nothing.

        Every operation of openapi.yaml runs on project A's container, as
        project B, as a reader of project A and without a token: 401 without
        one, 404 (the answer for a missing container, word for word) to B, 403
        where the policy refuses the reader; nothing changes.
        """
        documented = _documented_operations()
        self.assertEqual(sorted(MATRIX_REQUESTS),
                         sorted(op for _, _, op, _ in documented),
                         'give every operation an example in '
                         'MATRIX_REQUESTS')
        uuid = self.run_container(name='matrix-a', memory='96')
        project_a = self.identities.project('alice')
        before = self.workload({'id': uuid})
        files = self.runtime.exec(before.id, ['ls', '-a', '/tmp']).output
        missing = {uuid: '9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d',
                   'matrix-a': 'matrix-z'}
        callers = {'bob': self.identities.token('bob'),
                   'carol': self.identities.token('carol'), None: None}
        table, wrong = [], []

        def call(token, method, path, ident, query, body, version):
            caller = Caller(self.native_url, token,
                            version=version or 'container 1.40')
            if ident:
                path = path.replace('{container_ident}',
                                    urlparse.quote(ident, safe=''))
            return caller.request(method, path, params=query, json=body)

        for method, path, operation, secured in documented:
            query, body, version = MATRIX_REQUESTS[operation]
            per_container = '{container_ident}' in path
            for who, token in callers.items():
                for ident in ((uuid, 'matrix-a') if per_container
                              else (None,)):
                    if operation == 'console':
                        status, text = self._console(
                            token, dict(query, uuid=uuid))
                        expected = 401
                    else:
                        response = call(token, method, path, ident, query,
                                        body, version)
                        status, text = response.status_code, response.text
                        if not secured:
                            expected = 200
                        elif who is None:
                            expected = 401
                        elif per_container and who == 'bob':
                            expected = 404
                            absent = call(token, method, path,
                                          missing[ident], query, body,
                                          version)
                            if (absent.status_code, _without_request_id(
                                    absent.text).replace(missing[ident],
                                                         ident)) != (
                                    status, _without_request_id(text)):
                                wrong.append((operation, who, ident,
                                              'differs from a missing one',
                                              absent.text, text))
                        elif self._policy_allows(
                                who, operation,
                                project_a if per_container else None):
                            expected = 'allowed'
                        else:
                            expected = 403
                        if (operation == 'get_all' and who == 'bob' and
                                uuid in text):
                            wrong.append((operation, who, ident,
                                          'lists A\'s container', text))
                    matches = (status not in _REFUSALS
                               if expected == 'allowed'
                               else status == expected)
                    table.append('%-6s %-47s %-5s %-8s %-9s -> %s' % (
                        method, path, who, 'by name' if ident == 'matrix-a'
                        else '', expected, status))
                    if not matches:
                        wrong.append((operation, who, ident, expected,
                                      status, text))
        self.assertEqual([], wrong, '\n'.join(table))
        # Nothing changed.
        after = self.workload({'id': uuid})
        self.assertEqual(('running', before.started_at,
                          before.details['HostConfig']['Memory']),
                         (after.state.value, after.started_at,
                          after.details['HostConfig']['Memory']))
        server = self.admin_api.get_server(uuid)
        self.assertEqual(('ACTIVE', 'matrix-a'),
                         (server['status'], server['name']))
        self.assertEqual(files, self.runtime.exec(
            after.id, ['ls', '-a', '/tmp']).output)

    def test_a_paused_container_shows_paused(self):
        zun = self.zun()
        uuid = self.run_container()
        paused = self.zun_cli('pause', uuid)
        self.assertEqual(0, paused.returncode, paused.stderr)
        self.assertEqual('paused', self.workload({'id': uuid}).state.value)
        self.wait_for_status(zun, uuid, 'Paused')
        shown = self.native().get('/v1/containers/' + uuid)
        assert_documented('get_one', shown)
        self.assertEqual('Paused', shown.json()['status'])
        listed = self.native().get('/v1/containers').json()['containers']
        self.assertEqual(['Paused'], [c['status'] for c in listed])
        unpaused = self.zun_cli('unpause', uuid)
        self.assertEqual(0, unpaused.returncode, unpaused.stderr)
        self.wait_for_status(zun, uuid, 'Running')

    def _stop_timeouts(self):
        """The timeouts the workload's stops are given, as they come."""
        runtime = self.driver('compute1').runtime
        spy = self.useFixture(fixtures.MockPatchObject(
            runtime, 'stop', wraps=runtime.stop)).mock
        return lambda: [c.kwargs.get('timeout') for c in spy.call_args_list
                        if c.args and not c.args[0].endswith('-sandbox')]

    def test_stop_honours_zuns_timeout(self):
        # The test image's PID 1 (sleep) ignores SIGTERM: a stop waits its
        # whole timeout, Zun's 10 s unless the caller gives another.
        zun = self.zun()
        uuid = self.run_container()
        timeouts = self._stop_timeouts()
        alice = self.native()
        self.assertEqual(202, alice.post(
            '/v1/containers/%s/stop' % uuid,
            params={'timeout': '2'}).status_code)
        self.wait_for_status(zun, uuid, 'Stopped')
        zun.containers.start(uuid)
        self.wait_for_status(zun, uuid, 'Running')
        stopped = self.zun_cli('stop', uuid)
        self.assertEqual(0, stopped.returncode, stopped.stderr)
        self.wait_for_status(zun, uuid, 'Stopped')
        zun.containers.start(uuid)
        self.wait_for_status(zun, uuid, 'Running')
        # Nova's own stop of a container made here: Zun's default too.
        self.nova_as('alice').post('/servers/%s/action' % uuid,
                                   json={'os-stop': None})
        self.wait_for_status(zun, uuid, 'Stopped')
        self.assertEqual([2, 10, 10], timeouts())
        assert_zun_error(alice.post('/v1/containers/%s/stop' % uuid,
                                    params={'timeout': '-1'}), 400)
        # Refused by Nova (stopped already): nothing changed.
        assert_zun_error(alice.post('/v1/containers/%s/stop' % uuid,
                                    params={'timeout': '3'}), 409)
        self.assertEqual('10', self.admin_api.get_server(uuid)[
            'metadata']['zun_stop_timeout'])

    def test_memory_and_cpu_are_what_was_asked(self):
        # self.flavor (1 vCPU, 96 MiB) is the smallest container flavor.
        zun = self.zun()
        uuid = self.run_container(memory='64', cpu=0.5)
        shown = zun.containers.get(uuid)
        self.assertEqual(('64', 0.5), (shown.memory, shown.cpu))
        host_config = self.workload({'id': uuid}).details['HostConfig']
        self.assertEqual((64 * 1024 * 1024, 50000),
                         (host_config['Memory'], host_config['CpuQuota']))
        updated = self.zun_cli('update', '--memory', '80', uuid)
        self.assertEqual(0, updated.returncode, updated.stderr)
        self.assertEqual(('80', 0.5), (zun.containers.get(uuid).memory,
                                       zun.containers.get(uuid).cpu))
        # What was asked outlives a hard reboot that recreates the
        # workload.
        self.runtime.remove(self.workload({'id': uuid}).id, force=True)
        self.api.post_server_action(uuid, {'reboot': {'type': 'HARD'}})
        self._wait_for_server_parameter(
            {'id': uuid}, {'status': 'ACTIVE', 'OS-EXT-STS:task_state': None})
        host_config = self.workload({'id': uuid}).details['HostConfig']
        self.assertEqual(80 * 1024 * 1024, host_config['Memory'])
        # Server metadata set behind the API's back stays within the
        # flavor (what Placement allocated).
        self.nova_as('alice').put(
            '/servers/%s/metadata/zun_memory' % uuid,
            json={'meta': {'zun_memory': '4096'}})
        self.assertEqual('96', zun.containers.get(uuid).memory)

    def test_labels_and_hostname_as_given(self):
        zun = self.zun()
        uuid = self.cli_run(
            'labelled', '--hostname', 'web-1', '--label', 'tier=front',
            '--label', 'org.openstack.nova-zun.project=someone-else')
        container = self.wait_for_status(zun, uuid, 'Running')
        self.assertEqual({'tier': 'front',
                          'org.openstack.nova-zun.project': 'someone-else'},
                         container.labels)
        self.assertEqual('web-1', container.hostname)
        workload = self.workload({'id': uuid})
        self.assertEqual('web-1', self.runtime.exec(
            workload.id, ['hostname']).output.decode().strip())
        # The ownership labels are the engine's own, never the caller's.
        self.assertEqual(self.identities.project('alice'),
                         workload.labels['org.openstack.nova-zun.project'])
        self.assertNotIn('tier', workload.labels)
        alice = self.native()
        for body in ({'labels': {'a': 1}}, {'labels': {'': 'x'}},
                     {'hostname': 'bad_host!'}, {'hostname': '-x'},
                     {'hostname': 'a' * 64}):
            assert_zun_error(alice.post('/v1/containers', json=dict(
                body, image=self.image)), 400)

    def test_hosts_and_services_for_the_admin(self):
        admin = Caller(self.native_url, self.identities.token('admin'))
        hosts = admin.get('/v1/hosts')
        assert_documented('host_list', hosts)
        (host,) = hosts.json()['hosts']
        self.assertEqual('compute1', host['hostname'])
        self.assertGreater(host['cpus'], 0)
        self.assertGreater(host['mem_total'], 0)
        services = admin.get('/v1/services')
        assert_documented('service_list', services)
        (service,) = services.json()['services']
        self.assertEqual(('compute1', 'up', False),
                         (service['host'], service['state'],
                          service['disabled']))
        listed = self.zun_cli('host-list', who='admin')
        self.assertEqual(0, listed.returncode, listed.stderr)
        self.assertIn('compute1', listed.stdout)
        listed = self.zun_cli('service-list', who='admin')
        self.assertEqual(0, listed.returncode, listed.stderr)
        self.assertIn('compute1', listed.stdout)
        for path in ('/v1/hosts', '/v1/services'):
            assert_zun_error(self.native().get(path), 403)

    def _restarts(self, uuid):
        return self.workload({'id': uuid}).details['RestartCount']

    def test_restart_policy_has_the_engine_start_the_workload_again(self):
        zun = self.zun()
        # At most two restarts after a failure: three runs, then Stopped,
        # as Nova hears from the engine's last stop.
        retried = self.cli_run(
            'retried', '--restart', 'on-failure:2',
            command=('sh', '-c', 'echo run >> /runs; exit 3'))
        container = self.wait_for_status(zun, retried, 'Stopped')
        self.assertEqual({'Name': 'on-failure', 'MaximumRetryCount': '2'},
                         container.restart_policy)
        self.assertEqual(2, self._restarts(retried))
        self.assertEqual(
            {'Name': 'on-failure', 'MaximumRetryCount': 2},
            self.workload({'id': retried}).details['HostConfig'][
                'RestartPolicy'])
        self._wait_for_server_parameter({'id': retried},
                                        {'status': 'SHUTOFF'})
        # Raw HTTP: always restarts whatever the exit; Nova keeps it
        # running (ACTIVE, power state running) meanwhile.
        alice = self.native()
        answer = alice.post('/v1/containers', params={'run': 'true'}, json={
            'image': self.image, 'cpu': 1, 'memory': '64',
            'command': ['sh', '-c', 'sleep 1'],
            'restart_policy': {'Name': 'always'}})
        self.assertEqual(202, answer.status_code, answer.text)
        assert_documented('create', answer)
        always = answer.json()['uuid']
        self.addCleanup(self.delete_server, always)
        self.wait_for_status(zun, always, 'Running')
        deadline = time.monotonic() + 60
        while self._restarts(always) < 2:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.5)
        server = self.admin_api.get_server(always)
        self.assertEqual(('ACTIVE', 1), (server['status'],
                                         server['OS-EXT-STS:power_state']))
        self.assertEqual('Running', zun.containers.get(always).status)
        # A stop through Nova is never undone by the engine ("always" is
        # the engine's unless-stopped).
        self.assertEqual(
            'unless-stopped', self.workload({'id': always}).details[
                'HostConfig']['RestartPolicy']['Name'])
        zun.containers.stop(always, None)
        self.wait_for_status(zun, always, 'Stopped')
        stopped = self._restarts(always)
        time.sleep(3)
        self.assertEqual((stopped, 'exited'),
                         (self._restarts(always),
                          self.workload({'id': always}).state.value))
        self.assertEqual('Stopped', zun.containers.get(always).status)
        for restart in ({'Name': 'always', 'MaximumRetryCount': '1'},
                        {'Name': 'sometimes'},
                        {'Name': 'on-failure', 'MaximumRetryCount': '-1'},
                        {'MaximumRetryCount': '1'}):
            assert_zun_error(alice.post('/v1/containers', json={
                'image': self.image, 'restart_policy': restart}), 400)

    def test_create_without_run_is_created_and_start_starts_it(self):
        zun = self.zun()
        made = self.cli_run('made', verb='create')
        self.wait_for_status(zun, made, 'Created')
        # Nova's server is built, the workload made and never started.
        self.assertEqual('created', self.workload({'id': made}).state.value)
        server = self.admin_api.get_server(made)
        self.assertEqual(('ACTIVE', 0), (server['status'],
                                         server['OS-EXT-STS:power_state']))
        started = self.zun_cli('start', 'made')
        self.assertEqual(0, started.returncode, started.stderr)
        self.wait_for_status(zun, made, 'Running')
        self.assertEqual('running', self.workload({'id': made}).state.value)
        # Raw HTTP, as zun-tempest-plugin does.
        alice = self.native()
        answer = alice.post('/v1/containers', json={
            'image': self.image, 'cpu': 1, 'memory': '64'})
        self.assertEqual(202, answer.status_code, answer.text)
        uuid = answer.json()['uuid']
        self.addCleanup(self.delete_server, uuid)
        shown = self.wait_for_status(zun, uuid, 'Created')
        assert_documented('get_one', alice.get('/v1/containers/' + uuid))
        self.assertEqual('Created', shown.status)
        self.assertEqual(202, alice.post(
            '/v1/containers/%s/start' % uuid).status_code)
        self.wait_for_status(zun, uuid, 'Running')
        zun.containers.stop(uuid, None)
        self.wait_for_status(zun, uuid, 'Stopped')
        self.assertEqual(202, alice.post(
            '/v1/containers/%s/start' % uuid).status_code)
        self.wait_for_status(zun, uuid, 'Running')

    def test_rebuild_makes_the_workload_anew_through_nova(self):
        zun = self.zun()
        uuid = self.run_container(name='rebuilt')
        before = self.workload({'id': uuid})
        self.runtime.exec(before.id, ['touch', '/tmp/written'])
        rebuilt = self.zun_cli('rebuild', 'rebuilt')
        self.assertEqual(0, rebuilt.returncode, rebuilt.stderr)
        self.assertNotIn('failed', rebuilt.stdout)
        self._wait_for_server_parameter(
            {'id': uuid}, {'status': 'ACTIVE', 'OS-EXT-STS:task_state': None})
        self.wait_for_status(zun, uuid, 'Running')
        after = self.workload({'id': uuid})
        self.assertNotEqual(before.id, after.id)
        self.assertNotEqual(0, self.runtime.exec(
            after.id, ['stat', '/tmp/written']).exit_code)
        actions = self.admin_api.get_instance_actions(uuid)
        self.assertIn('rebuild', [a['action'] for a in actions])
        # Raw HTTP, naming the image; a stopped container stays stopped.
        zun.containers.stop(uuid, None)
        self.wait_for_status(zun, uuid, 'Stopped')
        alice = self.native()
        self.assertEqual(202, alice.post(
            '/v1/containers/%s/rebuild' % uuid,
            params={'image': self.image}).status_code)
        self._wait_for_server_parameter(
            {'id': uuid}, {'status': 'SHUTOFF', 'OS-EXT-STS:task_state': None})
        self.assertNotEqual(after.id, self.workload({'id': uuid}).id)
        self.assertEqual('Stopped', zun.containers.get(uuid).status)
        assert_zun_error(alice.post('/v1/containers/%s/rebuild' % uuid,
                                    params={'image_driver': 'other'}), 400)
        assert_zun_error(self.native('bob').post(
            '/v1/containers/%s/rebuild' % uuid), 404)

    def test_hints_are_nova_scheduler_hints(self):
        # A server group of Nova's default filters: one host here, so a
        # second member of an anti-affinity group finds none.
        zun = self.zun()
        group = self.nova_as('alice').post('/os-server-groups', json={
            'server_group': {'name': 'apart', 'policy': 'anti-affinity'}}
        ).json()['server_group']['id']
        member = self.cli_run('member', '--hint', 'group=' + group)
        self.wait_for_status(zun, member, 'Running')
        members = self.nova_as('alice').get(
            '/os-server-groups/' + group).json()['server_group']['members']
        self.assertEqual([member], members)
        answer = self.native().post(
            '/v1/containers', params={'run': 'true'},
            json={'image': self.image, 'cpu': 1, 'memory': '64',
                  'hints': {'group': group}})
        self.assertEqual(202, answer.status_code, answer.text)
        apart = answer.json()['uuid']
        self.addCleanup(self.delete_server, apart)
        failed = self.wait_for_status(zun, apart, 'Error')
        self.assertIn('No valid host', failed.status_reason)
        assert_zun_error(self.native().post('/v1/containers', json={
            'image': self.image, 'hints': {'group': 3}}), 400)

    @pytest.fixture
    def _registry(self, local_registry):
        self.registry = local_registry

    def _push_to_registry(self, name):
        """The sleeper test image pushed to the local registry as ``name``.

        The engine keeps no copy: a boot must pull it.
        """
        ref = '%s/%s' % (self.registry.address, name)
        image_id = self.runtime.import_rootfs(
            rootfs.busybox_rootfs('/bin/busybox', test_images.APPLETS), ref,
            command=test_images.COMMANDS['sleeper'],
            labels={labels.IMAGE_KIND: test_images.IMAGE_KIND_TEST})
        self.runtime.push_image(ref, auth={'username': REGISTRY_USERNAME,
                                           'password': REGISTRY_PASSWORD})
        self.runtime.remove_image(image_id, force=True)
        return ref

    def _remove_engine_image(self, image):
        if self.runtime.image_exists(image):
            self.runtime.remove_image(image, force=True)

    @pytest.mark.usefixtures('_real_glance', '_registry')
    def test_image_driver_docker_boots_a_registry_image(self):
        self.flags(registry_username=REGISTRY_USERNAME,
                   registry_password=REGISTRY_PASSWORD,
                   registry_auth_hosts=[self.registry.address], group='zun')
        ref = self._push_to_registry('zun-test/app:v1')
        self.native_url = self._serve_native_api(
            glance_endpoint=self.real_glance.url,
            zun={'allowed_registries': self.registry.address})
        images = glanceclient.Client(
            '2', session=self.identities.session('alice'),
            endpoint_override=self.real_glance.url).images
        self._mirror_into_novas_glance(images)
        # The first create makes alice's Glance image naming the reference,
        # with no data; the boot pulls it.
        uuid = self.cli_run('pulled', '--image-driver', 'docker',
                            image=ref)
        (made,) = images.list(filters={'zun_registry_reference': ref})
        # After the server's delete (cleanups run last-added first).
        self.addCleanup(self._remove_engine_image,
                        'glance/%s:latest' % made['id'])
        self.addCleanup(images.delete, made['id'])
        self.assertEqual(
            (ref, self.identities.project('alice'), 'private', 'docker', 0),
            (made['name'], made['owner'], made['visibility'],
             made['container_format'], made['size']))
        zun = self.zun()
        container = self.wait_for_status(zun, uuid, 'Running')
        self.assertEqual(made['id'], container.image)
        self.assertEqual('glance/%s:latest' % made['id'],
                         self.workload({'id': uuid}).image)
        # Raw HTTP: the next create reuses alice's image.
        alice = self.native()
        answer = alice.post('/v1/containers', params={'run': 'true'},
                            json={'image': ref, 'image_driver': 'docker',
                                  'cpu': 1, 'memory': '64'})
        self.assertEqual(202, answer.status_code, answer.text)
        self.addCleanup(self.delete_server, answer.json()['uuid'])
        self.wait_for_status(zun, answer.json()['uuid'], 'Running')
        self.assertEqual([made['id']], [i['id'] for i in images.list(
            filters={'zun_registry_reference': ref})])
        # Refused, by the API or by Nova (a group that is no UUID): no
        # image is left made.
        for image, extra in (('registry.example:5000/app:1', {}),
                             ('Not A Reference', {}),
                             (self.registry.address + '/other:1',
                              {'hints': {'group': 'no-uuid'}})):
            assert_zun_error(alice.post('/v1/containers', json=dict(
                extra, image=image, image_driver='docker')), 400)
        self.assertEqual([made['id']], [i['id'] for i in images.list(
            filters={'owner': self.identities.project('alice')})])

    def _mirror_into_novas_glance(self, images):
        """Have Nova's Glance stub copy what it lacks from the real Glance.

        Nova's framework reads its own stub; the copy is the image's
        metadata (a registry image has no data: all the driver reads).
        """
        stub = self.glance
        show = stub.show

        def mirrored(context, image_id, *args, **kwargs):
            if str(image_id) not in stub.images:
                image = images.get(image_id)
                metadata = {
                    'id': image['id'], 'name': image['name'],
                    'status': image['status'], 'size': image['size'] or 0,
                    'container_format': image['container_format'],
                    'disk_format': image['disk_format'], 'min_ram': 0,
                    'min_disk': 0, 'properties': {
                        'zun_registry_reference':
                            image['zun_registry_reference']}}
                stub.create(context, metadata, data=io.BytesIO(b''))
            return show(context, image_id, *args, **kwargs)
        self.useFixture(fixtures.MockPatchObject(stub, 'show',
                                                 side_effect=mirrored))

    def _instance_groups(self, uuid):
        # What Nova gives the ports it makes for the server.
        spec = objects.RequestSpec.get_by_instance_uuid(
            nova_context.get_admin_context(), uuid)
        return [g.uuid if g.obj_attr_is_set('uuid') else g.name
                for g in spec.security_groups]

    def test_exposed_ports_open_a_security_group_of_the_container(self):
        self._serve_with_neutron()
        zun = self.zun()
        uuid = self.cli_run('exposed', '--expose-port', '80',
                            '--expose-port', '53/udp')
        container = self.wait_for_status(zun, uuid, 'Running')
        self.assertEqual([53, 80], container.ports)
        self.assertEqual({'53/udp': {}, '80/tcp': {}},
                         container.exposed_ports)
        # Zun's group: named for the container, an ingress rule per port
        # from anywhere, the caller's; Nova was asked for it alone (its
        # ports get it).
        (group,) = self._groups('zun-' + uuid)
        self.assertEqual(self.identities.project('alice'),
                         group['tenant_id'])
        self.assertEqual(
            [(53, 53, 'udp', '0.0.0.0/0'), (80, 80, 'tcp', '0.0.0.0/0')],
            sorted((r['port_range_min'], r['port_range_max'],
                    r['protocol'], r['remote_ip_prefix'])
                   for r in group['security_group_rules']
                   if r['direction'] == 'ingress'))
        self.assertEqual([group['id']], self._instance_groups(uuid))
        # The group goes with the container.
        deleted = self.zun_cli('delete', 'exposed')
        self.assertEqual(0, deleted.returncode, deleted.stderr)
        self._wait_until_deleted({'id': uuid})
        self._wait_for_no_group('zun-' + uuid)
        # Raw HTTP, as zun-tempest-plugin sends it.
        alice = self.native()
        answer = alice.post('/v1/containers', params={'run': 'true'}, json={
            'image': self.image, 'cpu': 1, 'memory': '64',
            'exposed_ports': {'8080/tcp': {}}})
        self.assertEqual(202, answer.status_code, answer.text)
        assert_documented('create', answer)
        raw = answer.json()['uuid']
        self.addCleanup(self.delete_server, raw)
        self.assertEqual([8080], answer.json()['ports'])
        self.wait_for_status(zun, raw, 'Running')
        (group,) = self._groups('zun-' + raw)
        self.assertEqual(204, alice.request(
            'DELETE', '/v1/containers/' + raw).status_code)
        self._wait_for_no_group('zun-' + raw)
        # Refused: nothing made.
        before = dict(self.neutron._security_groups)
        for body, version, status in (
                ({'exposed_ports': {'80': {}}}, 'container 1.23', 406),
                ({'exposed_ports': {'80/sctp': {}}}, None, 400),
                ({'exposed_ports': {'0': {}}}, None, 400),
                ({'exposed_ports': {'99999': {}}}, None, 400),
                ({'exposed_ports': {'80': {}},
                  'security_groups': ['default']}, None, 400)):
            caller = Caller(self.native_url, self.identities.token('alice'),
                            **({'version': version} if version else {}))
            assert_zun_error(caller.post('/v1/containers', json=dict(
                body, image=self.image)), status)
        self.assertEqual(before, self.neutron._security_groups)
        refused = self.zun_cli('run', '--expose-port', '80/sctp',
                               self.image)
        self.assertNotEqual(0, refused.returncode)

    def _workload_anew(self, uuid, old_id):
        deadline = time.monotonic() + 90
        while True:
            workloads = self.pod_containers({'id': uuid})
            workload = next((c for c in workloads
                             if c.name == 'nova-' + uuid), None)
            if workload and workload.id != old_id and \
                    workload.state.value == 'running':
                return workload
            self.assertLess(time.monotonic(), deadline,
                            'no new workload for %s' % uuid)
            time.sleep(0.5)

    def test_auto_heal_makes_a_removed_workload_anew(self):
        zun = self.zun()
        healed = self.cli_run('healed', '--auto-heal')
        container = self.wait_for_status(zun, healed, 'Running')
        self.assertTrue(container.auto_heal)
        before = self.workload({'id': healed})
        self.runtime.exec(before.id, ['touch', '/tmp/old'])
        # Removed outside Nova: the driver hard reboots the server, which
        # makes the workload anew from its image in the same pod.
        self.runtime.remove(before.id, force=True)
        after = self._workload_anew(healed, before.id)
        self.assertNotEqual(0, self.runtime.exec(
            after.id, ['stat', '/tmp/old']).exit_code)
        self._wait_for_server_parameter(
            {'id': healed}, {'status': 'ACTIVE', 'OS-EXT-STS:task_state': None,
                             'OS-EXT-STS:power_state': 1})
        self.assertEqual('Running', zun.containers.get(healed).status)
        self.assertIn('reboot', [a['action'] for a in
                                 self.admin_api.get_instance_actions(healed)])
        # Raw HTTP; without auto_heal a removed workload stays removed.
        alice = self.native()
        answer = alice.post('/v1/containers', params={'run': 'true'}, json={
            'image': self.image, 'cpu': 1, 'memory': '64',
            'auto_heal': False})
        self.assertEqual(202, answer.status_code, answer.text)
        plain = answer.json()['uuid']
        self.addCleanup(self.delete_server, plain)
        self.assertFalse(answer.json()['auto_heal'])
        self.wait_for_status(zun, plain, 'Running')
        self.runtime.remove(self.workload({'id': plain}).id, force=True)
        time.sleep(5)
        self.assertEqual([], [c for c in self.pod_containers({'id': plain})
                              if c.name == 'nova-' + plain])
        # PATCH turns it on (Zun's update).
        answer = alice.request('PATCH', '/v1/containers/' + plain,
                               json={'auto_heal': True})
        self.assertEqual(200, answer.status_code, answer.text)
        assert_documented('update', answer)
        self.assertTrue(answer.json()['auto_heal'])
        self.assertEqual('true', self.admin_api.get_server(plain)[
            'metadata']['zun_auto_heal'])
        assert_zun_error(alice.post('/v1/containers', json={
            'image': self.image, 'auto_heal': 'yes'}), 400)

    def _cat(self, uuid, path):
        return self.runtime.exec(self.workload({'id': uuid}).id,
                                 ['cat', path]).output

    def test_mounts_of_type_bind_inject_files(self):
        zun = self.zun()
        local = os.path.join(self.useFixture(fixtures.TempDir()).path,
                             'app.conf')
        with open(local, 'wb') as f:
            f.write(b'port=8080\n')
        uuid = self.cli_run('injected', '--mount',
                            'type=bind,source=%s,destination=/etc/app/a.conf'
                            % local)
        self.wait_for_status(zun, uuid, 'Running')
        self.assertEqual(b'port=8080\n', self._cat(uuid, '/etc/app/a.conf'))
        server = self.admin_api.get_server(uuid)
        self.assertEqual('user_data', server['metadata']['zun_files'])
        # A workload made anew (a hard reboot after it was removed) has
        # the file again.
        old = self.workload({'id': uuid}).id
        self.runtime.remove(old, force=True)
        self.admin_api.post_server_action(uuid, {'reboot': {'type': 'HARD'}})
        self._workload_anew(uuid, old)
        self.assertEqual(b'port=8080\n', self._cat(uuid, '/etc/app/a.conf'))
        # Raw HTTP, base64 as the client sends it: there before the
        # workload first runs.
        alice = self.native()
        answer = alice.post('/v1/containers', json={
            'image': self.image, 'cpu': 1, 'memory': '64',
            'command': ['sh', '-c', 'cat /data/in > /data/seen; sleep 100000'],
            'mounts': [{'type': 'bind', 'destination': '/data/in',
                        'source': base64.b64encode(b'\x00\xffbin').decode()}]})
        self.assertEqual(202, answer.status_code, answer.text)
        raw = answer.json()['uuid']
        self.addCleanup(self.delete_server, raw)
        self.wait_for_status(zun, raw, 'Created')
        self.assertEqual(202, alice.post(
            '/v1/containers/%s/start' % raw).status_code)
        self.wait_for_status(zun, raw, 'Running')
        deadline = time.monotonic() + 30
        while self._cat(raw, '/data/seen') != b'\x00\xffbin':
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.5)
        # Refused: Cinder volumes, bad paths or contents, before 1.23.
        for mount, version, status in (
                ({'source': 'vol-1', 'destination': '/v'}, None, 400),
                ({'size': 1, 'destination': '/v'}, None, 400),
                ({'type': 'bind', 'source': 'not base64!',
                  'destination': '/f'}, None, 400),
                ({'type': 'bind', 'source': 'eA==', 'destination': '//'},
                 None, 400),
                ({'type': 'bind', 'destination': '/f'}, None, 400),
                ({'type': 'bind', 'source': 'eA==', 'destination': '/f'},
                 'container 1.22', 406)):
            caller = Caller(self.native_url, self.identities.token('alice'),
                            **({'version': version} if version else {}))
            assert_zun_error(caller.post('/v1/containers', json={
                'image': self.image, 'mounts': [mount]}), status)

    def test_auto_remove_deletes_the_server_when_its_workload_ends(self):
        zun = self.zun()
        brief = self.cli_run('brief', '--auto-remove',
                             command=('sh', '-c', 'sleep 5'))
        self.assertTrue(zun.containers.get(brief).auto_remove)
        self._wait_until_deleted({'id': brief})
        self.assertEqual([], self.pod_containers({'id': brief}))
        # Raw HTTP; a stop through the API is Nova's stop: the server stays.
        alice = self.native()
        answer = alice.post('/v1/containers', params={'run': 'true'}, json={
            'image': self.image, 'cpu': 1, 'memory': '64',
            'auto_remove': True})
        self.assertEqual(202, answer.status_code, answer.text)
        kept = answer.json()['uuid']
        self.addCleanup(self.delete_server, kept)
        self.wait_for_status(zun, kept, 'Running')
        zun.containers.stop(kept, None)
        self.wait_for_status(zun, kept, 'Stopped')
        zun.containers.start(kept)
        self.wait_for_status(zun, kept, 'Running')
        killed = self.zun_cli('kill', kept)
        self.assertEqual(0, killed.returncode, killed.stderr)
        self._wait_until_deleted({'id': kept})
        assert_zun_error(alice.post('/v1/containers', json={
            'image': self.image, 'auto_remove': True,
            'restart_policy': {'Name': 'on-failure'}}), 400)

    def _health(self, uuid):
        return self.workload({'id': uuid}).details['State'].get(
            'Health', {}).get('Status')

    def _wait_for_health(self, uuid, status):
        deadline = time.monotonic() + 60
        while self._health(uuid) != status:
            self.assertLess(time.monotonic(), deadline, self._health(uuid))
            time.sleep(0.5)

    def test_healthcheck_is_run_by_the_engine(self):
        zun = self.zun()
        checked = self.cli_run(
            'checked', '--healthcheck',
            'cmd=test -e /tmp/ok,interval=1,retries=1,timeout=2')
        container = self.wait_for_status(zun, checked, 'Running')
        self.assertEqual({'test': 'test -e /tmp/ok', 'interval': 1,
                          'retries': 1, 'timeout': 2},
                         container.healthcheck)
        self._wait_for_health(checked, 'unhealthy')
        self.runtime.exec(self.workload({'id': checked}).id,
                          ['touch', '/tmp/ok'])
        self._wait_for_health(checked, 'healthy')
        # Raw HTTP: from microversion 1.22, as in Zun.
        alice = self.native()
        body = {'image': self.image, 'cpu': 1, 'memory': '64',
                'healthcheck': {'cmd': 'true', 'interval': 1}}
        assert_zun_error(alice.post(
            '/v1/containers', json=body,
            headers={'OpenStack-API-Version': 'container 1.21'}), 406)
        answer = alice.post('/v1/containers', params={'run': 'true'},
                            json=body)
        self.assertEqual(202, answer.status_code, answer.text)
        uuid = answer.json()['uuid']
        self.addCleanup(self.delete_server, uuid)
        self.wait_for_status(zun, uuid, 'Running')
        self._wait_for_health(uuid, 'healthy')
        assert_zun_error(alice.post('/v1/containers', json=dict(
            body, healthcheck={'cmd': 'true', 'interval': -1})), 400)

    def test_privileged_is_admins_on_a_privileged_flavor(self):
        # Private, and smaller than self.flavor: never chosen for others.
        self._create_flavor(memory_mb=64, vcpu=1, disk=1, is_public=False,
                            extra_spec=dict(CONTAINER_SPEC,
                                            **{'zun:privileged': 'true'}))
        refused = self.zun_cli('run', '--privileged', '--cpu', '1',
                               '--memory', '64', self.image)
        self.assertNotEqual(0, refused.returncode)
        self.assertIn('Forbidden (HTTP 403)', refused.stderr)
        assert_zun_error(self.native().post('/v1/containers', json={
            'image': self.image, 'privileged': True}), 403)
        plain = self.run_container()
        self.assertFalse(self.zun().containers.get(plain).privileged)
        self.assertEqual(
            (False, ['no-new-privileges']),
            (self.workload({'id': plain}).details['HostConfig']['Privileged'],
             self.workload({'id': plain}).details['HostConfig'][
                 'SecurityOpt']))
        # Created, not started: a privileged container gets every
        # capability, and this test may run where the engine holds fewer
        # (in a container without CAP_SYS_RESOURCE, runc cannot start it).
        admin = self.zun('admin')
        created = self.zun_cli('create', '--name', 'trusted', '--privileged',
                               '--cpu', '1', '--memory', '64', self.image,
                               who='admin')
        self.assertEqual(0, created.returncode, created.stderr)
        trusted = admin.containers.get('trusted').uuid
        self.addCleanup(self.delete_server, trusted)
        self.assertTrue(self.wait_for_status(admin, trusted,
                                             'Created').privileged)
        # Raw HTTP as the admin.
        answer = Caller(self.native_url, self.identities.token('admin')).post(
            '/v1/containers', json={
                'image': self.image, 'cpu': 1, 'memory': '64',
                'privileged': True})
        self.assertEqual(202, answer.status_code, answer.text)
        raw = answer.json()['uuid']
        self.addCleanup(self.delete_server, raw)
        self.wait_for_status(admin, raw, 'Created')
        for uuid in (trusted, raw):
            host_config = self.workload({'id': uuid}).details['HostConfig']
            self.assertTrue(host_config['Privileged'])
            self.assertNotIn('no-new-privileges',
                             host_config['SecurityOpt'] or ())
