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

"""The check of a caller's file archive before the engine extracts it
into a container (put_archive)."""

import io
import tarfile

import pytest

from nova_zun.runtime import exception
from nova_zun.runtime import file_archive


def _tar(*members, compression=''):
    """A tar archive of ``(name, kind, extra)`` members.

    Kind is 'file' (extra: content), 'dir', 'sym' or 'hard' (extra: link
    target), 'chr'.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w' + compression) as tar:
        for name, kind, extra in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == 'file':
                info.size = len(extra)
                data = io.BytesIO(extra)
            elif kind == 'dir':
                info.type = tarfile.DIRTYPE
            elif kind in ('sym', 'hard'):
                info.type = (tarfile.SYMTYPE if kind == 'sym'
                             else tarfile.LNKTYPE)
                info.linkname = extra
            elif kind == 'chr':
                info.type = tarfile.CHRTYPE
            tar.addfile(info, data)
    return buf.getvalue()


@pytest.mark.parametrize('archive', [
    _tar(('a', 'file', b'x'), ('d', 'dir', None), ('d/b', 'file', b'y'),
         ('d/up', 'sym', '../a'), ('d/same', 'hard', 'a')),
    _tar(('a', 'file', b'x'), compression=':gz'),
], ids=['plain', 'gzip'])
def test_check_accepts_members_that_stay_inside(archive):
    file_archive.check(archive)


@pytest.mark.parametrize('member', [
    ('../evil', 'file', b'x'),
    ('d/../../evil', 'file', b'x'),
    ('/evil', 'file', b'x'),
    ('abs-link', 'sym', '/etc/passwd'),
    ('up-link', 'sym', '../../etc'),
    ('hard-out', 'hard', '../outside'),
    ('hard-abs', 'hard', '/etc/shadow'),
    ('device', 'chr', None),
], ids=lambda m: m[0])
def test_check_refuses_members_that_escape(member):
    with pytest.raises(exception.InvalidRequest) as info:
        file_archive.check(_tar(('ok', 'file', b'x'), member))
    assert repr(member[0]) in info.value.message


def test_check_refuses_data_that_is_not_a_tar():
    with pytest.raises(exception.InvalidRequest, match='not a tar archive'):
        file_archive.check(b'this is no archive' * 100)


def test_container_path_is_normalized():
    assert '/a/b' == file_archive.container_path('/a//b/./')


@pytest.mark.parametrize('path', ['', 'relative', '/a/../etc', '/..'])
def test_container_path_must_be_absolute_without_dot_dot(path):
    with pytest.raises(exception.InvalidRequest):
        file_archive.container_path(path)


def test_an_archive_of_files_has_their_directories():
    data = file_archive.of_files([('etc/app/a.conf', b'a=1\n'),
                                  ('etc/b', b'')])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: (m.isdir(), m.mode) for m in tar}
        assert b'a=1\n' == tar.extractfile('etc/app/a.conf').read()
    assert {'etc': (True, 0o755), 'etc/app': (True, 0o755),
            'etc/app/a.conf': (False, 0o644), 'etc/b': (False, 0o644)} == \
        members
    file_archive.check(data)
