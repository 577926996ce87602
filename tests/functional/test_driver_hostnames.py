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

"""Server hostnames inside the container, through Nova's API: since compute
API 2.94 a hostname may be an FQDN of up to 255 characters, and the kernel
holds at most 64 bytes of a host name. The pod gets the first label as its
host name and the rest as its domain name, as a Linux guest sets them."""

from nova import utils

from tests.functional import base

LONG_LABEL = 'h' * 63
LONG_DOMAIN = '.'.join(['d' * 63] * 3)  # 191 characters
EXAMPLE_DOMAIN = 'dept.example.org'


class TestHostnames(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')

    def boot_named(self, hostname):
        with utils.temporary_mutation(self.api, microversion='2.94'):
            server = self.api.post_server({'server': {
                'name': 'zun-server', 'imageRef': self.image,
                'flavorRef': self.flavor, 'networks': 'none',
                'hostname': hostname}})
        server = self._wait_for_state_change(server, 'ACTIVE',
                                             max_retries=60)
        self.assertEqual(hostname, server['OS-EXT-SRV-ATTR:hostname'])
        return server

    def uts_names(self, server):
        """(host name, domain name) as the workload's kernel has them."""
        result = self.runtime.exec('nova-%s' % server['id'], [
            'cat', '/proc/sys/kernel/hostname', '/proc/sys/kernel/domainname'])
        self.assertEqual(0, result.exit_code, result.output)
        return tuple(result.output.decode().split())

    def test_an_fqdn_is_split_into_host_name_and_domain_name(self):
        server = self.boot_named('web-1.' + EXAMPLE_DOMAIN)
        self.assertEqual(('web-1', EXAMPLE_DOMAIN), self.uts_names(server))
        # The workload's /etc/hostname (the sandbox's) says the same.
        result = self.runtime.exec('nova-%s' % server['id'],
                                   ['cat', '/etc/hostname'])
        self.assertEqual(b'web-1\n', result.output)
        # Its names resolve without a network, as on a Debian guest.
        result = self.runtime.exec('nova-%s' % server['id'],
                                   ['cat', '/etc/hosts'])
        self.assertEqual('127.0.1.1\tweb-1.%s web-1' % EXAMPLE_DOMAIN,
                         result.output.decode().splitlines()[-1])

    def test_a_name_without_a_domain_has_none(self):
        server = self.boot_named('db')
        self.assertEqual(('db', '(none)'), self.uts_names(server))
        result = self.runtime.exec('nova-%s' % server['id'],
                                   ['cat', '/etc/hosts'])
        self.assertEqual('127.0.1.1\tdb', result.output.decode()
                         .splitlines()[-1])

    def test_a_255_character_fqdn_boots(self):
        # The domain is longer than the kernel holds (64 bytes): the pod
        # gets none rather than a cut one.
        hostname = LONG_LABEL + '.' + LONG_DOMAIN
        self.assertEqual(255, len(hostname))
        server = self.boot_named(hostname)
        self.assertEqual((LONG_LABEL, '(none)'), self.uts_names(server))

    def test_an_over_long_first_label_is_cut_as_nova_cuts_hostnames(self):
        server = self.boot_named('x' * 100 + '.' + EXAMPLE_DOMAIN)
        self.assertEqual(('x' * 63, EXAMPLE_DOMAIN), self.uts_names(server))
