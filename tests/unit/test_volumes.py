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

"""Narrow logic of nova_zun.volumes: names, user paths, parsing and the
choice between making a filesystem and refusing."""

from unittest import mock

from nova import exception
import pytest

from nova_zun import volumes


class FakeInstance:
    uuid = '8c5d3b0e-4f3c-4a55-9d3e-7d5c1c1a2b3c'

    def __init__(self, metadata=None):
        self.metadata = metadata or {}


def test_device_names_come_from_the_mountpoint():
    assert volumes.device_name('/dev/vdb') == 'vdb'
    assert volumes.device_name('vdc') == 'vdc'
    for bad in ('/dev/', '', None, '/dev/VDB', '/dev/vd b'):
        with pytest.raises(exception.InvalidDevicePath):
            volumes.device_name(bad)


def test_user_paths_from_server_metadata():
    instance = FakeInstance({'zun_volume_path_vdb': '/data/',
                             'zun_volume_path_vdc': '/srv//db',
                             'other': 'x'})
    assert volumes.user_paths(instance) == {'vdb': '/data', 'vdc': '/srv/db'}


@pytest.mark.parametrize('metadata, reason', [
    ({'zun_volume_path_vdb': 'data'}, 'must be absolute'),
    ({'zun_volume_path_vdb': '/'}, 'must be absolute'),
    ({'zun_volume_path_vdb': '/volumes/x'}, 'must not be in /volumes'),
    ({'zun_volume_path_vdb': '/volumes'}, 'must not be in /volumes'),
    ({'zun_volume_path_VD': '/data'}, 'bad device name'),
    ({'zun_volume_path_vdb': '/data', 'zun_volume_path_vdc': '/data/'},
     'another volume has the path /data'),
])
def test_bad_user_paths_are_refused(metadata, reason):
    with pytest.raises(exception.InvalidInput, match=reason):
        volumes.user_paths(FakeInstance(metadata))


def test_mountinfo_parsing_unescapes_and_keeps_the_top_mount():
    table = volumes.parse_mountinfo(
        '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n'
        '90 27 7:3 / /srv/a\\040b rw,nosuid shared:5 - ext4 /dev/loop3 rw\n'
        '91 90 7:4 / /srv/a\\040b ro,nodev - xfs /dev/loop4 ro\n'
        '92 27 254:0 /srv/c /srv/c rw shared:7 master:2 - ext4 /dev/vda rw\n')
    entry = table['/srv/a b']
    assert entry.device == '7:4'
    assert entry.source == '/dev/loop4'
    assert entry.fstype == 'xfs'
    assert 'ro' in entry.options
    assert not entry.shared
    assert table['/'].source == '/dev/vda'
    assert table['/srv/c'].shared


def test_signature_parsing():
    assert volumes.parse_signatures(
        'DEVNAME=/dev/loop0\nUUID=abc\nTYPE=ext4\nUSAGE=filesystem\n') == {
        'DEVNAME': '/dev/loop0', 'UUID': 'abc', 'TYPE': 'ext4',
        'USAGE': 'filesystem'}
    assert volumes.parse_signatures('') == {}


def test_access_mode_and_volume_id():
    info = {'serial': 'v1', 'data': {'access_mode': 'ro', 'volume_id': 'v2'}}
    assert volumes.is_read_only(info)
    assert volumes.volume_id(info) == 'v1'
    assert not volumes.is_read_only({'data': {'access_mode': 'rw'}})
    assert volumes.volume_id({'data': {'volume_id': 'v2'}}) == 'v2'


@pytest.fixture
def privileged():
    with mock.patch.object(volumes, 'privileged', autospec=True) as priv:
        priv.make_filesystem.return_value = (0, '', '')
        priv.mount.return_value = (0, '', '')
        yield priv


def _mount(read_only=False):
    volumes.VolumeMounts('/state')._mount(
        FakeInstance(), 'vol', '/dev/loop9', '/state/u/vdb', read_only)


def test_a_blank_device_gets_a_filesystem(privileged):
    privileged.probe_signatures.return_value = (2, '', '')
    _mount()
    privileged.make_filesystem.assert_called_once_with(
        '/dev/loop9', 'ext4', volumes.MKFS_OPTIONS)
    privileged.mount.assert_called_once_with(
        '/dev/loop9', '/state/u/vdb', 'ext4', ['nosuid', 'nodev'])


def test_a_device_with_a_filesystem_is_mounted_as_it_is(privileged):
    privileged.probe_signatures.return_value = (
        0, 'TYPE=xfs\nUSAGE=filesystem\n', '')
    _mount(read_only=True)
    privileged.make_filesystem.assert_not_called()
    privileged.mount.assert_called_once_with(
        '/dev/loop9', '/state/u/vdb', 'xfs',
        ['nosuid', 'nodev', 'ro', 'norecovery'])


@pytest.mark.parametrize('probe, reason', [
    ((0, 'PTTYPE=gpt\nPTUUID=x\n', ''), 'a partition table'),
    ((0, 'TYPE=swap\nUSAGE=other\n', ''), 'it holds swap'),
    ((4, '', 'cannot open'), 'blkid could not read'),
])
def test_what_is_not_a_filesystem_is_never_formatted(privileged, probe,
                                                     reason):
    privileged.probe_signatures.return_value = probe
    with pytest.raises(exception.VolumeAttachFailed, match=reason):
        _mount()
    privileged.make_filesystem.assert_not_called()
    privileged.mount.assert_not_called()


def test_a_failed_mount_is_never_followed_by_mkfs(privileged):
    privileged.probe_signatures.return_value = (
        0, 'TYPE=ext4\nUSAGE=filesystem\n', '')
    privileged.mount.return_value = (32, '', 'wrong fs type')
    with pytest.raises(exception.VolumeAttachFailed,
                       match='not reformatted.*wrong fs type'):
        _mount()
    privileged.make_filesystem.assert_not_called()


def test_a_blank_read_only_volume_is_refused(privileged):
    privileged.probe_signatures.return_value = (2, '', '')
    with pytest.raises(exception.VolumeAttachFailed,
                       match='no filesystem and is attached read-only'):
        _mount(read_only=True)
    privileged.make_filesystem.assert_not_called()
