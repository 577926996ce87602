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

"""A tenant's image archive on its way to the engine, with no name left in it.

An image archive names images: ``manifest.json``'s ``RepoTags`` and the
legacy ``repositories`` file of a ``docker save`` archive, the ref-name
annotations of an OCI layout's ``index.json``. The engine applies them as
it loads the archive, before anyone can look: a tenant's archive could
re-point a name that the host or another tenant uses. :func:`without_names`
rewrites the archive while it streams, so the engine loads the image by
content alone and the caller names it.

Every member goes on with a header written here (POSIX pax), so the engine
reads exactly the names checked here, whatever its own reading of the
original header would have been; member data passes through unchanged, in
pieces. Only the JSON control files are read whole, up to a bound. Links
and duplicate members could make the engine read a control file other than
the one rewritten here: such members are refused, as are members that are
no file, directory or link, and archives that end early.
"""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import posixpath
import tarfile
import zlib

from nova_zun.runtime import exception

#: ``docker save``'s format: manifest.json beside the configs and layers.
DOCKER_ARCHIVE = 'docker-archive'
#: An OCI image layout: oci-layout, index.json and blobs/.
OCI_LAYOUT = 'oci-layout'

MANIFEST = 'manifest.json'
INDEX = 'index.json'
LAYOUT = 'oci-layout'
REPOSITORIES = 'repositories'

#: Bound of a control file and of an extended header (Go's archive/tar,
#: the engine's reader, allows 1 MiB for the latter). A manifest of a
#: 127-layer image is about 10 KiB.
MAX_SMALL_MEMBER = 1024 * 1024
#: Bound of the members of one archive (a ``docker save`` has four per
#: layer, an OCI layout one per blob), so what is kept per member stays
#: small.
MAX_MEMBERS = 100000

_BLOCK = tarfile.BLOCKSIZE
_CHUNK = 1024 * 1024
_END_OF_ARCHIVE = tarfile.NUL * (2 * _BLOCK)
_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)
_KEPT_TYPES = _REGULAR + (tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE)
_PAX_TYPES = (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE)
_EXTENSION_TYPES = _PAX_TYPES + (tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME,
                                 tarfile.GNUTYPE_LONGLINK)
# What the control files keep: what the image is; no name, nor a parent
# link to another image of the host.
_MANIFEST_KEYS = ('Config', 'Layers')
_INDEX_KEYS = ('schemaVersion', 'mediaType', 'manifests')
_DESCRIPTOR_KEYS = ('mediaType', 'digest', 'size', 'platform')
# Compressed archives the engine accepts (``docker load`` decompresses),
# by their leading bytes.
_COMPRESSIONS = (
    (b'\x1f\x8b', lambda f: gzip.GzipFile(fileobj=f, mode='rb')),
    (b'BZh', lambda f: bz2.BZ2File(f, mode='rb')),
    (b'\xfd7zXZ\x00', lambda f: lzma.LZMAFile(f, mode='rb')),
)


class InvalidArchive(exception.InvalidRequest):
    """An archive the engine must not load."""


