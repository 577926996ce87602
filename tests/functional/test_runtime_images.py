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

"""Images: import, save/load, tag, remove, inspect, list, pull."""

import hashlib
import io
import json
import tarfile

import pytest

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import exception
from nova_zun.runtime import labels
from nova_zun.runtime import rootfs
from nova_zun.runtime import types
from nova_zun_workshop import images as test_images
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
    assert not runtime.image_exists(image_id)
    # Streamed in as chunks, as the Glance download gives them.
    pieces = [archive[i:i + 65536] for i in range(0, len(archive), 65536)]
    make_image.remove_later(image_id)
    assert runtime.load_image(iter(pieces)) == [image_id]
    assert runtime.inspect_image(image_id).command == COMMAND
    # The name the archive carries is not given.
    assert runtime.inspect_image(image_id).tags == ()
    assert not runtime.image_exists(reference)


def _with_members(archive, replace=None, add=()):
    """A copy of the tar ``archive`` with members replaced and added.

    Members' data is replaced as ``{name: bytes or None to drop}`` says, and
    ``(name, bytes)`` members are added.
    """
    replace = replace or {}
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, \
            tarfile.open(fileobj=out, mode='w') as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else b''
            if member.name in replace:
                data = replace[member.name]
                if data is None:
                    continue
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
        for name, data in add:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _member(archive, name):
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return tar.extractfile(name).read()


def _oci_index(names):
    """index.json and oci-layout of an OCI archive with one named manifest.

    Annotations name the one manifest ``names`` (the digest is not checked
    here).
    """
    index = {'schemaVersion': 2, 'manifests': [{
        'mediaType': 'application/vnd.oci.image.manifest.v1+json',
        'digest': 'sha256:' + '0' * 64, 'size': 1,
        'annotations': {'io.containerd.image.name': 'docker.io/' + names[0],
                        'org.opencontainers.image.ref.name': names[1]}}]}
    return [('oci-layout', b'{"imageLayoutVersion": "1.0.0"}'),
            ('index.json', json.dumps(index).encode())]


def test_names_inside_an_archive_never_reach_the_engine(runtime,
                                                        make_image):
    _, image_id = make_image(command=COMMAND)
    archive = b''.join(runtime.save_image(image_id))
    runtime.remove_image(image_id)
    victim, other = ('%s:%s' % (test_images.REPOSITORY, unique(tag))
                     for tag in ('victim', 'other'))
    manifest = json.loads(_member(archive, 'manifest.json'))
    manifest[0]['RepoTags'] = [victim, other]
    repository, tag = victim.rsplit(':', 1)
    # Docker's own archives since 25.0 hold an OCI index beside the
    # manifest.
    named = _with_members(
        archive, {'manifest.json': json.dumps(manifest).encode()},
        add=[('repositories', json.dumps({repository: {tag: 'x'}}).encode())]
        + _oci_index([victim, other]))
    make_image.remove_later(image_id)
    assert runtime.load_image(iter([named])) == [image_id]
    assert runtime.inspect_image(image_id).tags == ()
    assert not runtime.image_exists(victim)
    assert not runtime.image_exists(other)


def test_an_archive_of_several_images_is_refused(runtime, make_image):
    _, first = make_image(command=COMMAND)
    _, second = make_image(command=['/bin/true'])
    archive = b''.join(runtime.save_image(first))
    manifest = json.loads(_member(archive, 'manifest.json'))
    extra = dict(manifest[0], Config=second[len('sha256:'):] + '.json')
    config = b''.join(runtime.save_image(second))
    config = _member(config, extra['Config'])
    both = _with_members(
        archive, {'manifest.json': json.dumps(manifest + [extra]).encode()},
        add=[(extra['Config'], config)])
    with pytest.raises(exception.InvalidRequest, match='2 images'):
        runtime.load_image(iter([both]))


def _tar_of(files):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize('layer_data', [b'junk' * 512, None],
                         ids=['other data', 'left out'])
