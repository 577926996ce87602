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

"""The image archive stream that reaches the engine with no name in it."""

import bz2
import gzip
import hashlib
import io
import json
import lzma
import tarfile

import pytest

from nova_zun.runtime import archive_stream

CONFIG = b'{"rootfs": {"type": "layers", "diff_ids": ["sha256:1"]}}'
LAYER = bytes(range(256)) * 4099  # not a multiple of the block size
NAMES = ['glance/0e8f3a2c-1111-4c6a-9d8b-000000000001:latest',
         'nova-zun/sandbox:0123456789abcdef']


def _member(name, data=b'', kind=tarfile.REGTYPE, linkname=''):
    return name, data, kind, linkname


def _tar(members, fmt=tarfile.PAX_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=fmt) as tar:
        for name, data, kind, linkname in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = linkname
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _manifest(items=None):
    if items is None:
        items = [{'Config': 'c.json', 'RepoTags': NAMES,
                  'Layers': ['l/layer.tar'], 'Parent': 'sha256:other',
                  'LayerSources': {}}]
    return _member('manifest.json', json.dumps(items).encode())


def _docker_save(*extra, manifest=None):
    return _tar([_member('l', kind=tarfile.DIRTYPE),
                 _member('l/layer.tar', LAYER),
                 _member('c.json', CONFIG),
                 manifest or _manifest(),
                 _member('repositories', json.dumps(
                     {'glance/x': {'latest': 'l'}}).encode())] + list(extra))


def _index(annotations=True, manifests=1):
    descriptor = {'mediaType': 'application/vnd.oci.image.manifest.v1+json',
                  'digest': 'sha256:' + '1' * 64, 'size': 2,
                  'platform': {'architecture': 'amd64', 'os': 'linux'}}
    if annotations:
        descriptor['annotations'] = {
            'org.opencontainers.image.ref.name': 'latest',
            'io.containerd.image.name': 'docker.io/' + NAMES[0]}
        # Go's JSON decoder matches keys whatever their case.
        descriptor['Annotations'] = {'io.containerd.image.name': NAMES[1]}
    index = {'schemaVersion': 2, 'manifests': [descriptor] * manifests,
             'annotations': {'org.opencontainers.image.ref.name': 'x'}}
    return [_member('oci-layout', b'{"imageLayoutVersion": "1.0.0"}'),
            _member('index.json', json.dumps(index).encode())]


def _pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


def _rewritten(data, **kwargs):
    return b''.join(archive_stream.without_names(data, **kwargs))


def _read(archive):
    """``{name: (type, data)}`` of an archive, as the engine reads it."""
    members = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for info in tar:
            data = tar.extractfile(info).read() if info.isfile() else b''
            members[info.name] = (info.type, data)
    return members


def _refused(data, match, **kwargs):
    with pytest.raises(archive_stream.InvalidArchive, match=match):
        _rewritten(data, **kwargs)


def test_a_docker_save_archive_loses_every_name_and_nothing_else():
    members = _read(_rewritten(iter([_docker_save()])))
    assert set(members) == {'l', 'l/layer.tar', 'c.json', 'manifest.json'}
    assert json.loads(members['manifest.json'][1]) == [
        {'Config': 'c.json', 'Layers': ['l/layer.tar']}]
    assert members['l/layer.tar'] == (tarfile.REGTYPE, LAYER)
    assert members['c.json'] == (tarfile.REGTYPE, CONFIG)
    assert members['l'][0] == tarfile.DIRTYPE


@pytest.mark.parametrize('size', [1, 511, 512, 4097, 1 << 20])
def test_the_stream_is_cut_anywhere(size):
    archive = _docker_save()
    assert _rewritten(_pieces(archive, size)) == _rewritten([archive])


def test_a_file_like_object_is_read_as_well():
    archive = _docker_save()
    assert _rewritten(io.BytesIO(archive)) == _rewritten([archive])


def test_the_archive_streams_in_pieces_of_bounded_size():
    pieces = list(archive_stream.without_names([_docker_save()]))
    assert max(len(piece) for piece in pieces) <= 1024 * 1024
    assert all(pieces)


@pytest.mark.parametrize('compress', [gzip.compress, bz2.compress,
                                      lzma.compress])
def test_a_compressed_archive_comes_out_uncompressed(compress):
    archive = _docker_save()
    assert _rewritten(_pieces(compress(archive), 1000)) == _rewritten(
        [archive])


def test_a_zstd_archive_is_refused_clearly():
    _refused([b'\x28\xb5\x2f\xfd' + b'\0' * 600], 'zstd')


