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

"""Cinder volumes in pods: os-brick connects, the host mounts, the
container sees them through mount propagation.

On the host each volume's filesystem is mounted at
``[zun] volume_mount_dir/<instance uuid>/<device>`` (``/dev/vdb`` ->
``vdb``). That directory is a shared mount of its own; every workload gets
its instance's directory read-only at ``/volumes`` with ``rslave``
propagation, so a volume mounted on the host later (hot attach) appears in
the running container at ``/volumes/<device>`` and goes when the host
unmounts it.

Server metadata ``zun_volume_path_<device>=/absolute/path`` shows the
volume at that path as well. It is bound when the workload is created (at
boot, rebuild, or a hard reboot that recreates it): a volume attached then,
or attached later while the workload runs, appears there; detach unmounts
it inside the container's mount namespace too.

Filesystems: a device with no signature at all (``blkid -p`` finds none)
gets an ext4 filesystem; anything else is mounted as it is and never
reformatted (a failed mount fails the attach). Mount options ``nosuid``,
``nodev``; read-only attachments mount ``ro`` without journal replay.
"""

import collections
import os
import re
import stat

from nova import exception
from os_brick.initiator import connector as brick_connector
from oslo_log import log as logging
from oslo_utils import excutils

from nova_zun import privileged
from nova_zun.runtime import types

LOG = logging.getLogger(__name__)

#: Where every volume of the pod appears inside the container.
CONTAINER_DIR = '/volumes'
META_PATH_PREFIX = 'zun_volume_path_'
FILESYSTEM = 'ext4'
#: No blocks reserved for root: the filesystem is the user's data.
MKFS_OPTIONS = ('-m', '0')
MOUNT_OPTIONS = ('nosuid', 'nodev')
#: A read-only mount must not write to the device: no journal replay.
_NO_REPLAY = {'ext3': 'noload', 'ext4': 'noload', 'xfs': 'norecovery'}
_DEVICE = re.compile(r'^[a-z][a-z0-9]*$')
_BLKID_NOTHING_FOUND = 2
_UMOUNT_NOT_MOUNTED = 32

MountEntry = collections.namedtuple(
    'MountEntry', 'mount_point device source fstype options shared')


def initialize(conf):
    """Start os-brick's privsep context and ours like the others.

    See :func:`nova_zun.network.configure_privsep`.
    """
    import os_brick
    import os_brick.privileged  # noqa: F401 (registers privsep_osbrick)

    from nova_zun import network
    network.configure_privsep(
        conf, sections=('privsep_osbrick', 'nova_zun_storage_privileged'))
    os_brick.setup(conf)


def connector_properties(my_ip, host):
    """This host as Cinder's initiator (os-brick's view)."""
    return brick_connector.get_connector_properties(
        'privsep-helper', my_ip, False, enforce_multipath=False, host=host)


def device_name(mountpoint):
    """``/dev/vdb`` -> ``vdb``."""
    name = os.path.basename(mountpoint or '')
    if not _DEVICE.match(name):
        raise exception.InvalidDevicePath(path=mountpoint)
    return name


def volume_id(connection_info):
    return (connection_info.get('serial') or
            connection_info.get('data', {}).get('volume_id') or 'unknown')


def is_read_only(connection_info):
    return connection_info.get('data', {}).get('access_mode') == 'ro'


def user_paths(instance):
    """``{device: path}`` from server metadata zun_volume_path_<device>."""
    paths = {}
    for key, value in (instance.metadata or {}).items():
        if not key.startswith(META_PATH_PREFIX):
            continue
        device = key[len(META_PATH_PREFIX):]
        path = os.path.normpath(value) if value.startswith('/') else value
        if not _DEVICE.match(device):
            reason = 'bad device name %r' % device
        elif not value.startswith('/') or path == '/':
            reason = 'the path must be absolute and not /'
        elif path == CONTAINER_DIR or path.startswith(CONTAINER_DIR + '/'):
            reason = 'the path must not be in %s' % CONTAINER_DIR
        elif path in paths.values():
            reason = 'another volume has the path %s' % path
        else:
            paths[device] = path
            continue
        raise exception.InvalidInput(
            reason='instance %s: server metadata %s: %s'
                   % (instance.uuid, key, reason))
    return paths


def _unescape(field):
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text):
    """``{mount point: MountEntry}`` of a /proc/<pid>/mountinfo table.

    Where several mounts are stacked on a point, it maps to the top one.
    """
    entries = {}
    for line in text.splitlines():
        fields = line.split()
        if ' - ' not in line or len(fields) < 10:
            continue
        after = fields.index('-')
        point = _unescape(fields[4])
        entries[point] = MountEntry(
            point, fields[2], _unescape(fields[after + 2]),
            fields[after + 1], tuple(fields[5].split(',')),
            any(f.startswith('shared:') for f in fields[6:after]))
    return entries