def test_an_archive_gets_no_layer_by_naming_its_digest(
        runtime, make_image, layer_data):
    # Another tenant's image, its one layer holding a secret.
    victim = runtime.import_rootfs(
        _tar_of({'secret': unique('secret').encode()}),
        make_image.reference())
    make_image.remove_later(victim)
    archive = b''.join(runtime.save_image(victim))
    [entry] = json.loads(_member(archive, 'manifest.json'))
    # An image of the attacker's own that names the victim's layer digest.
    config = json.loads(_member(archive, entry['Config']))
    config['author'] = 'attacker'
    config = json.dumps(config).encode()
    forged_id = 'sha256:' + hashlib.sha256(config).hexdigest()
    forged_entry = dict(entry, Config=forged_id[7:] + '.json')
    [layer] = entry['Layers']
    forged = _with_members(archive, {
        entry['Config']: None,
        'manifest.json': json.dumps([forged_entry]).encode(),
        layer: layer_data},
        add=[(forged_entry['Config'], config)])
    make_image.remove_later(forged_id)
    with pytest.raises(exception.InvalidRequest, match='layer'):
        runtime.load_image(iter([forged]))
    assert not runtime.image_exists(forged_id)


def test_an_oci_layout_without_a_docker_manifest_is_refused_clearly(
        runtime, make_image):
    _, image_id = make_image(command=COMMAND)
    archive = b''.join(runtime.save_image(image_id))
    oci_only = _with_members(archive, {'manifest.json': None},
                             add=_oci_index(['a/b:c', 'c']))
    with pytest.raises(exception.InvalidRequest, match='manifest.json'):
        runtime.load_image(iter([oci_only]))


def test_the_sandbox_image_is_never_one_found_by_name_or_label(
        runtime, instance_labels):
    """A look-alike of the sandbox image is not what a new runtime runs.

    An image anyone could have loaded with the sandbox image's old
    (predictable) name and label, even with the same root filesystem, is not
    what a runtime started afresh (a restarted service) runs.
    """
    with open('/bin/busybox', 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    impostor = runtime.import_rootfs(
        rootfs.busybox_rootfs('/bin/busybox', ('sh', 'sleep')),
        'nova-zun/sandbox:' + digest,
        command=['/bin/busybox', 'sh', '-c', 'echo impostor; sleep 1d'],
        labels={labels.IMAGE_KIND: labels.IMAGE_KIND_SANDBOX})
    sandbox = None
    try:
        fresh = docker_runtime.DockerRuntime(runtime.base_url)
        sandbox = fresh.create_sandbox(types.SandboxSpec(
            name=unique('rt-sandbox'), labels=instance_labels))
        used = runtime.status(sandbox.id).details['Image']
        assert used != impostor
        assert runtime.inspect_image(used).command == [
            '/bin/busybox', 'sleep', 'infinity']
    finally:
        if sandbox is not None:
            runtime.remove_sandbox(sandbox.id)
        runtime.remove_image(impostor, force=True)


def test_the_sandbox_image_removed_behind_the_runtimes_back_comes_back(
        runtime, instance_labels):
    def sandbox_image():
        sandbox = runtime.create_sandbox(types.SandboxSpec(
            name=unique('rt-sandbox'), labels=instance_labels))
        try:
            return runtime.status(sandbox.id).details['Image']
        finally:
            runtime.remove_sandbox(sandbox.id)

    image = sandbox_image()
    assert runtime.inspect_image(image).tags == ()
    runtime.remove_image(image)  # as an image prune would
    # The same content, so the same id, loaded again.
    assert sandbox_image() == image


def test_a_missing_sandbox_binary_is_a_configuration_error(
        runtime, instance_labels):
    broken = docker_runtime.DockerRuntime(
        runtime.base_url, sandbox_binary='/nonexistent/busybox')
    with pytest.raises(exception.ConfigurationError,
                       match='/nonexistent/busybox'):
        broken.create_sandbox(types.SandboxSpec(
            name=unique('rt-sandbox'), labels=instance_labels))


def test_load_image_of_something_that_is_no_image_archive_is_invalid(
        runtime):
    with pytest.raises(exception.InvalidRequest, match='not a tar archive'):
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
    with pytest.raises(exception.RegistryUnavailable) as info:
        runtime.pull_image(reference)
    assert '127.0.0.1:1' in info.value.message
    assert 'connection refused' in info.value.message
    assert not runtime.image_exists(reference)
