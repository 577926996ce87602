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

"""Static-binary detection and the minimal root filesystem."""

import io
import os
import struct
import sys
import tarfile

import pytest

from nova_zun.runtime import rootfs

BUSYBOX = '/bin/busybox'
PT_LOAD, PT_INTERP = 1, 3


def _elf(path, is64, big_endian, p_types):
    """Write an ELF header and program headers of ``p_types``, nothing else.

    That is enough for is_static_elf, whatever the host's architecture.
    """
    e = '>' if big_endian else '<'
    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    ident = b'\x7fELF' + bytes([2 if is64 else 1, 2 if big_endian else 1,
                                1]) + bytes(9)
    header = bytearray(ident + bytes(ehsize - 16))
    if is64:
        struct.pack_into(e + 'Q', header, 32, ehsize)
        struct.pack_into(e + 'HH', header, 54, phentsize, len(p_types))
    else:
        struct.pack_into(e + 'I', header, 28, ehsize)
        struct.pack_into(e + 'HH', header, 42, phentsize, len(p_types))
    for p_type in p_types:
        header += struct.pack(e + 'I', p_type) + bytes(phentsize - 4)
    path.write_bytes(bytes(header))
    return str(path)


@pytest.mark.parametrize('is64', [True, False], ids=['64bit', '32bit'])
@pytest.mark.parametrize('big_endian', [False, True], ids=['le', 'be'])
def test_is_static_elf_looks_for_a_program_interpreter(tmp_path, is64,
                                                       big_endian):
    static = _elf(tmp_path / 'static', is64, big_endian, [PT_LOAD])
    dynamic = _elf(tmp_path / 'dynamic', is64, big_endian,
                   [PT_LOAD, PT_INTERP, PT_LOAD])
    assert rootfs.is_static_elf(static)
    assert not rootfs.is_static_elf(dynamic)


def test_is_static_elf_on_real_binaries():
    assert rootfs.is_static_elf(BUSYBOX)  # Debian's busybox-static
    assert not rootfs.is_static_elf(os.path.realpath(sys.executable))


@pytest.mark.parametrize('content', [b'', b'#!/bin/sh\necho hi\n'],
                         ids=['empty', 'script'])
def test_is_static_elf_is_false_for_non_elf_files(tmp_path, content):
    path = tmp_path / 'file'
    path.write_bytes(content)
    assert not rootfs.is_static_elf(str(path))


def test_busybox_rootfs_holds_the_binary_applet_links_and_mount_points():
    data = rootfs.busybox_rootfs(BUSYBOX, ('sh', 'sleep'))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar}
        binary = tar.extractfile('bin/busybox').read()
        passwd = tar.extractfile('etc/passwd').read()
    with open(BUSYBOX, 'rb') as f:
        assert binary == f.read()
    for applet in ('sh', 'sleep'):
        assert members['bin/' + applet].issym()
        assert members['bin/' + applet].linkname == 'busybox'
    for d in ('bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root'):
        assert members[d].isdir()
    assert members['tmp'].mode == 0o1777
    assert passwd.startswith(b'root:x:0:0:')


def test_busybox_rootfs_refuses_a_dynamic_binary():
    with pytest.raises(ValueError, match='busybox-static'):
        rootfs.busybox_rootfs(os.path.realpath(sys.executable))
