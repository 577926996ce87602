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

"""Cinder volumes backed by real loop devices, for the driver's tests.

:class:`LoopCinderFixture` is Nova's CinderFixture whose volumes are sparse
files on loop devices, handed to the driver as os-brick LOCAL connections
(``{'driver_volume_type': 'local', 'data': {'device_path': '/dev/loopN'}}``).
"""

import builtins
import copy
import dataclasses
import glob
import os
import subprocess
import tempfile

import fixtures
from nova.tests import fixtures as nova_fixtures
from oslo_utils import uuidutils
import psutil

from nova_zun import volumes


# Nova's test base poisons these (file access for paths in /sys, the host's
# interfaces and uname); os-brick uses them to describe the host
# (get_volume_connector). Kept as they were at import.
_REAL_HOST_INSPECTION = {
    'os.path.isdir': os.path.isdir, 'builtins.open': builtins.open,
    'glob.iglob': glob.iglob, 'os.listdir': os.listdir,
    'glob.glob': glob.glob, 'psutil.net_if_addrs': psutil.net_if_addrs,
    'os.uname': os.uname}


class RealHostInspection(fixtures.Fixture):
    """Undo Nova's SysFsPoisonFixture and GenericPoisonFixture.

    These tests describe the real host to Cinder, as nova-compute does.
    """

    def _setUp(self):
        for name, function in _REAL_HOST_INSPECTION.items():
            self.useFixture(fixtures.MonkeyPatch(name, function))


def run(*argv):
    return subprocess.run(argv, check=True, capture_output=True,
                          text=True).stdout.strip()


@dataclasses.dataclass(frozen=True)
class VolumeDirs:
    """One test session's directories.

    They are the driver's mount directory and the loop devices' backing files.
    """

    base: str

    @property
    def mounts(self):
        return os.path.join(self.base, 'mounts')

    @property
    def backing(self):
        return os.path.join(self.base, 'backing')

    @classmethod
    def create(cls, parent):
        """Make the session's directories in ``parent``.

        ``parent`` is a test session's or a benchmark run's directory, which
        its owner removes.
        """
        dirs = cls(os.path.join(parent, 'volumes'))
        os.makedirs(dirs.backing)
        return dirs

    def mounts_below(self):
        with open('/proc/self/mountinfo') as f:
            table = volumes.parse_mountinfo(f.read())
        return sorted(p for p in table if p.startswith(self.mounts + '/'))

    def unmount_below(self):
        """Unmount (lazily) what is mounted below the mount directory.

        Returns what was.
        """
        mounts = self.mounts_below()
        for point in sorted(mounts, reverse=True):
            subprocess.run(['umount', '-l', point], check=False)
        return mounts

    def loop_devices(self):
        """``{loop device: backing file}`` of the session's files."""
        listed = run('losetup', '--list', '--noheadings', '--raw',
                     '--output', 'NAME,BACK-FILE')
        found = {}
        for line in listed.splitlines():
            name, _, back = line.partition(' ')
            if back.startswith(self.backing + '/'):
                found[name] = back
        return found

    def leftovers_removed(self):
        """Remove what the session left (mounts, loop devices, files).

        Returns what there was; the driver's own shared mount of the mount
        directory is no leftover.
        """
        problems = []
        mounts = self.unmount_below()
        if mounts:
            problems.append('mounts left below %s: %s'
                            % (self.mounts, mounts))
        subprocess.run(['umount', '-l', self.mounts], check=False,
                       capture_output=True)
        loops = self.loop_devices()
        if loops:
            problems.append('loop devices left: %s' % loops)
        for device in loops:
            subprocess.run(['losetup', '-d', device], check=False)
        subprocess.run(['rm', '-rf', '--one-file-system', self.base],
                       check=False)
        return problems


class LoopCinderFixture(nova_fixtures.CinderFixture):
    """Cinder whose volumes, made with :meth:`create`, are real block devices.

    The fixture detaches them and removes their files at cleanup, also when the
    test fails.
    """

    def __init__(self, test, backing_dir):
        super().__init__(test)
        self.backing_dir = backing_dir
        self.connection_infos = {}
        self.loops = {}

    def setUp(self):
        super().setUp()
        self.addCleanup(self._remove_all)

    def _remove_all(self):
        for volume_id in list(self.loops):
            loop, path = self.loops.pop(volume_id)
            subprocess.run(['losetup', '-d', loop], check=False)
            os.unlink(path)

    def create(self, size_mb=32, read_only=False):
        volume_id = uuidutils.generate_uuid()
        path = os.path.join(self.backing_dir, volume_id + '.img')
        with open(path, 'wb') as f:
            f.truncate(size_mb * 1024 * 1024)
        try:
            loop = run('losetup', '--find', '--show', path)
        except subprocess.CalledProcessError:
            os.unlink(path)
            raise
        self.loops[volume_id] = (loop, path)
        self.connection_infos[volume_id] = {
            'driver_volume_type': 'local',
            'data': {'device_path': loop,
                     'access_mode': 'ro' if read_only else 'rw'}}
        return volume_id

    def create_unreachable(self):
        """A volume whose device does not exist on this host."""
        volume_id = uuidutils.generate_uuid()
        self.connection_infos[volume_id] = {
            'driver_volume_type': 'local',
            'data': {'device_path': '/dev/nova-zun-test-missing-%s'
                                    % volume_id[:8]}}
        return volume_id

    def device(self, volume_id):
        return self.loops[volume_id][0]

    def signatures(self, volume_id):
        """blkid's view of the device (TYPE, UUID, ...), {} when blank."""
        result = subprocess.run(
            ['blkid', '-p', '-o', 'export', self.device(volume_id)],
            capture_output=True, text=True)
        return volumes.parse_signatures(result.stdout)

    def format_with(self, volume_id, files):
        """Make an ext4 filesystem holding ``files`` ({name: text})."""
        device = self.device(volume_id)
        run('mkfs.ext4', '-q', device)
        with tempfile.TemporaryDirectory(dir=self.backing_dir) as point:
            run('mount', device, point)
            try:
                for name, text in files.items():
                    with open(os.path.join(point, name), 'w') as f:
                        f.write(text)
            finally:
                run('umount', point)

    def make_swap(self, volume_id):
        """Data that is not a filesystem: a swap signature."""
        run('mkswap', self.device(volume_id))

    def _find_connection_info(self, volume_id, attachment_id):
        if volume_id not in self.connection_infos:
            return super()._find_connection_info(volume_id, attachment_id)
        info = copy.deepcopy(self.connection_infos[volume_id])
        info['data'].update(volume_id=volume_id, attachment_id=attachment_id)
        return info


def use_loop_cinder(test, volume_dirs):
    """Give ``test`` a LoopCinderFixture on ``volume_dirs``; return it.

    The host is inspected for real, and a failed test's mounts go before
    its loop devices (each test asserts on its own that none is left).
    """
    test.useFixture(RealHostInspection())
    cinder = test.useFixture(LoopCinderFixture(test, volume_dirs.backing))
    test.addCleanup(volume_dirs.unmount_below)
    return cinder