class _ChunkFile(io.RawIOBase):
    """An iterator of byte chunks as a readable raw file."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._rest = memoryview(b'')

    def readable(self):
        return True

    def readinto(self, buffer):
        # Fills the buffer (short only at the end), so a peek sees the
        # first bytes however the chunks are cut.
        filled = 0
        while filled < len(buffer):
            if not self._rest:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._rest = memoryview(chunk)
            size = min(len(buffer) - filled, len(self._rest))
            buffer[filled:filled + size] = self._rest[:size]
            self._rest = self._rest[size:]
            filled += size
        return filled


def _uncompressed(data):
    """``data`` as a file of the uncompressed archive.

    ``data`` is a file-like object or an iterable of byte chunks.
    """
    if hasattr(data, 'read'):
        read = data.read
        data = iter(lambda: read(_CHUNK), b'')
    raw = io.BufferedReader(_ChunkFile(data), _CHUNK)
    head = raw.peek(8)
    if head.startswith(b'\x28\xb5\x2f\xfd'):
        raise InvalidArchive('zstd-compressed archives are not supported: '
                             'give the archive uncompressed, or compressed '
                             'with gzip, bzip2 or xz')
    for magic, opener in _COMPRESSIONS:
        if head.startswith(magic):
            return _Decompressing(opener(raw))
    return raw


class _Decompressing:
    """A decompressing file whose errors say the archive is corrupt."""

    def __init__(self, fileobj):
        self._file = fileobj

    def read(self, size):
        try:
            return self._file.read(size)
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
            raise InvalidArchive('corrupt compressed archive: %s' % exc)


def _pax_records(data):
    """The ``key=value`` records of a pax extended header.

    Each record is ``<length> key=value\\n``.
    """
    records = {}
    pos = 0
    while pos < len(data):
        length, space, _ = data[pos:pos + 20].partition(b' ')
        record = data[pos:pos + int(length)] if length.isdigit() else b''
        key, sep, value = record[len(length) + 1:-1].partition(b'=')
        if not (space and sep and record.endswith(b'\n') and
                len(record) == int(length)):
            raise InvalidArchive('corrupt pax extended header')
        records[key.decode('utf-8', 'surrogateescape')] = value.decode(
            'utf-8', 'surrogateescape')
        pos += len(record)
    return records


def _string(data):
    """A NUL-terminated string of an extended header, as tar reads it."""
    return data.split(b'\0', 1)[0].decode('utf-8', 'surrogateescape')


def _check_size(info, size):
    """``size`` (a header's number, or a pax record's text) as a size."""
    text = str(size)
    if not (text.isascii() and text.isdigit()):
        raise InvalidArchive('archive member %r has a bad size %r'
                             % (info.name, size))
    return int(text)


def normalized(name):
    """Where a member lands below the directory it is extracted to.

    The name is resolved as the engine resolves it: ``./a``, ``/a`` and
    ``b/../a`` are all ``a``.
    """
    return posixpath.normpath('/' + name).lstrip('/')


class TarReader:
    """The members of a tar stream, one after the other.

    It holds no more than an extended header (bounded) at a time.
    """

    def __init__(self, fileobj):
        self._file = fileobj
        self._unread = 0

    def _read(self, size):
        data = self._file.read(size)
        if len(data) != size:
            raise InvalidArchive('the archive is truncated')
        return data

    def _skip(self, size):
        while size:
            size -= len(self._read(min(size, _CHUNK)))

    def _small(self, info, what):
        if info.size > MAX_SMALL_MEMBER:
            raise InvalidArchive('%s %r is %d bytes; at most %d are allowed'
                                 % (what, info.name, info.size,
                                    MAX_SMALL_MEMBER))
        data = self._read(info.size)
        self._skip(-info.size % _BLOCK)
        return data

    def next(self):
        """The next member's TarInfo, or None at the end of the archive.

        The TarInfo has the name, link name and size its extended headers give.
        Its data is read with :meth:`data` or :meth:`small_data`, or skipped by
        this call.
        """
        self._skip(self._unread)
        extended = {}
        while True:
            block = self._read(_BLOCK)
            if block == tarfile.NUL * _BLOCK:
                return None
            try:
                info = tarfile.TarInfo.frombuf(block, 'utf-8',
                                               'surrogateescape')
            except tarfile.HeaderError as exc:
                raise InvalidArchive('not a tar archive, or a corrupt one '
                                     '(%s)' % exc)
            _check_size(info, info.size)
            if info.type not in _EXTENSION_TYPES:
                break
            data = self._small(info, 'extended header')
            if info.type in _PAX_TYPES:
                records = _pax_records(data)
                if any(key.startswith('GNU.sparse.') for key in records):
                    raise InvalidArchive('archive member %r is a sparse '
                                         'file' % records.get('path'))
                # Only what is read below is kept, however many headers.
                extended.update((key, records[key]) for key in
                                ('path', 'linkpath', 'size')
                                if key in records)
            elif info.type == tarfile.GNUTYPE_LONGNAME:
                extended['path'] = _string(data)
            elif info.type == tarfile.GNUTYPE_LONGLINK:
                extended['linkpath'] = _string(data)
            # Global pax headers name nothing: the engine skips them too.
        if info.type == tarfile.GNUTYPE_SPARSE:
            raise InvalidArchive('archive member %r is a sparse file'
                                 % info.name)
        info.name = extended.get('path', info.name)
        info.linkname = extended.get('linkpath', info.linkname)
        if 'size' in extended:
            info.size = _check_size(info, extended['size'])
        if '\0' in info.name or '\0' in info.linkname:
            raise InvalidArchive('archive member %r has a NUL in its name'
                                 % info.name)
        # Links and directories have no data, whatever the header's size
        # says (other kinds than these and files are refused).
        if info.type not in _REGULAR:
            info.size = 0
        self._unread = info.size + (-info.size % _BLOCK)
        return info

    def data(self, info):
        """Iterate over the data of the member just read, in pieces."""
        left = info.size
        while left:
            piece = self._read(min(left, _CHUNK))
            left -= len(piece)
            yield piece
        self._skip(-info.size % _BLOCK)
        self._unread = 0

    def small_data(self, info, what):
        """The whole data of the member just read.

        It is at most MAX_SMALL_MEMBER bytes.
        """
        self._unread = 0
        return self._small(info, what)


def member_header(info, name, size):
    """A pax header of ours for ``info``'s kind of member.

    The member is named ``name`` and has ``size`` bytes of data.
    """
    out = tarfile.TarInfo(name)
    out.type = tarfile.REGTYPE if info.type in _REGULAR else info.type
    out.size = size
    out.mode = info.mode & 0o7777
    out.mtime = info.mtime
    out.linkname = info.linkname
    return out.tobuf(tarfile.PAX_FORMAT, 'utf-8', 'surrogateescape')


def _padding(size):
    return tarfile.NUL * (-size % _BLOCK)


def _json(name, data):
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidArchive('%s is not JSON: %s' % (name, exc))


def _one_image(name, items):
    if not isinstance(items, list) or not all(isinstance(item, dict)
                                              for item in items):
        raise InvalidArchive('%s does not list images' % name)
    if not items:
        raise InvalidArchive('the archive holds no image')
    if len(items) != 1:
        raise InvalidArchive('the archive holds %d images; exactly one is '
                             'needed' % len(items))
    return items[0]


def _kept(item, keys):
    return {key: item[key] for key in keys if key in item}


def _docker_manifest(data):
    """manifest.json with its one image's config and layers only."""
    image = _one_image(MANIFEST, _json(MANIFEST, data))
    return json.dumps([_kept(image, _MANIFEST_KEYS)]).encode()