def test_an_oci_index_loses_its_annotations():
    members = _read(_rewritten([_docker_save(*_index())]))
    index = json.loads(members['index.json'][1])
    assert index == {'schemaVersion': 2, 'manifests': [{
        'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'digest': 'sha256:' + '1' * 64, 'size': 2,
        'platform': {'architecture': 'amd64', 'os': 'linux'}}]}
    assert members['oci-layout'][1] == b'{"imageLayoutVersion": "1.0.0"}'


def test_an_oci_layout_alone_is_refused_where_the_engine_reads_none():
    layout = _tar([_member('blobs', kind=tarfile.DIRTYPE)] + _index())
    _refused([layout], r'reads docker-archive \(manifest.json\), the '
                       r'archive has index.json',
             formats=(archive_stream.DOCKER_ARCHIVE,))
    members = _read(_rewritten([layout]))
    assert 'annotations' not in members['index.json'][1].decode()


def test_an_archive_of_several_images_is_refused():
    two = [{'Config': 'c.json', 'Layers': []}] * 2
    _refused([_docker_save(manifest=_manifest(two))], '2 images')
    _refused([_tar(_index(manifests=3))], '3 images')


def test_an_archive_of_no_image_is_refused():
    _refused([_docker_save(manifest=_manifest([]))], 'holds no image')
    _refused([_tar([_member('hello.txt', b'hello')])],
             'the archive has none of them')


@pytest.mark.parametrize('data, match', [
    (b'[{"Config": ', 'manifest.json is not JSON'),
    (b'[' * 100000 + b']' * 100000, 'manifest.json is not JSON'),
    (b'{"Config": "c.json"}', 'does not list images'),
])
def test_a_manifest_that_is_no_list_of_images_is_refused(data, match):
    _refused([_docker_save(manifest=_member('manifest.json', data))], match)


def _endless(head, sent):
    """``head``, then as many 64 KiB chunks as are read, counted."""
    yield head
    while True:
        sent.append(65536)
        yield b'[' * 65536


def test_a_huge_manifest_is_refused_before_it_is_read():
    header = tarfile.TarInfo('manifest.json')
    header.size = 10 * 1024 ** 3
    sent = []
    _refused(_endless(header.tobuf(tarfile.PAX_FORMAT), sent),
             'manifest.json.* is 10737418240 bytes; at most 1048576')
    # No more than the reader's buffer was read.
    assert sum(sent) <= 1024 * 1024 + 65536


def test_a_huge_extended_header_is_refused_before_it_is_read():
    header = tarfile.TarInfo('././@PaxHeader')
    header.type = tarfile.XHDTYPE
    header.size = 2 * 1024 ** 2
    _refused([header.tobuf(tarfile.USTAR_FORMAT)], 'extended header')


