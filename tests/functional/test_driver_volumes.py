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

"""Cinder volumes through the Nova API: os-brick LOCAL connections to real
loop devices, filesystems mounted on the host and seen in the container."""

import os
import time

from nova_zun_workshop.functional import volume_support
from tests.functional import base


class TestVolumes(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.cinder = volume_support.use_loop_cinder(self, self.volume_dirs)
        self.start_zun_compute('compute1')
        # No ephemeral disk: volumes get vdb, vdc, ...
        self.flavor = self._create_flavor(memory_mb=128, vcpu=1, disk=1,
                                          ephemeral=0)
        self.image = self.glance_image_from('sleeper')

    # -- helpers ------------------------------------------------------------

    def boot_with(self, volume_ids, metadata=None, expected_state='ACTIVE'):
        body = {'name': 'zun-server', 'imageRef': self.image,
                'flavorRef': self.flavor, 'networks': 'none',
                'block_device_mapping_v2': [
                    {'source_type': 'image', 'destination_type': 'local',
                     'uuid': self.image, 'boot_index': 0}] + [
                    {'source_type': 'volume', 'destination_type': 'volume',
                     'uuid': volume_id, 'boot_index': -1}
                    for volume_id in volume_ids]}
        if metadata:
            body['metadata'] = metadata
        server = self.api.post_server({'server': body})
        return self._wait_for_state_change(server, expected_state,
                                           max_retries=60)

    def sh(self, server, script):
        result = self.runtime.exec('nova-%s' % server['id'],
                                   ['sh', '-c', script])
        return result.exit_code, result.output.decode().strip()

    def container_mounts(self, server):
        """``{mount point: options}`` inside the workload."""
        _, out = self.sh(server, 'cat /proc/mounts')
        return {fields[1]: fields[3].split(',') for fields in
                (line.split() for line in out.splitlines())}

    def wait_for(self, check, seconds=10):
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                self.fail('not so after %ss' % seconds)
            time.sleep(0.1)

    def attach(self, server, volume_id):
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': volume_id}})
        self._wait_for_volume_attach(server['id'], volume_id)

    def detach(self, server, volume_id):
        self.api.delete_server_volume(server['id'], volume_id)
        self._wait_for_volume_detach(server['id'], volume_id)

    def host_dir(self, server):
        return os.path.join(self.volume_dirs.mounts, server['id'])

    def delete(self, server):
        self._delete_server(server)
        self.assertEqual([], self.pod_containers(server))
        self.assertFalse(os.path.exists(self.host_dir(server)))
        self.assertEqual([], [p for p in self.volume_dirs.mounts_below()
                              if p.startswith(self.host_dir(server))])

    # -- tests --------------------------------------------------------------

    def test_boot_with_a_volume_and_move_its_data_to_another_server(self):
        volume = self.cinder.create()
        server = self.boot_with([volume],
                                metadata={'zun_volume_path_vdb': '/data'})
        self.assertEqual('ext4', self.cinder.signatures(volume)['TYPE'])
        mounts = self.container_mounts(server)
        self.assertIn('rw', mounts['/volumes/vdb'])
        self.assertIn('rw', mounts['/data'])
        self.assertEqual((0, 'kept'), self.sh(
            server, 'echo kept > /data/file && cat /volumes/vdb/file'))
        # The propagation root itself is read-only.
        self.assertNotEqual(0, self.sh(server, 'touch /volumes/x')[0])

        self.detach(server, volume)
        mounts = self.container_mounts(server)
        self.assertNotIn('/volumes/vdb', mounts)
        self.assertNotIn('/data', mounts)
        self.assertEqual([], self.volume_dirs.mounts_below())

        other = self.boot(self.image, self.flavor)
        self.attach(other, volume)
        self.wait_for(lambda: self.sh(other, 'cat /volumes/vdb/file') ==
                      (0, 'kept'))
        self.delete(server)
        self.delete(other)

    def test_a_resize_on_the_same_host_keeps_the_volume_mounted(self):
        self.flags(allow_resize_to_same_host=True)
        volume = self.cinder.create()
        server = self.boot_with([volume],
                                metadata={'zun_volume_path_vdb': '/data'})
        self.assertEqual((0, 'kept'), self.sh(
            server, 'echo kept > /data/file && cat /volumes/vdb/file'))
        larger = self._create_flavor(memory_mb=160, vcpu=1, disk=1,
                                     ephemeral=0)
        server = self._resize_server(server, larger)
        self.assertEqual((0, 'kept'), self.sh(server, 'cat /data/file'))
        server = self._revert_resize(server)
        self.assertEqual((0, 'kept\nagain'), self.sh(
            server, 'echo again >> /volumes/vdb/file; cat /data/file'))
        self.delete(server)

    def test_hot_attach_and_detach_without_restart(self):
        volume = self.cinder.create()
        server = self.boot(self.image, self.flavor,
                           metadata={'zun_volume_path_vdb': '/data'})
        # The user path waits, read-only, for its volume.
        self.assertNotEqual(0, self.sh(server, 'touch /data/x')[0])
        started = self.workload(server).started_at
        begin = time.monotonic()
        self.attach(server, volume)
        self.wait_for(lambda: '/volumes/vdb' in self.container_mounts(server))
        took = time.monotonic() - begin
        self.assertLess(took, 10)
        self.assertEqual((0, 'hi'), self.sh(
            server, 'echo hi > /volumes/vdb/f && cat /data/f'))
        self.detach(server, volume)
        # /data is its empty placeholder again.
        self.wait_for(lambda: self.cinder.device(volume) not in
                      self.sh(server, 'cat /proc/mounts')[1])
        self.assertNotIn('/volumes/vdb', self.container_mounts(server))
        self.assertEqual(started, self.workload(server).started_at)
        self.assertEqual([], self.volume_dirs.mounts_below())
        self.delete(server)

    def test_a_volume_holding_a_filesystem_is_never_reformatted(self):
        volume = self.cinder.create()
        self.cinder.format_with(volume, {'old': 'data'})
        before = self.cinder.signatures(volume)['UUID']
        server = self.boot(self.image, self.flavor)
        self.attach(server, volume)
        self.wait_for(lambda: self.sh(server, 'cat /volumes/vdb/old') ==
                      (0, 'data'))
        self.assertEqual(before, self.cinder.signatures(volume)['UUID'])
        self.delete(server)
        self.assertEqual(before, self.cinder.signatures(volume)['UUID'])

    def test_a_volume_holding_other_data_is_left_as_it_is(self):
        volume = self.cinder.create()
        self.cinder.make_swap(volume)
        server = self.boot(self.image, self.flavor)
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': volume}})
        self._wait_for_instance_action_event(
            server, 'attach_volume', 'compute_attach_volume', 'Error')
        self.assertEqual('swap', self.cinder.signatures(volume)['TYPE'])
        self.assertEqual([], self.api.get_server_volumes(server['id']))
        self.assertEqual([], self.volume_dirs.mounts_below())
        self.delete(server)

    def test_a_read_only_attachment_is_mounted_read_only(self):
        volume = self.cinder.create(read_only=True)
        self.cinder.format_with(volume, {'old': 'data'})
        server = self.boot_with([volume])
        self.assertIn('ro', self.container_mounts(server)['/volumes/vdb'])
        self.assertEqual((0, 'data'), self.sh(server,
                                              'cat /volumes/vdb/old'))
        code, out = self.sh(server, 'echo x > /volumes/vdb/new')
        self.assertNotEqual(0, code)
        self.assertIn('Read-only', out)
        self.delete(server)

    def test_a_device_that_cannot_be_connected_fails_the_boot(self):
        volume = self.cinder.create_unreachable()
        server = self.boot_with([volume], expected_state='ERROR')
        message = server['fault']['message']
        self.assertIn(volume, message)
        self.assertIn('No such file or directory', message)
        self.assertEqual([], self.pod_containers(server))
        self.assertEqual([], self.volume_dirs.mounts_below())
        self.delete(server)

    def test_a_device_that_cannot_be_connected_fails_the_attach(self):
        volume = self.cinder.create_unreachable()
        server = self.boot(self.image, self.flavor)
        self.api.post_server_volume(
            server['id'], {'volumeAttachment': {'volumeId': volume}})
        self._wait_for_instance_action_event(
            server, 'attach_volume', 'compute_attach_volume', 'Error')
        self.assertEqual([], self.api.get_server_volumes(server['id']))
        self.assertEqual('ACTIVE', self.api.get_server(server['id'])['status'])
        self.assertEqual([], self.volume_dirs.mounts_below())
        self.delete(server)

    def test_volumes_survive_reboot_stop_start_and_rebuild(self):
        volume = self.cinder.create()
        server = self.boot_with([volume],
                                metadata={'zun_volume_path_vdb': '/data'})
        self.assertEqual(0, self.sh(server, 'echo kept > /data/file')[0])
        for action, body in (('reboot', {'type': 'SOFT'}),
                             ('reboot', {'type': 'HARD'}),
                             ('os-stop', None), ('os-start', None),
                             ('rebuild', {'imageRef': self.image})):
            expected = 'SHUTOFF' if action == 'os-stop' else 'ACTIVE'
            server = self.server_action(server, action, body,
                                        expected_state=expected)
            if expected == 'SHUTOFF':
                continue
            self.assertEqual(
                (0, 'kept\nkept'),
                self.sh(server, 'cat /volumes/vdb/file /data/file'),
                '%s %s' % (action, body))
        self.delete(server)

    def test_restart_unmounts_the_volumes_of_instances_deleted_meanwhile(self):
        volume = self.cinder.create()
        gone = self.boot_with([volume])
        self.assertTrue(os.path.ismount(
            os.path.join(self.host_dir(gone), 'vdb')))
        self.computes['compute1'].stop()
        # Deleted while the service is down (a local delete in the API): no
        # block device info reaches the driver; what is mounted below the
        # instance's directory tells.
        service = self.admin_api.get_services(
            host='compute1', binary='nova-compute')[0]
        self.admin_api.put_service_force_down(service['id'], True)
        self.api.delete_server(gone['id'])
        self._wait_until_deleted(gone)
        self.admin_api.put_service_force_down(service['id'], False)
        compute = self.restart_zun_compute('compute1')
        # Nova's reaping of deleted instances, which runs as the service
        # starts ([DEFAULT] running_deleted_instance_action = reap).
        compute.manager._cleanup_running_deleted_instances(self.ctxt)
        self.assertEqual([], self.pod_containers(gone))
        self.assertFalse(os.path.exists(self.host_dir(gone)))
        self.assertEqual([], self.volume_dirs.mounts_below())
