"""Nova-free image archive helpers."""

from nova_zun.runtime import image_archive


def test_chunk_reader_serves_any_read_size_and_counts():
    reader = image_archive.ChunkReader([b'abc', b'', b'defgh', b'ij'])
    assert reader.read(2) == b'ab'
    assert reader.read(4) == b'cdef'
    assert reader.read() == b'ghij'
    assert reader.read(10) == b''
    assert reader.count == 10
