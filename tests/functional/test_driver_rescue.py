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

"""Rescue and unrescue through the real Nova API: a rescue container from
the rescue image, with the server's own root filesystem at /mnt."""

import os
import subprocess

from nova_zun import images
from nova_zun.runtime import labels
from nova_zun.runtime import types

from tests.functional import base

RUNNING = types.ContainerState.RUNNING
EXITED = types.ContainerState.EXITED


class TestRescue(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')
        self.rescue_image = self.glance_image_from('printer')
        # A test that fails during a rescue leaves the root filesystem
        # mounted.
        self.addCleanup(self.unmount_rescues)

    def unmount_rescues(self):
        for point in self.mounted_below(
                os.path.join(self.volume_dirs.mounts, 'rescue') + '/'):
            subprocess.run(['umount', point], check=True)

    def image_id(self, reference):
        return self.runtime.inspect_image(reference).id

    def run_in(self, container, script):
        result = self.runtime.exec(container, ['/bin/sh', '-c', script])
        self.assertEqual(0, result.exit_code, result.output)
        return result.output.decode()

    def rescue_container(self, server):
        return self.runtime.status('nova-%s-rescue' % server['id'])

    def rescue(self, server, image=None):
        body = {'rescue_image_ref': image} if image else None
        return self.server_action(server, 'rescue', body,
                                  expected_state='RESCUE')

    @staticmethod
    def mounted_below(prefix):
        with open('/proc/self/mountinfo') as f:
            return [line.split()[4] for line in f
                    if line.split()[4].startswith(prefix)]

    def mounted_below_rescue(self, server):
        return self.mounted_below(os.path.join(
            self.volume_dirs.mounts, 'rescue', server['id']))

    def test_rescue_sees_and_repairs_the_root_filesystem_unrescue_restores(
            self):
        server = self.boot(self.image, self.flavor)
        workload = self.workload(server)
        sandbox = self.sandbox(server).id
        self.run_in(workload.id, 'echo original > /etc/motd; '
                                 'echo kept > /root/notes')
        server = self.rescue(server, self.rescue_image)
        rescue = self.rescue_container(server)
        self.assertEqual(RUNNING, rescue.state)
        self.assertEqual(EXITED, self.workload(server).state)
        # The rescue image runs, in the same pod, as the server's labels say.
        self.assertEqual(self.image_id(images.reference(self.rescue_image)),
                         self.image_id(rescue.image))
        self.assertEqual(sandbox, self.sandbox(server).id)
        self.assertEqual((server['id'], 'rescue'),
                         (rescue.labels[labels.INSTANCE],
                          rescue.labels[labels.ROLE]))
        self.assertEqual('original\n', self.run_in(rescue.id,
                                                   'cat /mnt/etc/motd'))
        self.assertIn('hello from nova-zun', self.console_output(server))
        self.run_in(rescue.id, 'echo repaired > /mnt/etc/motd')
        server = self.server_action(server, 'unrescue')
        after = self.workload(server)
        self.assertEqual((workload.id, RUNNING), (after.id, after.state))
        self.assertEqual('repaired\nkept\n', self.run_in(
            after.id, 'cat /etc/motd /root/notes'))
        self.assertEqual([sandbox], [c.id for c in self.pod_containers(server)
                                     if c.labels[labels.ROLE] == 'sandbox'])
        self.assertEqual(2, len(self.pod_containers(server)))
        self.assertEqual([], self.mounted_below_rescue(server))

    def test_rescue_without_an_image_runs_the_servers_own(self):
        server = self.boot(self.image, self.flavor)
        server = self.rescue(server)
        self.assertEqual(self.image_id(self.workload(server).image),
                         self.image_id(self.rescue_container(server).image))
        self.server_action(server, 'unrescue')

    def test_a_rescue_survives_a_restart_of_nova_compute(self):
        server = self.boot(self.image, self.flavor)
        self.run_in(self.workload(server).id, 'echo original > /etc/motd')
        server = self.rescue(server, self.rescue_image)
        rescue = self.rescue_container(server)
        self.restart_zun_compute('compute1')
        server = self._wait_for_state_change(server, 'RESCUE')
        self.assertEqual((rescue.id, RUNNING),
                         (self.rescue_container(server).id,
                          self.rescue_container(server).state))
        self.assertEqual('original\n', self.run_in(rescue.id,
                                                   'cat /mnt/etc/motd'))
        server = self.server_action(server, 'unrescue')
        self.assertEqual(RUNNING, self.workload(server).state)
        self.assertEqual([], self.mounted_below_rescue(server))

    def test_deleting_a_rescued_server_leaves_nothing(self):
        server = self.boot(self.image, self.flavor)
        server = self.rescue(server, self.rescue_image)
        self._delete_server(server)
        self.assertEqual([], self.pod_containers(server))
        self.assertEqual([], self.mounted_below_rescue(server))