def _oci_index(data):
    """index.json without annotations (the ref names), one manifest."""
    index = _json(INDEX, data)
    if not isinstance(index, dict):
        raise InvalidArchive('%s is not an image index' % INDEX)
    manifest = _one_image(INDEX, index.get('manifests'))
    return json.dumps(dict(_kept(index, _INDEX_KEYS), manifests=[
        _kept(manifest, _DESCRIPTOR_KEYS)])).encode()


_REWRITE = {MANIFEST: _docker_manifest, INDEX: _oci_index,
            LAYOUT: lambda data: data}
_FORMAT_FILES = {DOCKER_ARCHIVE: MANIFEST,
                 OCI_LAYOUT: '%s and %s' % (LAYOUT, INDEX)}


def _config_diff_ids(data):
    """The layer digests of an image config (bytes), or None if it is none."""
    if not data.lstrip().startswith(b'{'):
        return None
    try:
        found = json.loads(data).get('rootfs', {}).get('diff_ids')
    except (ValueError, RecursionError, AttributeError):
        return None
    if isinstance(found, list) and all(isinstance(d, str) for d in found):
        return found
    return None


class _Rewriter:

    def __init__(self, formats, absent_layers=()):
        self._formats = formats
        self._absent_layers = frozenset(absent_layers)
        # What the layers of manifest.json are checked against at the end:
        # the digest of every file, and the layers of every member that
        # is an image config (the config may come before manifest.json).
        self._digests = {}
        self._configs = {}
        self._config_layers = 0
        self._entry = None
        self._seen = set()
        # Links, symbolic or hard (a hard link to a symbolic link is one
        # too): the engine would write a member below one through it.
        self._links = set()
        self._members = 0

    def _check(self, info, name):
        self._members += 1
        if self._members > MAX_MEMBERS:
            raise InvalidArchive('the archive has more than %d members'
                                 % MAX_MEMBERS)
        if info.type not in _KEPT_TYPES:
            raise InvalidArchive('archive member %r is neither a file, a '
                                 'directory nor a link' % info.name)
        parent = posixpath.dirname(name)
        while parent:
            if parent in self._links:
                raise InvalidArchive('archive member %r lies below the link '
                                     '%r' % (info.name, parent))
            parent = posixpath.dirname(parent)
        if name in _REWRITE or name == REPOSITORIES:
            if info.type not in _REGULAR:
                raise InvalidArchive('archive member %r is not a regular '
                                     'file' % info.name)
            if name in self._seen:
                raise InvalidArchive('the archive holds %s twice' % name)
            self._seen.add(name)
        if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
            self._links.add(name)

    def _check_format(self):
        found = []
        if MANIFEST in self._seen:
            found.append(DOCKER_ARCHIVE)
        if {LAYOUT, INDEX} <= self._seen:
            found.append(OCI_LAYOUT)
        if not set(found) & set(self._formats):
            raise InvalidArchive(
                'not an image archive this engine loads: it reads %s (%s), '
                'the archive has %s' % (
                    ' or '.join(self._formats),
                    ' or '.join(_FORMAT_FILES[f] for f in self._formats),
                    ', '.join(sorted(self._seen & set(_REWRITE))) or
                    'none of them'))

    def _file_data(self, reader, info, name):
        """Yield a member's data, keeping its digest (and its layers).

        Layers are kept when the member is an image config.
        """
        digest = hashlib.sha256()
        small = bytearray() if info.size <= MAX_SMALL_MEMBER else None
        for piece in reader.data(info):
            digest.update(piece)
            if small is not None:
                small += piece
            yield piece
        self._digests[name] = 'sha256:' + digest.hexdigest()
        layers = _config_diff_ids(bytes(small)) if small else None
        if layers is not None:
            self._config_layers += len(layers)
            if self._config_layers > MAX_MEMBERS:
                raise InvalidArchive('the archive\'s configs list more than '
                                     '%d layers' % MAX_MEMBERS)
            self._configs[name] = layers

    def _check_layers(self):
        """Refuse layers that are not what the image's config says.

        The engine takes a layer it holds already without reading the
        archive's file for it: an archive could otherwise get another
        image's layer by naming its digest.
        """
        config = normalized(self._entry.get('Config') or '')
        diff_ids = self._configs.get(config)
        paths = self._entry.get('Layers')
        if diff_ids is None:
            raise InvalidArchive('%s names no image config of the archive'
                                 % MANIFEST)
        if not isinstance(paths, list) or len(paths) != len(diff_ids):
            raise InvalidArchive('%s lists other layers than the image\'s '
                                 'config' % MANIFEST)
        for index, (path, diff_id) in enumerate(zip(paths, diff_ids)):
            found = self._digests.get(normalized(str(path)))
            if found is None and diff_id in self._absent_layers:
                continue
            if found != diff_id:
                raise InvalidArchive(
                    'layer %d (%s) of the image is not in the archive: '
                    'member %r %s (layers are read uncompressed only)'
                    % (index, diff_id, path,
                       'is missing' if found is None
                       else 'has data of digest %s' % found))

    def rewrite(self, reader):
        while True:
            info = reader.next()
            if info is None:
                break
            name = normalized(info.name)
            if not name:
                continue  # the extraction directory itself
            self._check(info, name)
            if name == REPOSITORIES:
                continue
            if name in _REWRITE:
                data = _REWRITE[name](reader.small_data(info, name))
                if name == MANIFEST:
                    [self._entry] = json.loads(data)
                yield (member_header(info, name, len(data)) + data +
                       _padding(len(data)))
                continue
            yield member_header(info, name, info.size)
            yield from self._file_data(reader, info, name)
            if info.size % _BLOCK:
                yield _padding(info.size)
        self._check_format()
        if DOCKER_ARCHIVE in self._formats and OCI_LAYOUT not in \
                self._formats:
            self._check_layers()
        yield _END_OF_ARCHIVE


def without_names(data, formats=(DOCKER_ARCHIVE, OCI_LAYOUT),
                  absent_layers=()):
    """Yield image archive ``data`` as chunks of an uncompressed tar.

    ``data`` is a file-like object or an iterable of byte chunks; a tar, or one
    compressed with gzip, bzip2 or xz. The tar yielded names nothing.

    ``manifest.json`` keeps its one image's ``Config`` and ``Layers``,
    ``index.json`` its one manifest without annotations, ``repositories`` is
    dropped. Raises InvalidArchive, before the end of the archive is written,
    for an archive that is not one of ``formats``, holds several images, ends
    early, or hides members as the module says; a consumer that stops there has
    passed on no complete archive.

    Where the engine reads ``manifest.json`` only (``formats`` is the
    docker-archive alone), every layer it lists must be in the archive with
    the digest the image's config gives, but for the digests in
    ``absent_layers``, which may be left out (the caller knows the engine
    holds them and the image's owner may read them).
    """
    reader = TarReader(_uncompressed(data))
    yield from _Rewriter(formats, absent_layers).rewrite(reader)
