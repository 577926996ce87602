"""The instance lifecycle through the real Nova API on a real engine."""

from nova_zun.runtime import types

from tests.functional import base

RUNNING = types.ContainerState.RUNNING


class TestLifecycle(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')

    def test_boot_runs_a_container_with_the_flavor_limits(self):
        server = self.boot(self.image, self.flavor)
        workload = self.workload(server)
        self.assertEqual(RUNNING, workload.state)
        host_config = workload.details['HostConfig']
        self.assertEqual(96 * 1024 * 1024, host_config['Memory'])
        self.assertEqual(host_config['Memory'], host_config['MemorySwap'])
        self.assertEqual(100000, host_config['CpuQuota'])
        self.assertEqual(100000, host_config['CpuPeriod'])
        self.assertEqual(RUNNING, self.sandbox(server).state)
        self.assertEqual('container:%s' % self.sandbox(server).id,
                         host_config['NetworkMode'])
        self._delete_server(server)
        self.assertEqual([], self.pod_containers(server))
