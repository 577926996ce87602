"""Images: import, save/load, tag, remove, inspect, list, pull."""

import pytest

from nova_zun.runtime import exception
from nova_zun.runtime import labels
from nova_zun.testing import images as test_images
from tests.functional.runtime_support import instance_labels  # noqa: F401
from tests.functional.runtime_support import make_container  # noqa: F401
from tests.functional.runtime_support import make_image  # noqa: F401
from tests.functional.runtime_support import unique

COMMAND = ['/bin/sh', '-c', 'echo from the image']
ABSENT = 'nova-zun-test/no-such-image:none'


def test_import_rootfs_makes_an_image_with_its_command_and_labels(
        runtime, make_image, make_container):
    reference, image_id = make_image(command=COMMAND,
                                     labels={'test.kind': 'imported'})
    info = runtime.inspect_image(reference)
    assert info.id == image_id
    assert info.tags == (reference,)
    assert info.command == COMMAND
    assert info.labels['test.kind'] == 'imported'
    assert info.size_bytes > 0 and info.created
    container = make_container(image=reference, start=False)
    assert runtime.status(container).image == reference


def test_save_image_then_load_image_round_trips(runtime, make_image):
    reference, image_id = make_image(command=COMMAND)
    archive = b''.join(runtime.save_image(reference))
    runtime.remove_image(reference)
    assert not runtime.image_exists(reference)
    # Streamed in as chunks, as the Glance download gives them.
    pieces = [archive[i:i + 65536] for i in range(0, len(archive), 65536)]
    assert runtime.load_image(iter(pieces)) == [reference]
    assert runtime.inspect_image(reference).id == image_id
    assert runtime.inspect_image(reference).command == COMMAND


def test_load_image_of_something_that_is_no_image_archive_is_invalid(
        runtime):
    with pytest.raises(exception.InvalidRequest, match='image archive'):
        runtime.load_image(iter([b'not an image archive' * 100]))


def test_import_rootfs_of_something_that_is_no_tar_is_invalid(runtime):
    reference = '%s:%s' % (test_images.REPOSITORY, unique('bad'))
    with pytest.raises(exception.InvalidRequest, match='tar'):
        runtime.import_rootfs(b'not a tar' * 100, reference)
    assert not runtime.image_exists(reference)


def test_tag_image_adds_a_reference_and_removing_it_keeps_the_image(
        runtime, make_image):
    reference, image_id = make_image()
    other = '%s:%s' % (test_images.REPOSITORY, unique('tag'))
    runtime.tag_image(reference, *other.rsplit(':', 1))
    assert set(runtime.inspect_image(image_id).tags) == {reference, other}
    runtime.remove_image(other)
    assert not runtime.image_exists(other)
    assert runtime.inspect_image(image_id).tags == (reference,)


def test_removing_an_image_a_container_uses_is_a_conflict(
        runtime, make_image, make_container):
    _, image_id = make_image(command=COMMAND)
    make_container(image=image_id, start=False)
    with pytest.raises(exception.Conflict):
        runtime.remove_image(image_id)
    assert runtime.image_exists(image_id)


def test_list_images_selects_by_label(runtime, make_image):
    kind = unique('kind')
    _, first = make_image(labels={'test.kind': kind, 'test.n': '1'})
    _, second = make_image(labels={'test.kind': kind, 'test.n': '2'})
    assert {i.id for i in runtime.list_images({'test.kind': kind})} == {
        first, second}
    [listed] = runtime.list_images({'test.kind': kind, 'test.n': '2'})
    assert listed.id == second and listed.labels['test.n'] == '2'
    assert listed.created.endswith('Z')
    assert all(i.labels.get(labels.IMAGE_KIND) == test_images.IMAGE_KIND_TEST
               for i in runtime.list_images(
                   {labels.IMAGE_KIND: test_images.IMAGE_KIND_TEST}))


@pytest.mark.parametrize('call', [
    lambda rt: rt.inspect_image(ABSENT),
    lambda rt: rt.remove_image(ABSENT),
    lambda rt: rt.save_image(ABSENT),
    lambda rt: rt.tag_image(ABSENT, 'nova-zun-test/x', 'y'),
], ids=['inspect', 'remove', 'save', 'tag'])
def test_an_unknown_image_is_not_found(runtime, call):
    with pytest.raises(exception.NotFound):
        call(runtime)


def test_image_exists_tells_present_from_absent(runtime, test_image_refs):
    assert runtime.image_exists(test_image_refs['sleeper'])
    assert not runtime.image_exists(ABSENT)


def test_an_invalid_reference_is_an_invalid_request(runtime):
    with pytest.raises(exception.InvalidRequest):
        runtime.inspect_image('Not::A/Valid Reference')


def test_pull_from_an_unreachable_registry_fails_clearly(runtime):
    # Nothing listens on port 1 of loopback: no internet, no waiting.
    reference = '127.0.0.1:1/nova-zun-test/x:y'
    with pytest.raises(exception.ContainerRuntimeError) as info:
        runtime.pull_image(reference)
    assert '127.0.0.1:1' in info.value.message
    assert 'connection refused' in info.value.message
    assert not runtime.image_exists(reference)
