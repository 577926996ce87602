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

"""What Nova shares between VMs and containers, through the real Nova API:
diagnostics and host uptime."""

from tests.functional import base


class TestDiagnostics(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')

    def test_server_diagnostics_give_the_workload_counters(self):
        # Nova's diagnostics object names no container driver: the answer
        # says null there, which Nova's strictest response check refuses
        # (doc/driver.rst).
        self.flags(response_validation='warn', group='api')
        server = self.boot(self.image, self.flavor)
        self.admin_api.microversion = '2.48'
        diags = self.admin_api.api_get(
            '/servers/%s/diagnostics' % server['id']).body
        self.assertEqual('running', diags['state'])
        self.assertEqual('docker', diags['hypervisor'])
        self.assertEqual('linux', diags['hypervisor_os'])
        self.assertIsNone(diags['driver'])
        self.assertFalse(diags['config_drive'])
        self.assertGreaterEqual(diags['uptime'], 0)
        self.assertEqual(1, diags['num_cpus'])
        self.assertGreater(diags['cpu_details'][0]['time'], 0)
        self.assertEqual(96, diags['memory_details']['maximum'])
        self.assertGreater(diags['memory_details']['used'], 0)
        # No port: no NIC (test_driver_network has one).
        self.assertEqual(([], 0), (diags['nic_details'], diags['num_nics']))
        # A disk for each device the engine counted I/O on (none where the
        # kernel counts no block I/O, as on the test machine: the unit
        # tests of the stats conversion have devices).
        self.assertEqual(len(diags['disk_details']), diags['num_disks'])
        # Before 2.48: the driver's own keys.
        self.admin_api.microversion = '2.47'
        legacy = self.admin_api.api_get(
            '/servers/%s/diagnostics' % server['id']).body
        self.assertGreater(legacy['cpu0_time'], 0)
        self.assertEqual(96 * 1024, legacy['memory'])  # KiB, as libvirt

    def test_hypervisor_uptime(self):
        self.admin_api.microversion = '2.53'
        hypervisor, = self.admin_api.api_get(
            '/os-hypervisors').body['hypervisors']
        uptime = self.admin_api.api_get(
            '/os-hypervisors/%s/uptime' % hypervisor['id']).body
        self.assertIn('load average', uptime['hypervisor']['uptime'])
