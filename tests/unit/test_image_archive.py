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

"""Nova-free image archive helpers."""

from nova_zun.runtime import image_archive


def test_chunk_reader_serves_any_read_size_and_counts():
    reader = image_archive.ChunkReader([b'abc', b'', b'defgh', b'ij'])
    assert reader.read(2) == b'ab'
    assert reader.read(4) == b'cdef'
    assert reader.read() == b'ghij'
    assert reader.read(10) == b''
    assert reader.count == 10
