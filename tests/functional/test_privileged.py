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

"""nova-zun's privsep daemons, as nova-compute starts them, take only what
they must: the storage daemon works only below [zun] volume_mount_dir (as
it reads it from nova-compute's configuration), the shim reaper only on a
container id. A compromised nova-compute gets no more from them."""

import os
import shutil
import subprocess
import tempfile

from nova_zun import privileged

from tests.functional import base


class TestPrivilegedArguments(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        # Outside the mount directory: what a caller must not reach.
        self.outside = tempfile.mkdtemp(prefix='nova-zun-outside-')
        self.addCleanup(shutil.rmtree, self.outside)
        os.makedirs(self.volume_dirs.mounts, exist_ok=True)

    def assertRefused(self, call, *args):
        self.assertRaisesRegex(ValueError, 'volume_mount_dir|block device|'
                               'absolute path|mount namespace', call, *args)

    def test_directories_only_below_the_mount_dir(self):
        for path in (os.path.join(self.outside, 'made'),
                     self.volume_dirs.mounts + '/../escaped', '/etc/x',
                     'relative/path', self.volume_dirs.mounts):
            self.assertRefused(privileged.make_directories, [path])
        self.assertFalse(os.path.exists(os.path.join(self.outside, 'made')))
        os.mkdir(os.path.join(self.outside, 'victim'))
        self.assertRefused(privileged.remove_directories,
                           [os.path.join(self.outside, 'victim')])
        self.assertTrue(os.path.isdir(os.path.join(self.outside, 'victim')))
        own = os.path.join(self.volume_dirs.mounts, 'test-own')
        privileged.make_directories([own])
        self.assertEqual((), privileged.remove_directories([own]))
        self.assertFalse(os.path.exists(own))

    def test_a_link_below_the_mount_dir_leads_nowhere_else(self):
        link = os.path.join(self.volume_dirs.mounts, 'test-link')
        os.symlink(self.outside, link)
        self.addCleanup(os.unlink, link)
        self.assertRefused(privileged.make_directories,
                           [os.path.join(link, 'made')])
        self.assertEqual([], os.listdir(self.outside))
        self.assertRefused(privileged.share_directory, link)
        self.assertRefused(privileged.mount, '/dev/null', link, 'ext4',
                           ['nosuid'])

    def test_mounts_take_a_block_device_and_a_target_below_the_dir(self):
        target = os.path.join(self.volume_dirs.mounts, 'test-target')
        privileged.make_directories([target])
        self.addCleanup(privileged.remove_directories, [target])
        # A file is no device (mount would set up a loop device for it).
        image = os.path.join(self.outside, 'image')
        with open(image, 'wb') as f:
            f.truncate(1 << 20)
        self.assertRefused(privileged.mount, image, target, 'ext4', [])
        self.assertRefused(privileged.probe_signatures, image)
        self.assertRefused(privileged.make_filesystem, image, 'ext4', [])

    def test_overlay_mounts_take_layer_directories_and_no_options(self):
        target = os.path.join(self.volume_dirs.mounts, 'test-overlay')
        privileged.make_directories([target])
        self.addCleanup(privileged.remove_directories, [target])
        layers = []
        for name in ('lower', 'upper', 'work', 'a,upperdir=x'):
            layers.append(os.path.join(self.outside, name))
            os.mkdir(layers[-1])
        lower, upper, work, injecting = layers
        for bad_lower in ([], [injecting], ['relative'], [lower + '/..'],
                          [os.path.join(self.outside, 'missing')],
                          [lower + ':' + upper]):
            self.assertRaisesRegex(
                ValueError, 'layer', privileged.mount_overlay, bad_lower,
                upper, work, target)
        self.assertRaisesRegex(ValueError, 'layer', privileged.mount_overlay,
                               [lower], injecting, work, target)
        self.assertRefused(privileged.mount_overlay, [lower], upper, work,
                           os.path.join(self.outside, 'lower'))
        self.assertFalse(os.path.ismount(target))

    def mounted_outside(self):
        point = os.path.join(self.outside, 'mounted')
        os.mkdir(point)
        subprocess.run(['mount', '-t', 'tmpfs', 'none', point], check=True)
        self.addCleanup(subprocess.run, ['umount', point])
        return point

    def assertMounted(self, point):
        self.assertEqual(0, subprocess.run(['findmnt', point]).returncode)

    def test_no_unmount_outside_the_mount_dir(self):
        point = self.mounted_outside()
        self.assertRefused(privileged.unmount, point)
        self.assertMounted(point)

    def test_no_unmount_in_the_hosts_mount_namespace(self):
        point = self.mounted_outside()
        # A process of the host's namespace (this one, init) is no
        # container's: there a path need not be below the mount dir.
        for pid in (os.getpid(), 1):
            self.assertRefused(privileged.unmount, point, pid)
        self.assertMounted(point)

    def test_mkfs_only_on_a_blank_device(self):
        image = os.path.join(self.outside, 'image')
        with open(image, 'wb') as f:
            f.truncate(8 << 20)
        subprocess.run(['mkfs.ext4', '-q', image], check=True)
        device = subprocess.run(
            ['losetup', '--find', '--show', image], check=True,
            capture_output=True, text=True).stdout.strip()
        self.addCleanup(subprocess.run, ['losetup', '-d', device],
                        check=True)
        self.assertRaisesRegex(ValueError, 'is not blank',
                               privileged.make_filesystem, device, 'ext4',
                               [])
        self.assertEqual('ext4', subprocess.run(
            ['blkid', '-o', 'value', '-s', 'TYPE', device],
            capture_output=True, text=True).stdout.strip())

    def test_the_shim_reaper_takes_a_container_id_only(self):
        for bad in ('1', '-1', '.*', 'f' * 63, str(os.getpid())):
            self.assertRaisesRegex(ValueError, 'not a full container id',
                                   privileged.reap_shims, bad)
        self.assertEqual(0, privileged.reap_shims('e' * 64))
