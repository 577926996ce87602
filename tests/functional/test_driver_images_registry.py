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

"""Registry images through the real Nova API: a Glance image with a
registry reference and no data is pulled from a local registry (Debian's
docker-registry on loopback, asking for credentials) that the test pushed
an image into."""

import io
import logging
import tarfile
from unittest import mock

import pytest

from nova_zun import images
from nova_zun.runtime import labels
from nova_zun.runtime import rootfs
from nova_zun_workshop import images as test_images

from tests.functional import base
from tests.functional.runtime_support import local_registry  # noqa: F401
from tests.functional.runtime_support import REGISTRY_PASSWORD as PASSWORD
from tests.functional.runtime_support import REGISTRY_USERNAME as USERNAME

MARKER = b'pulled from the registry\n'


def _rootfs_with_marker():
    """The test busybox plus a file only this image has.

    The file makes its layer new to the engine, so the pull stores it.
    """
    data = rootfs.busybox_rootfs('/bin/busybox', test_images.APPLETS)
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, \
            tarfile.open(fileobj=out, mode='w') as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member)
                        if member.isfile() else None)
        info = tarfile.TarInfo('registry-marker')
        info.size = len(MARKER)
        dst.addfile(info, io.BytesIO(MARKER))
    return out.getvalue()


class _Records(logging.Handler):
    """Every record at every level, formatted, for the secrecy check."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.lines.append(str(record.msg))


class TestRegistryImages(base.ZunDriverTestCase):

    @pytest.fixture(autouse=True)
    def _registry(self, local_registry):
        self.registry = local_registry

    def setUp(self):
        super().setUp()
        self.records = _Records()
        logging.getLogger().addHandler(self.records)
        self.addCleanup(logging.getLogger().removeHandler, self.records)
        self.flags(registry_username=USERNAME, registry_password=PASSWORD,
                   registry_auth_hosts=[self.registry.address], group='zun')
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor()
        self.ref = self.push_test_image('zun-test/marker', 'v1')

    def push_test_image(self, name, tag):
        """Build an image, push it to the registry and remove it locally.

        The push goes through the runtime, and the image is removed from the
        engine again: a boot must pull it.
        """
        ref = '%s/%s:%s' % (self.registry.address, name, tag)
        image_id = self.runtime.import_rootfs(
            _rootfs_with_marker(), ref,
            command=test_images.COMMANDS['sleeper'],
            labels={labels.IMAGE_KIND: test_images.IMAGE_KIND_TEST})
        self.addCleanup(self._remove_image, image_id)
        self.runtime.push_image(ref, auth={'username': USERNAME,
                                           'password': PASSWORD})
        self.runtime.remove_image(image_id, force=True)
        return ref

    def _remove_image(self, image):
        # Cleanups run last-added first: the servers' containers go first.
        self._remove_containers()
        if self.runtime.image_exists(image):
            self.runtime.remove_image(image, force=True)

    def registry_image(self, ref):
        return self.glance_image_with(
            b'', properties={'zun_registry_reference': ref})

    def assertNoSecretLogged(self):
        logged = '\n'.join(self.records.lines) + self.stdlog.logger.output
        self.assertNotIn(PASSWORD, logged)

    def test_a_registry_image_is_pulled_once_and_cached(self):
        image = self.registry_image(self.ref)
        driver_runtime = self.driver().runtime
        with mock.patch.object(self.glance, 'download',
                               wraps=self.glance.download) as download, \
                mock.patch.object(driver_runtime, 'pull_image_report',
                                  wraps=driver_runtime.pull_image_report
                                  ) as pull:
            first = self.boot(image, self.flavor)
            second = self.boot(image, self.flavor)
        # No data from Glance; one pull, with the configured credentials.
        self.assertEqual(0, download.call_count)
        self.assertEqual(1, pull.call_count)
        self.assertEqual({'username': USERNAME, 'password': PASSWORD},
                         pull.call_args.kwargs['auth'])
        for server in (first, second):
            workload = self.workload(server)
            self.assertEqual(images.reference(image), workload.image)
            result = self.runtime.exec(workload.id,
                                       ['cat', '/registry-marker'])
            self.assertEqual(MARKER, result.output)
        # Only the Glance name stays in the engine.
        tags = [t for i in self.runtime.list_images() for t in i.tags]
        self.assertNotIn(self.ref, tags)
        logged = self.stdlog.logger.output
        self.assertIn('Pulling registry image %s for Glance image %s (with '
                      'the configured credentials)' % (self.ref, image),
                      logged)
        self.assertRegex(logged, r'Image %s: downloaded \d+ bytes from '
                                 r'registry .* in 1 new layers' % image)
        self.assertNoSecretLogged()

    def test_wrong_credentials_fail_the_build_without_saying_them(self):
        self.flags(registry_password='not-' + PASSWORD, group='zun')
        image = self.registry_image(self.ref)
        server = self.boot(image, self.flavor, expected_state='ERROR')
        fault = server['fault']['message']
        self.assertIn('registry image %s could not be pulled: the registry '
                      'refused access' % self.ref, fault)
        self.assertNotIn(PASSWORD, fault)
        self.assertEqual([], self.pod_containers(server))
        self.assertNoSecretLogged()
        self.assertNotIn('not-' + PASSWORD,
                         '\n'.join(self.records.lines) +
                         self.stdlog.logger.output)

    def test_credentials_go_only_to_the_registries_listed(self):
        # Another name for the same registry: not listed, so anonymous.
        self.flags(registry_auth_hosts=['registry.example:5000'],
                   group='zun')
        image = self.registry_image(self.ref)
        driver_runtime = self.driver().runtime
        with mock.patch.object(driver_runtime, 'pull_image_report',
                               wraps=driver_runtime.pull_image_report
                               ) as pull:
            server = self.boot(image, self.flavor, expected_state='ERROR')
        self.assertIsNone(pull.call_args.kwargs['auth'])
        self.assertIn('could not be pulled: the registry refused access',
                      server['fault']['message'])
        self.assertIn('anonymously', self.stdlog.logger.output)
        self.assertEqual([], self.pod_containers(server))

    def test_a_registry_not_allowed_is_refused(self):
        self.flags(allowed_registries=['registry.example:5000'],
                   group='zun')
        image = self.registry_image(self.ref)
        server = self.boot(image, self.flavor, expected_state='ERROR')
        self.assertIn('registry %s is not in [zun] allowed_registries'
                      % self.registry.address, server['fault']['message'])
        self.assertEqual([], self.pod_containers(server))
        # Listed, it boots.
        self.flags(allowed_registries=[self.registry.address], group='zun')
        self.boot(self.registry_image(self.ref), self.flavor)

    def test_a_reference_the_registry_lacks_fails_the_build(self):
        image = self.registry_image('%s/zun-test/nosuch:v9'
                                    % self.registry.address)
        server = self.boot(image, self.flavor, expected_state='ERROR')
        self.assertIn('could not be pulled: the registry has no such image',
                      server['fault']['message'])
        self.assertEqual([], self.pod_containers(server))

    def test_a_tag_the_registry_lacks_is_not_found(self):
        image = self.registry_image(self.ref.replace(':v1', ':v9'))
        server = self.boot(image, self.flavor, expected_state='ERROR')
        self.assertIn('could not be pulled: the registry has no such image',
                      server['fault']['message'])

    def test_an_unreachable_registry_fails_the_build_saying_so(self):
        # Nothing listens on port 1 of loopback.
        image = self.registry_image('127.0.0.1:1/zun-test/marker:v1')
        server = self.boot(image, self.flavor, expected_state='ERROR')
        self.assertIn('could not be pulled: the registry is unreachable',
                      server['fault']['message'])
        self.assertEqual([], self.pod_containers(server))

    def test_a_reference_naming_a_reserved_repository_is_refused(self):
        victim = self.glance_image_from('sleeper')
        self.boot(victim, self.flavor)
        victim_image = self.runtime.inspect_image(
            images.reference(victim)).id
        driver_runtime = self.driver().runtime
        for ref in (images.reference(victim),
                    'docker.io/glance/%s:latest' % victim,
                    'index.docker.io/glance/%s' % victim,
                    'nova-zun/sandbox:0123456789abcdef'):
            with mock.patch.object(driver_runtime, 'pull_image_report',
                                   wraps=driver_runtime.pull_image_report
                                   ) as pull:
                server = self.boot(self.registry_image(ref), self.flavor,
                                   expected_state='ERROR')
            self.assertEqual(0, pull.call_count, ref)
            self.assertIn('names a repository reserved for this host',
                          server['fault']['message'])
        self.assertEqual(victim_image, self.runtime.inspect_image(
            images.reference(victim)).id)

    def test_an_image_with_data_is_loaded_even_with_a_reference(self):
        image_id = self.runtime.inspect_image(
            self.test_images['printer']).id
        data = b''.join(self.runtime.save_image(image_id))
        image = self.glance_image_with(
            data, properties={'zun_registry_reference': self.ref})
        driver_runtime = self.driver().runtime
        with mock.patch.object(driver_runtime, 'pull_image_report',
                               autospec=True) as pull:
            server = self.boot(image, self.flavor)
        self.assertEqual(0, pull.call_count)
        self.assertIn('hello from nova-zun', self.console_output(server))
