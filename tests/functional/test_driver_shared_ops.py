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
diagnostics, host uptime, resize on one host and across two (each with an
engine of its own), cold migration and evacuation."""

from nova.compute import power_state
from nova import objects

from nova_zun import glance_layers
from nova_zun import images
from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun_workshop.functional import volume_support

from tests.functional import base

RUNNING = types.ContainerState.RUNNING
MiB = 1024 * 1024


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


class ResizeTestCase(base.ZunDriverTestCase):

    def confirm_resize(self, server, expected_state):
        """Confirm a resize of a server that ends in ``expected_state``."""
        self.api.post_server_action(server['id'], {'confirmResize': None})
        self._wait_for_migration_status(server, ['confirmed'])
        return self._wait_for_state_change(server, expected_state)


class TestResizeOnOneHost(ResizeTestCase):

    def setUp(self):
        super().setUp()
        self.flags(allow_resize_to_same_host=True)
        self.start_zun_compute('compute1')
        self.small = self.container_flavor(vcpu=1, memory_mb=96)
        self.large = self.container_flavor(vcpu=2, memory_mb=160)
        self.image = self.glance_image_from('sleeper')

    def limits(self, server):
        host_config = self.workload(server).details['HostConfig']
        return (host_config['CpuQuota'], host_config['Memory'] // MiB,
                host_config['MemorySwap'] // MiB)

    def resize_fault(self, server):
        """The message of the fault of a failed resize."""
        self._wait_for_instance_action_event(
            server, 'resize', 'compute_resize_instance', 'Error')
        return objects.InstanceFault.get_latest_for_instance(
            self.ctxt, server['id']).message

    def process(self, server):
        workload = self.workload(server)
        return workload.id, workload.pid, workload.started_at

    def test_resize_up_and_down_changes_the_limits_of_the_live_workload(
            self):
        server = self.boot(self.image, self.small)
        process = self.process(server)
        sandbox = self.sandbox(server).id
        server = self._resize_server(server, self.large)
        self.assertEqual('compute1', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual((200000, 160, 160), self.limits(server))
        self.assertEqual(process, self.process(server))
        server = self._confirm_resize(server)
        self.assertEqual((200000, 160, 160), self.limits(server))
        server = self._resize_server(server, self.small)
        self.assertEqual((100000, 96, 96), self.limits(server))
        server = self._confirm_resize(server)
        self.assertEqual((100000, 96, 96), self.limits(server))
        self.assertEqual(process, self.process(server))
        self.assertEqual(sandbox, self.sandbox(server).id)
        self.assertEqual(power_state.RUNNING,
                         server['OS-EXT-STS:power_state'])

    def test_revert_restores_the_old_limits_of_the_live_workload(self):
        server = self.boot(self.image, self.small)
        process = self.process(server)
        server = self._resize_server(server, self.large)
        self.assertEqual((200000, 160, 160), self.limits(server))
        server = self._revert_resize(server)
        self.assertEqual((100000, 96, 96), self.limits(server))
        self.assertEqual(process, self.process(server))
        self.assertEqual(2, len(self.pod_containers(server)))

    def test_what_needs_a_new_container_is_refused_on_the_same_host(self):
        server = self.boot(self.image, self.small)
        process = self.process(server)
        more_caps = self.container_flavor(
            vcpu=1, memory_mb=96, extra_spec={'zun:cap_add': 'NET_ADMIN'})
        self.api.post_server_action(
            server['id'], {'resize': {'flavorRef': more_caps}})
        self._wait_for_migration_status(server, ['error'])
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual(96, server['flavor']['ram'])
        self.assertEqual((100000, 96, 96), self.limits(server))
        self.assertEqual(process, self.process(server))
        self.assertIn('not the capabilities (zun:cap_add): resize to '
                      'another host', self.resize_fault(server))

    def test_a_memory_limit_below_the_use_is_refused(self):
        server = self.boot(self.image, self.large)
        # tmpfs pages stay charged to the workload's memory.
        filled = self.runtime.exec(
            self.workload(server).id,
            ['dd', 'if=/dev/zero', 'of=/dev/shm/fill', 'bs=1M', 'count=60'],
            timeout=60)
        self.assertEqual(0, filled.exit_code, filled.output)
        tiny = self.container_flavor(vcpu=2, memory_mb=32)
        self.api.post_server_action(server['id'],
                                    {'resize': {'flavorRef': tiny}})
        self._wait_for_migration_status(server, ['error'])
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual((200000, 160, 160), self.limits(server))
        self.assertIn('a memory limit of 32 MiB below the',
                      self.resize_fault(server))

    def test_a_stopped_server_is_resized_and_stays_stopped(self):
        server = self.boot(self.image, self.small)
        server = self._stop_server(server)
        server = self._resize_server(server, self.large)
        self.assertEqual((200000, 160, 160), self.limits(server))
        server = self.confirm_resize(server, 'SHUTOFF')
        server = self._start_server(server)
        self.assertEqual(RUNNING, self.workload(server).state)
        self.assertEqual((200000, 160, 160), self.limits(server))


class TwoHostsTestCase(base.TwoComputesMixin, ResizeTestCase):
    def setUp(self):
        super().setUp()
        self.start_two_computes()
        self.small = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')
        self.addCleanup(self._no_image_left_behind)

    def _no_image_left_behind(self):
        """Only the sandbox, test and Glance images stay in the engines."""
        for host in ('compute1', 'compute2'):
            runtime = self.host_runtime(host)
            test_images = {runtime.inspect_image(ref).id
                           for ref in self.test_images.values()
                           if runtime.image_exists(ref)}
            left = [i.tags or i.id for i in runtime.list_images()
                    if i.labels.get(labels.IMAGE_KIND) !=
                    labels.IMAGE_KIND_SANDBOX and i.id not in test_images
                    and not any(t.startswith(glance_layers.REPOSITORY + '/')
                                for t in i.tags)]
            self.assertEqual([], left, 'images left on %s' % host)

    def workload_on(self, host, server):
        return self.host_runtime(host).status('nova-%s' % server['id'])

    def pod_on(self, host, server):
        return self.host_runtime(host).list_containers(
            {labels.INSTANCE: server['id']})

    def read_file(self, host, server, path):
        result = self.host_runtime(host).exec(
            'nova-%s' % server['id'], ['cat', path], timeout=30)
        return result.exit_code, result.output

    def write_file(self, server, path, text):
        result = self.runtime.exec(
            'nova-%s' % server['id'],
            ['sh', '-c', 'echo %s > %s' % (text, path)], timeout=30)
        self.assertEqual(0, result.exit_code, result.output)

    def glance_image_ids(self):
        return {i['id'] for i in self.glance.detail(self.ctxt)}


class TestMoveAcrossHosts(TwoHostsTestCase):

    def boot_on_compute1(self):
        server = self.boot(self.image, self.small, host='compute1')
        self.write_file(server, '/root/kept', 'written-on-compute1')
        return server

    def test_resize_to_another_host_takes_the_filesystem_along(self):
        large = self.container_flavor(vcpu=2, memory_mb=160)
        glance_before = self.glance_image_ids()
        server = self.boot_on_compute1()
        server = self._resize_server(server, large)
        self.assertEqual('compute2', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual((0, b'written-on-compute1\n'),
                         self.read_file('compute2', server, '/root/kept'))
        workload = self.workload_on('compute2', server)
        self.assertEqual(RUNNING, workload.state)
        self.assertEqual(160 * MiB, workload.details['HostConfig']['Memory'])
        # The source keeps its stopped pod until the resize is confirmed.
        self.assertEqual(2, len(self.pod_on('compute1', server)))
        server = self._confirm_resize(server)
        self.assertEqual([], self.pod_on('compute1', server))
        self.assertEqual(2, len(self.pod_on('compute2', server)))
        # One copy of the workload's filesystem: the image its container
        # runs from on compute2; compute1 keeps the server's image cached.
        self.assertEqual([self.workload_on('compute2', server).image],
                         [images.reference(i) for i in images.glance_images(
                             self.host_runtime('compute2'))])
        self.assertEqual({server['image']['id']},
                         set(images.glance_images(self.runtime)))
        # Glance carried the filesystem and holds nothing of it any more.
        self.assertEqual(glance_before, self.glance_image_ids())
        self._delete_server(server)
        self.assertEqual([], self.pod_on('compute2', server))

    def test_cold_migration_reverted_brings_the_original_back(self):
        server = self.boot_on_compute1()
        workload = self.workload(server).id
        server = self._migrate_server(server)
        self.assertEqual('compute2', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual((0, b'written-on-compute1\n'),
                         self.read_file('compute2', server, '/root/kept'))
        server = self._revert_resize(server)
        self.assertEqual('compute1', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual([], self.pod_on('compute2', server))
        # The image the move loaded there went with the revert.
        self.assertEqual({}, images.glance_images(
            self.host_runtime('compute2')))
        self.assertEqual(workload, self.workload(server).id)
        self.assertEqual(RUNNING, self.workload(server).state)
        self.assertEqual((0, b'written-on-compute1\n'),
                         self.read_file('compute1', server, '/root/kept'))

    def test_the_source_restarted_before_the_revert_kept_the_pod(self):
        server = self.boot_on_compute1()
        workload = self.workload(server).id
        server = self._migrate_server(server)
        self.restart_zun_compute('compute1')
        self.assertEqual(2, len(self.pod_on('compute1', server)))
        server = self._revert_resize(server)
        self.assertEqual(workload, self.workload(server).id)
        self.assertEqual(RUNNING, self.workload(server).state)
        self.assertEqual([], self.pod_on('compute2', server))

    def test_cold_migration_to_a_named_host_of_a_stopped_server(self):
        server = self.boot_on_compute1()
        server = self._stop_server(server)
        self.admin_api.microversion = '2.56'
        server = self._migrate_server(server, host='compute2',
                                      api=self.admin_api)
        server = self.confirm_resize(server, 'SHUTOFF')
        server = self._start_server(server)
        self.assertEqual((0, b'written-on-compute1\n'),
                         self.read_file('compute2', server, '/root/kept'))
        self.assertEqual([], self.pod_on('compute1', server))


class TestEvacuate(TwoHostsTestCase):

    def force_down(self, host, down):
        service, = self.admin_api.get_services(host=host,
                                               binary='nova-compute')
        self.admin_api.put_service_force_down(service['id'], down)

    def test_evacuate_recreates_the_pod_and_the_host_back_removes_it(self):
        evacuated = self.boot(self.image, self.small, host='compute1')
        self.write_file(evacuated, '/root/lost', 'ephemeral')
        stays = self.boot(self.image, self.small, host='compute1')
        self.computes['compute1'].stop()
        self.force_down('compute1', True)
        # Stopped on the new host, as Nova leaves evacuated servers since
        # compute API 2.95.
        evacuated = self._evacuate_server(evacuated, expected_host='compute2')
        self.assertEqual(2, len(self.pod_on('compute2', evacuated)))
        evacuated = self._start_server(evacuated)
        # Recreated from its image: what the old pod wrote is not there.
        self.assertEqual(1, self.read_file('compute2', evacuated,
                                           '/root/lost')[0])
        self.restart_zun_compute('compute1')
        self.force_down('compute1', False)
        self.assertEqual([], self.pod_on('compute1', evacuated))
        self.assertEqual(2, len(self.pod_on('compute1', stays)))
        self.assertEqual(RUNNING, self.workload(stays).state)
        self.assertEqual(2, len(self.pod_on('compute2', evacuated)))


class TestMovesWithAVolume(TwoHostsTestCase):
    """A volume's data moves with its server: Cinder's loop devices here.

    The all-in-one has no Cinder, so this is where a cross-host resize and
    a cold migration are shown to keep a volume's data (both hosts share
    this machine's block devices, as hosts share a storage network).
    """

    def setUp(self):
        super().setUp()
        self.cinder = volume_support.use_loop_cinder(self, self.volume_dirs)
        # No ephemeral disk: the volume is vdb.
        self.small, self.large = (
            self._create_flavor(memory_mb=memory_mb, vcpu=vcpu, disk=1,
                                ephemeral=0)
            for vcpu, memory_mb in ((1, 96), (2, 160)))

    def boot_with_volume(self, volume_id, flavor):
        body = {'name': 'with-volume', 'imageRef': self.image,
                'flavorRef': flavor, 'networks': 'none',
                'metadata': {'zun_volume_path_vdb': '/data'},
                'availability_zone': 'nova:compute1',
                'block_device_mapping_v2': [
                    {'source_type': 'image', 'destination_type': 'local',
                     'uuid': self.image, 'boot_index': 0},
                    {'source_type': 'volume', 'destination_type': 'volume',
                     'uuid': volume_id, 'boot_index': -1}]}
        server = self.admin_api.post_server({'server': body})
        return self._wait_for_state_change(server, 'ACTIVE', max_retries=60)

    def assert_kept(self, host, server):
        for path, text in (('/data/kept', b'on-the-volume\n'),
                           ('/root/kept', b'in-the-container\n')):
            self.assertEqual((0, text), self.read_file(host, server, path))

    def test_cold_migration_and_resize_to_the_other_host_keep_its_data(self):
        volume = self.cinder.create()
        server = self.boot_with_volume(volume, self.small)
        self.write_file(server, '/data/kept', 'on-the-volume')
        self.write_file(server, '/root/kept', 'in-the-container')

        server = self._migrate_server(server)
        server = self._confirm_resize(server)
        self.assertEqual('compute2', server['OS-EXT-SRV-ATTR:host'])
        self.assert_kept('compute2', server)

        server = self._resize_server(server, self.large)
        server = self._confirm_resize(server)
        self.assertEqual('compute1', server['OS-EXT-SRV-ATTR:host'])
        self.assert_kept('compute1', server)
        self._delete_server(server)
        self.assertEqual([], self.volume_dirs.mounts_below())