@pytest.mark.parametrize('cut', [
    lambda archive: archive[:len(archive) // 2],  # in a member's data
    lambda archive: archive[:1024 + 100],  # in a header
    # At a member's end, before the end-of-archive blocks.
    lambda archive: archive[:archive.rindex(b'repositories') - 257 + 1024],
])
def test_a_truncated_archive_is_refused_before_its_end_is_written(cut):
    written = []
    with pytest.raises(archive_stream.InvalidArchive, match='truncated'):
        for piece in archive_stream.without_names([cut(_docker_save())]):
            written.append(piece)
    assert written[-1:] != [b'\0' * 1024]


def test_garbage_is_refused():
    _refused([b'this is no tar archive' * 100], 'not a tar archive')


@pytest.mark.parametrize('members, match', [
    # The engine would read the second copy.
    ([_manifest(), _member('./manifest.json', b'[]')], 'twice'),
    ([_member('x/../manifest.json', b'[]')], 'twice'),
    # A link the engine would follow to a manifest of the tenant's.
    ([_member('manifest.json', kind=tarfile.SYMTYPE, linkname='c.json')],
     'not a regular file'),
    ([_member('repositories', kind=tarfile.LNKTYPE, linkname='c.json')],
     'not a regular file'),
    ([_member('d', kind=tarfile.SYMTYPE, linkname='.'),
      _member('d/manifest.json', b'[]')], "below the link 'd'"),
    ([_member('h', kind=tarfile.LNKTYPE, linkname='d'),
      _member('h/x/index.json', b'{}')], "below the link 'h'"),
    ([_member('dev', kind=tarfile.CHRTYPE)], 'neither a file'),
    ([_member('fifo', kind=tarfile.FIFOTYPE)], 'neither a file'),
])
def test_members_that_would_hide_from_the_rewriting_are_refused(
        members, match):
    archive = _tar([_member('c.json', CONFIG), _manifest()] + members)
    _refused([archive], match)


def test_names_are_those_of_extended_headers_and_written_again():
    long_dir = 'd' * 120
    archive = _tar([_member(long_dir, kind=tarfile.DIRTYPE),
                    _member(long_dir + '/layer.tar', LAYER),
                    _member('c.json', CONFIG), _manifest()],
                   fmt=tarfile.GNU_FORMAT)
    rewritten = _rewritten([archive])
    assert b'././@LongLink' not in rewritten
    members = _read(rewritten)
    assert members[long_dir + '/layer.tar'][1] == LAYER
    assert json.loads(members['manifest.json'][1])[0].keys() == {
        'Config', 'Layers'}


def test_a_pax_path_naming_the_manifest_is_rewritten():
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w',
                      format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(tarfile.TarInfo('c.json'), io.BytesIO(b''))
        data = json.dumps([{'Config': 'c.json', 'Layers': [],
                            'RepoTags': NAMES}]).encode()
        info = tarfile.TarInfo('innocent.txt')
        info.size = len(data)
        info.pax_headers = {'path': 'manifest.json'}
        tar.addfile(info, io.BytesIO(data))
    members = _read(_rewritten([out.getvalue()]))
    assert 'innocent.txt' not in members
    assert b'RepoTags' not in members['manifest.json'][1]


@pytest.mark.parametrize('size', [-1, -10 ** 9])
def test_a_negative_size_is_refused(size):
    # Base-256 sizes can be negative: a read of them would read all.
    for kind in (tarfile.REGTYPE, tarfile.XHDTYPE):
        header = bytearray(tarfile.TarInfo('x').tobuf(tarfile.GNU_FORMAT))
        header[124:136] = size.to_bytes(12, 'big', signed=True)
        header[156:157] = kind
        header[148:156] = b' ' * 8
        header[148:155] = b'%06o\0' % sum(header)
        _refused([bytes(header) + b'\0' * 4096], 'bad size')


def test_a_pax_size_that_is_no_number_is_refused():
    info = tarfile.TarInfo('x')
    info.pax_headers = {'size': '-5'}
    _refused([info.tobuf(tarfile.PAX_FORMAT) + b'\0' * 1024], 'bad size')


def test_a_cut_compressed_archive_is_refused():
    compressed = gzip.compress(_docker_save())
    _refused([compressed[:len(compressed) // 2]],
             'corrupt compressed archive: Compressed file ended')


def test_a_sparse_member_is_refused():
    info = tarfile.TarInfo('sparse')
    info.type = tarfile.GNUTYPE_SPARSE
    _refused([info.tobuf(tarfile.GNU_FORMAT) + b'\0' * 1024], 'sparse')
    info = tarfile.TarInfo('sparse')
    info.pax_headers = {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0'}
    _refused([info.tobuf(tarfile.PAX_FORMAT) + b'\0' * 1024], 'sparse')


def test_the_member_count_is_bounded(monkeypatch):
    monkeypatch.setattr(archive_stream, 'MAX_MEMBERS', 3)
    _refused([_docker_save()], 'more than 3 members')


def _image_of(layer):
    """A docker save archive whose config names ``layer``'s digest."""
    digest = 'sha256:' + hashlib.sha256(layer).hexdigest()
    config = json.dumps({'rootfs': {'type': 'layers',
                                    'diff_ids': [digest]}}).encode()
    return digest, [_member('c.json', config), _manifest()]


DOCKER_ONLY = {'formats': (archive_stream.DOCKER_ARCHIVE,)}


def test_the_layers_are_those_the_config_names():
    digest, image = _image_of(LAYER)
    _rewritten([_tar([_member('l/layer.tar', LAYER)] + image)],
               **DOCKER_ONLY)
    _refused([_tar([_member('l/layer.tar', b'other')] + image)],
             'layer 0 .* has data of digest', **DOCKER_ONLY)
    _refused([_tar(image)], 'layer 0 .* is missing', **DOCKER_ONLY)
    # Left out where the caller says the engine holds it.
    _rewritten([_tar(image)], absent_layers=[digest], **DOCKER_ONLY)


def test_a_manifest_naming_no_config_is_refused():
    _refused([_docker_save(manifest=_manifest([
        {'Config': 'l/layer.tar', 'Layers': ['l/layer.tar']}]))],
        'names no image config', **DOCKER_ONLY)
