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

"""Minimal root filesystems made from a static binary on the host.

The pod sandbox image, and the images the test tooling builds, are a
statically linked busybox and a few applet links: nothing is pulled.
"""

import io
import os
import struct
import tarfile

_PT_INTERP = 3


def is_static_elf(path):
    """True if ``path`` is an ELF executable with no program interpreter.

    Such an executable runs in an empty root filesystem.
    """
    with open(path, 'rb') as f:
        ident = f.read(16)
        if ident[:4] != b'\x7fELF':
            return False
        is64 = ident[4] == 2
        endian = '<' if ident[5] == 1 else '>'
        if is64:
            f.seek(32)
            (phoff,) = struct.unpack(endian + 'Q', f.read(8))
            f.seek(54)
        else:
            f.seek(28)
            (phoff,) = struct.unpack(endian + 'I', f.read(4))
            f.seek(42)
        phentsize, phnum = struct.unpack(endian + 'HH', f.read(4))
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(endian + 'I', f.read(4))
            if p_type == _PT_INTERP:
                return False
    return True


def busybox_rootfs(binary, applets=()):
    """Return a tar archive (bytes) of a busybox root filesystem.

    It holds ``binary`` as /bin/busybox, a link per applet in /bin, and /tmp,
    /etc, /proc, /sys, /dev mount points.
    """
    if not is_static_elf(binary):
        raise ValueError('%s is not a statically linked ELF executable '
                         '(Debian: busybox-static)' % binary)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for d, mode in (('bin', 0o755), ('etc', 0o755), ('tmp', 0o1777),
                        ('proc', 0o555), ('sys', 0o555), ('dev', 0o755),
                        ('root', 0o700)):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        tar.add(os.path.realpath(binary), arcname='bin/busybox')
        for applet in applets:
            link = tarfile.TarInfo('bin/' + applet)
            link.type = tarfile.SYMTYPE
            link.linkname = 'busybox'
            tar.addfile(link)
        passwd = b'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:\n'
        info = tarfile.TarInfo('etc/passwd')
        info.size = len(passwd)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()
