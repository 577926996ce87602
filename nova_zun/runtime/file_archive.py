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

"""A caller's tar archive of files on its way into a container.

``put_archive`` hands the archive to the engine, which extracts it into a
directory of the container. Whatever the engine, it is checked here first:
a member that would land outside that directory (an absolute name, ``..``,
a link pointing out) or make a device is refused, and so is a path that is
not absolute or climbs with ``..``.

Image archives are a different matter (:mod:`archive_stream`): the engine
loads them as images, so they are rewritten as they stream, not checked and
passed on.
"""

import io
import posixpath
import tarfile

from nova_zun.runtime import exception


def container_path(path):
    """``path`` normalized, or InvalidRequest if it is not valid.

    A valid path is absolute and holds no ``..``.
    """
    if not path or not path.startswith('/'):
        raise exception.InvalidRequest('path %r must be absolute' % path)
    if '..' in path.split('/'):
        raise exception.InvalidRequest('path %r must not contain ".."'
                                       % path)
    return posixpath.normpath(path)


def _escapes(path):
    """True if a relative archive path climbs out of the directory."""
    normalized = posixpath.normpath(path)
    return normalized == '..' or normalized.startswith('../')


def member_problem(member):
    """Why ``member`` may not be extracted, or None.

    The rules of tarfile's 'data' filter, which Debian 12's Python (3.11.2)
    lacks, and stricter on names: the engine would extract '/evil' into the
    directory, so absolute names are refused rather than stripped.
    """
    if member.name.startswith('/'):
        return 'absolute name'
    if _escapes(member.name):
        return 'its path leads outside the directory'
    if member.isdev():
        return 'device files and pipes are not allowed'
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith('/'):
            return 'link to an absolute path'
        # Symbolic links resolve from their own directory, hard links from
        # the archive's root.
        if member.issym():
            target = posixpath.join(posixpath.dirname(member.name), target)
        if _escapes(target):
            return 'link to a path outside the directory'
    return None


def check(data):
    """Reject archives whose members land outside the target or make devices.

    A member lands outside the target directory by an absolute name, '..' or a
    link pointing out.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode='r:*') as tar:
            for member in tar:
                problem = member_problem(member)
                if problem:
                    raise exception.InvalidRequest(
                        'archive member %r is not allowed: %s'
                        % (member.name, problem))
    except tarfile.TarError as exc:
        raise exception.InvalidRequest('not a tar archive: %s' % exc)


def of_files(files):
    """A tar archive (bytes) of ``[(relative path, bytes)]``.

    With their parent directories (0755), files 0644, owned by root.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        made = set()
        for path, data in files:
            parts = path.split('/')[:-1]
            for depth in range(1, len(parts) + 1):
                directory = '/'.join(parts[:depth])
                if directory not in made:
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    made.add(directory)
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
