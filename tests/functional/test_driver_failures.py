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

"""Builds that must fail: the server goes to ERROR with a fault that says
why, and nothing is left in the engine."""

import io
import tarfile
import tempfile

from nova_zun_workshop import engine as engine_tool

from tests.functional import base


class TestBuildFailures(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor()

    def assertNothingLeft(self, server):
        self.assertEqual([], self.pod_containers(server))
        self.assertEqual([], [tag for image in self.runtime.list_images()
                              for tag in image.tags
                              if tag.startswith('glance/')])

    def assertBuildFailed(self, server, *reasons):
        server = self._wait_for_state_change(server, 'ERROR', max_retries=60)
        said = server['fault']['message']
        for reason in reasons:
            self.assertIn(reason, said)
        self.assertNothingLeft(server)
        return server

    def test_a_non_container_image_is_refused(self):
        image = self.glance_image_from('sleeper', container_format='bare')
        server = self.boot(image, self.flavor, expected_state='ERROR')
        self.assertBuildFailed(server, "container_format is 'bare'")

    def test_a_corrupt_archive_is_refused(self):
        image = self.glance_image_with(b'this is no tar archive' * 100)
        server = self.boot(image, self.flavor, expected_state='ERROR')
        self.assertBuildFailed(server, 'not a container image archive')

    def test_an_archive_holding_no_image_is_refused(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode='w') as tar:
            info = tarfile.TarInfo('hello.txt')
            info.size = 5
            tar.addfile(info, io.BytesIO(b'hello'))
        image = self.glance_image_with(buf.getvalue())
        server = self.boot(image, self.flavor, expected_state='ERROR')
        self.assertBuildFailed(server, 'not a container image archive')

    def test_bad_server_metadata_is_refused_before_anything_is_created(self):
        image = self.glance_image_from('sleeper')
        server = self.boot(image, self.flavor, expected_state='ERROR',
                           metadata={'zun_environment': '["not", "a map"]'})
        self.assertBuildFailed(server, 'zun_environment must be a JSON '
                                       'object')

    def test_an_unknown_runtime_is_refused(self):
        flavor = self.container_flavor(extra_spec={'zun:runtime': 'nosuch'})
        server = self.boot(self.glance_image_from('sleeper'), flavor,
                           expected_state='ERROR')
        self.assertBuildFailed(server, "unknown container runtime 'nosuch'")

    def test_a_configured_runtime_the_engine_lacks_fails_fast(self):
        # kata is in [zun] runtimes by default; this engine has no kata.
        flavor = self.container_flavor(extra_spec={'zun:runtime': 'kata'})
        server = self.boot(self.glance_image_from('sleeper'), flavor,
                           expected_state='ERROR')
        self.assertBuildFailed(server, "container runtime 'kata'",
                               'not available')

    def test_an_engine_that_is_down_at_spawn_fails_the_build(self):
        image = self.glance_image_from('sleeper')
        # A host of its own, on an engine of its own that then goes away.
        engine = engine_tool.PrivateEngine(
            tempfile.mkdtemp(prefix='nova-zun-down-', dir='/tmp'))
        self.addCleanup(engine.stop)
        self.start_zun_compute('compute2', engine_url=engine.start())
        engine.stop()
        # An engine failure is the host's, not the request's: Nova
        # reschedules, and the fault names the host's error once the
        # attempts run out (this cloud has no alternate host to try).
        self.flags(max_attempts=1, group='scheduler')
        server = self.boot(image, self.flavor, expected_state='ERROR',
                           host='compute2')
        self.assertBuildFailed(server, 'container engine unavailable')

    def test_a_missing_sandbox_binary_fails_the_build_naming_it(self):
        image = self.glance_image_from('sleeper')
        self.flags(sandbox_binary='/nonexistent/busybox', group='zun')
        self.start_zun_compute('compute2')
        # The host's configuration is at fault: Nova reschedules, and the
        # fault names it once the attempts run out.
        self.flags(max_attempts=1, group='scheduler')
        server = self.boot(image, self.flavor, expected_state='ERROR',
                           host='compute2')
        fault = server['fault']['message']
        self.assertIn('the pod sandbox binary /nonexistent/busybox ([zun] '
                      'sandbox_binary) cannot be used', fault)
        self.assertNotIn('engine unavailable', fault)
        # The image was loaded before (and stays cached); no container.
        self.assertEqual([], self.pod_containers(server))