def parse_signatures(output):
    """``blkid -o export`` -> ``{KEY: value}``."""
    return dict(line.split('=', 1) for line in output.splitlines()
                if '=' in line)


def _host_mounts():
    with open('/proc/self/mountinfo') as f:
        return parse_mountinfo(f.read())


def _connector(connection_info):
    return brick_connector.InitiatorConnector.factory(
        connection_info['driver_volume_type'], 'privsep-helper',
        use_multipath=False, device_scan_attempts=3)


class VolumeMounts:
    """Connect, mount and expose the volumes of instances on this host."""

    def __init__(self, mount_dir):
        self.mount_dir = mount_dir

    def instance_dir(self, instance_uuid):
        return os.path.join(self.mount_dir, instance_uuid)

    def host_path(self, instance_uuid, device):
        return os.path.join(self.instance_dir(instance_uuid), device)

    def _share_mount_dir(self, mounted):
        """Make the mount directory a shared mount point of its own.

        Nothing is done when ``mounted`` (the host's mount table) shows it is
        one: the privileged mount runs once, not on every spawn.
        """
        entry = mounted.get(os.path.realpath(self.mount_dir))
        if entry is not None and entry.shared:
            return
        code, err = privileged.share_directory(self.mount_dir)
        if code:
            raise exception.NovaException(
                'cannot make [zun] volume_mount_dir %s a shared mount: %s'
                % (self.mount_dir, err))

    # -- container side -----------------------------------------------------

    def container_mounts(self, instance):
        """Mounts for a workload about to be created (after :meth:`mount_all`).

        The instance's directory at /volumes and each user path. A user path's
        directory that holds no volume now is bound read-only (a volume mounted
        there later has its own flags).
        """
        paths = user_paths(instance)
        mounted = _host_mounts()
        self._share_mount_dir(mounted)
        own = self.instance_dir(instance.uuid)
        mounts = [types.Mount(own, CONTAINER_DIR, read_only=True,
                              propagation='rslave')]
        for device, path in sorted(paths.items()):
            source = self.host_path(instance.uuid, device)
            entry = mounted.get(source)
            mounts.append(types.Mount(
                source, path, propagation='rslave',
                read_only=entry is None or 'ro' in entry.options))
        return tuple(mounts)

    def _make_directories(self, instance, paths):
        """The instance's directory and those of its user ``paths``."""
        privileged.make_directories(
            [self.instance_dir(instance.uuid)] +
            [self.host_path(instance.uuid, d) for d in paths])

    # -- attach -------------------------------------------------------------

    def mount_all(self, instance, block_device_info_mapping):
        """Connect and mount every mapped volume not mounted yet.

        For boot, power on, hard reboot and the host's restart. The
        directories the workload binds are made again where they went
        (a mount directory on tmpfs after the host's reboot).
        """
        self._make_directories(instance, user_paths(instance))
        for bdm in block_device_info_mapping:
            self.attach(instance, bdm['connection_info'],
                        bdm['mount_device'])

    def attach(self, instance, connection_info, mountpoint):
        """Connect the volume and mount its filesystem on the host.

        What a failure left connected or mounted is undone.
        """
        device = device_name(mountpoint)
        target = self.host_path(instance.uuid, device)
        mounted = _host_mounts()
        if target in mounted:
            return
        vol = volume_id(connection_info)
        self._share_mount_dir(mounted)
        privileged.make_directories([target])
        try:
            brick = _connector(connection_info)
            device_info = brick.connect_volume(connection_info['data'])
        except Exception as exc:
            raise exception.VolumeAttachFailed(
                volume_id=vol, reason='os-brick could not connect it (%s): '
                '%s' % (connection_info.get('driver_volume_type'), exc))
        try:
            path = device_info['path']
            try:
                is_block = stat.S_ISBLK(os.stat(path).st_mode)
            except OSError as exc:
                raise exception.VolumeAttachFailed(
                    volume_id=vol, reason='its device %s cannot be used: %s'
                    % (path, exc.strerror))
            if not is_block:
                raise exception.VolumeAttachFailed(
                    volume_id=vol,
                    reason='%s is not a block device' % path)
            connection_info['data']['device_path'] = path
            self._mount(instance, vol, path, target,
                        is_read_only(connection_info))
        except Exception:
            with excutils.save_and_reraise_exception():
                self._disconnect(instance, connection_info, quiet=True)
        LOG.info('Volume %(vol)s (%(path)s) mounted at %(target)s',
                 {'vol': vol, 'path': path, 'target': target},
                 instance=instance)

    def _mount(self, instance, vol, path, target, read_only):
        code, out, err = privileged.probe_signatures(path)
        if code == _BLKID_NOTHING_FOUND:
            if read_only:
                raise exception.VolumeAttachFailed(
                    volume_id=vol, reason='it holds no filesystem and is '
                    'attached read-only')
            LOG.info('Volume %s is blank: making an %s filesystem',
                     vol, FILESYSTEM, instance=instance)
            code, _, err = privileged.make_filesystem(path, FILESYSTEM,
                                                      MKFS_OPTIONS)
            if code:
                raise exception.VolumeAttachFailed(
                    volume_id=vol, reason='mkfs.%s failed: %s'
                    % (FILESYSTEM, err))
            fstype = FILESYSTEM
        elif code:
            raise exception.VolumeAttachFailed(
                volume_id=vol, reason='blkid could not read %s: %s'
                % (path, err or 'exit code %d' % code))
        else:
            found = parse_signatures(out)
            fstype = found.get('TYPE')
            if found.get('USAGE') != 'filesystem' or not fstype:
                if fstype:
                    held = fstype
                elif 'PTTYPE' in found:
                    held = 'a partition table'
                else:
                    held = 'unknown data'
                raise exception.VolumeAttachFailed(
                    volume_id=vol, reason='it holds %s, not a filesystem; '
                    'it was left as it is' % held)
        options = list(MOUNT_OPTIONS)
        if read_only:
            options.append('ro')
            if fstype in _NO_REPLAY:
                options.append(_NO_REPLAY[fstype])
        code, _, err = privileged.mount(path, target, fstype, options)
        if code:
            raise exception.VolumeAttachFailed(
                volume_id=vol, reason='mounting its %s filesystem failed '
                '(it was not reformatted): %s' % (fstype, err))

    # -- detach -------------------------------------------------------------

    def detach(self, instance, connection_info, mountpoint,
               workload_pid=None):
        """Unmount inside the container, on the host, then disconnect.

        Inside the container go the mounts propagation cannot take back, e.g. a
        user path bound while the volume was there.
        """
        target = self.host_path(instance.uuid, device_name(mountpoint))
        entry = _host_mounts().get(target)
        if entry is not None:
            if workload_pid:
                self._unmount_inside(instance, workload_pid, entry.device)
            code, err = privileged.unmount(target)
            if code:
                raise exception.DeviceDetachFailed(
                    device=mountpoint, reason='umount %s: %s'
                    % (target, err))
            LOG.info('Volume %s unmounted from %s',
                     volume_id(connection_info), target, instance=instance)
        self._disconnect(instance, connection_info)

    def _unmount_inside(self, instance, pid, device):
        inside = parse_mountinfo(privileged.namespace_mountinfo(pid))
        for point in sorted((p for p, e in inside.items()
                             if e.device == device), reverse=True):
            code, err = privileged.unmount(point, namespace_pid=pid)
            if code and code != _UMOUNT_NOT_MOUNTED:
                LOG.warning('Could not unmount %s inside the container: '
                            '%s', point, err, instance=instance)

    def _disconnect(self, instance, connection_info, quiet=False):
        try:
            _connector(connection_info).disconnect_volume(
                connection_info['data'], None, force=quiet,
                ignore_errors=quiet)
        except Exception:
            if not quiet:
                raise
            LOG.exception('Could not disconnect volume %s',
                          volume_id(connection_info), instance=instance)

    def release(self, instance, block_device_info_mapping, quiet=False):
        """Undo every mount and connection of an instance whose pod is gone.

        That is after delete or a failed boot. Mounts left below its directory
        that Nova no longer lists go too. Its directory is removed.
        """
        self.detach_all(instance, block_device_info_mapping, quiet=quiet)
        self.release_leftovers(instance.uuid)

    def detach_all(self, instance, block_device_info_mapping, quiet=False):
        """Unmount and disconnect every mapped volume; keep the directories.

        The stopped workload of a pod that moves to another host binds them
        still: a revert starts it again here.
        """
        for bdm in block_device_info_mapping:
            try:
                self.detach(instance, bdm['connection_info'],
                            bdm['mount_device'])
            except Exception:
                if not quiet:
                    raise
                LOG.exception('Could not detach volume %s',
                              volume_id(bdm['connection_info']),
                              instance=instance)

    def release_leftovers(self, instance_uuid):
        """Unmount what is still below an instance's directory and remove it.

        There is no connection info: os-brick connections cannot be undone from
        here.
        """
        own = self.instance_dir(instance_uuid)
        for point in sorted((p for p in _host_mounts()
                             if p.startswith(own + '/')), reverse=True):
            LOG.warning('Unmounting %s, which no attachment lists', point)
            code, err = privileged.unmount(point)
            if code:
                LOG.error('Could not unmount %s: %s', point, err)
        if not os.path.isdir(own):
            return
        kept = privileged.remove_directories(
            [own] + [os.path.join(own, name) for name in os.listdir(own)])
        if kept:
            LOG.warning('Left non-empty directories: %s', kept)
