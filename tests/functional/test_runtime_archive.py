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

"""Archive copy in and out of containers, and commit.

The container's filesystem is read back through archives, not exec, so
the checks see exactly what the engine extracted.
"""

import io
import tarfile

import pytest

from nova_zun.runtime import exception
from tests.functional.runtime_support import instance_labels  # noqa: F401
from tests.functional.runtime_support import make_container  # noqa: F401
from tests.functional.runtime_support import make_image  # noqa: F401

TARGET = '/tmp/target'


def _tar(members):
    """A tar of ``{name: content}``.

    Content None is a directory, a ``('sym', target)`` tuple a symlink.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.fixture
def container(runtime, make_container):
    container = make_container()
    runtime.put_archive(container, '/tmp', _tar({'target': None}))
    return container


def _members(runtime, container, path):
    chunks, _ = runtime.get_archive(container, path)
    return tarfile.open(fileobj=io.BytesIO(b''.join(chunks)))


def _read(runtime, container, path):
    with _members(runtime, container, path) as tar:
        return tar.extractfile(tar.getmembers()[0]).read()


def _markers(runtime, container):
    """Names of 'marker' files where an escaping archive could put them."""
    found = []
    for directory in ('/tmp', '/etc'):
        with _members(runtime, container, directory) as tar:
            found += [n for n in tar.getnames() if 'marker' in n]
    for path in ('/marker-p', '/marker-absolute'):
        try:
            runtime.get_archive(container, path)
            found.append(path)
        except exception.NotFound:
            pass
    return found


def test_put_archive_then_get_archive_round_trips(runtime, container):
    runtime.put_archive(container, TARGET, _tar({
        'hello.txt': b'hello archive\n', 'sub': None,
        'sub/deep.txt': b'deep\n'}))
    assert _read(runtime, container, TARGET + '/sub/deep.txt') == b'deep\n'
    chunks, stat = runtime.get_archive(container, TARGET + '/hello.txt')
    assert (stat['name'], stat['size']) == ('hello.txt', 14)
    with tarfile.open(fileobj=io.BytesIO(b''.join(chunks))) as tar:
        assert tar.extractfile('hello.txt').read() == b'hello archive\n'


def test_get_archive_of_a_directory_holds_its_tree(runtime, container):
    runtime.put_archive(container, TARGET, _tar({'a': None, 'a/b': b'b'}))
    chunks, stat = runtime.get_archive(container, TARGET)
    with tarfile.open(fileobj=io.BytesIO(b''.join(chunks))) as tar:
        assert set(tar.getnames()) == {'target', 'target/a', 'target/a/b'}


@pytest.mark.parametrize('path', ['tmp/target', '/tmp/target/../../etc',
                                  '/..', ''])
def test_put_archive_refuses_a_path_that_escapes(runtime, container, path):
    with pytest.raises(exception.InvalidRequest):
        runtime.put_archive(container, path, _tar({'marker-p': b'x'}))
    assert _markers(runtime, container) == []


@pytest.mark.parametrize('bad_member', [
    {'../marker-dotdot': b'x'},
    {'/marker-absolute': b'x'},
    {'marker-link-abs': ('sym', '/etc')},
    {'marker-link-up': ('sym', '../../etc')},
], ids=['dotdot', 'absolute', 'symlink-absolute', 'symlink-up'])
def test_put_archive_refuses_members_that_escape_and_writes_nothing(
        runtime, container, bad_member):
    # A harmless member first: the archive is refused whole, not in part.
    archive = _tar(dict({'marker-harmless': b'x'}, **bad_member))
    with pytest.raises(exception.InvalidRequest, match='not allowed'):
        runtime.put_archive(container, TARGET, archive)
    assert _markers(runtime, container) == []


def test_get_archive_of_a_missing_path_is_not_found(runtime, container):
    with pytest.raises(exception.NotFound):
        runtime.get_archive(container, '/no/such/path')


def test_put_archive_into_a_missing_directory_is_not_found(runtime,
                                                           container):
    with pytest.raises(exception.NotFound):
        runtime.put_archive(container, '/no/such/dir', _tar({'f': b'x'}))


def test_commit_makes_an_image_of_the_containers_filesystem(
        runtime, make_image, container, make_container):
    runtime.put_archive(container, TARGET, _tar({'kept.txt': b'kept\n'}))
    image_id = runtime.commit(container, message='functional test',
                              author='nova-zun')
    make_image.remove_later(image_id)
    # Unnamed: the caller names it, or runs it by id.
    assert runtime.inspect_image(image_id).tags == ()
    copy = make_container(image=image_id, start=False)
    assert _read(runtime, copy, TARGET + '/kept.txt') == b'kept\n'
