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

"""Narrow logic of nova_zun.images and the Docker backend's image reports,
without an engine or Nova's services."""

import datetime
from unittest import mock

import docker
from nova.compute import task_states
from nova import exception
from nova.image import glance
from nova import objects
from oslo_utils.fixture import uuidsentinel as uuids
from oslo_utils import timeutils
import pytest

from nova_zun import images
from nova_zun.runtime import base
from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime.docker import conversions
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import references
from nova_zun.runtime import types

objects.register_all()

IMAGE = '0e8f3a2c-1111-4c6a-9d8b-000000000001'
OTHER = '0e8f3a2c-2222-4c6a-9d8b-000000000002'


# -- small helpers -----------------------------------------------------------

def test_registry_reference_only_for_an_image_without_data():
    prop = 'zun_registry_reference'
    ref = 'registry.example:5000/app:1'
    assert images.registry_reference(
        {'size': 0, 'properties': {prop: ref}}, prop) == ref
    assert images.registry_reference(
        {'size': None, 'properties': {prop: ref}}, prop) == ref
    # Data wins: a snapshot of a registry-booted server keeps the property.
    assert images.registry_reference(
        {'size': 10, 'properties': {prop: ref}}, prop) is None
    assert images.registry_reference({'size': 0, 'properties': {}},
                                     prop) is None


def test_check_disk_refuses_an_image_larger_than_the_root_disk():
    images._check_disk(IMAGE, 1024 ** 3, 1)
    images._check_disk(IMAGE, 5 * 1024 ** 3, 0)  # no root disk: no limit
    with pytest.raises(exception.FlavorDiskSmallerThanImage) as caught:
        images._check_disk(IMAGE, 1024 ** 3 + 1, 1)
    assert 'image is 1073741825 bytes' in caught.value.format_message()


@pytest.mark.parametrize('exc, words', [
    (exception.ImageNotFound(image_id=IMAGE), 'not in Glance (deleted?)'),
    (exception.GlanceConnectionFailed(server='g:9292', reason='refused'),
     'Glance is unreachable'),
])
def test_glance_errors_become_clear_faults(exc, words):
    fault = images._glance_fault(IMAGE, exc)
    assert isinstance(fault, exception.ImageUnacceptable)
    assert words in fault.format_message()


def test_other_errors_are_not_dressed_up():
    assert images._glance_fault(IMAGE, ValueError('x')) is None


# -- ensure_image ------------------------------------------------------------

def _image_meta(image_id=IMAGE, container_format='docker'):
    return objects.ImageMeta.from_dict({
        'id': image_id, 'container_format': container_format,
        'disk_format': 'raw', 'properties': {}})


def _runtime():
    return mock.create_autospec(base.ContainerRuntime, instance=True)


def _image_api():
    return mock.create_autospec(glance.API, instance=True)


def _image_info(size_bytes):
    return types.ImageInfo(id='sha256:abc', tags=(), size_bytes=size_bytes,
                           labels={})


def test_a_cached_image_is_marked_used_and_not_fetched():
    runtime = _runtime()
    runtime.image_exists.return_value = True
    image_api = _image_api()
    assert images.ensure_image(None, runtime, image_api,
                               _image_meta()) == images.reference(IMAGE)
    image_api.get.assert_not_called()
    image_api.download.assert_not_called()
    runtime.tag_image.assert_called_once_with(
        images.reference(IMAGE), 'glance/' + IMAGE, 'latest')


def test_a_registry_image_is_pulled_with_the_credentials():
    runtime = _runtime()
    runtime.image_exists.return_value = False
    runtime.pull_image_report.return_value = types.ImageTransfer(
        references=('sha256:abc',), layers_stored=1, bytes_stored=7)
    runtime.inspect_image.return_value = _image_info(100)
    image_api = _image_api()
    image_api.get.return_value = {
        'size': 0, 'properties': {'ref_prop': 'reg:5000/a:1'}}
    auth = {'username': 'u', 'password': 'p'}
    images.ensure_image(None, runtime, image_api, _image_meta(),
                        disk_gb=1, registry_property='ref_prop',
                        registry_auth=auth, registry_auth_hosts=['reg:5000'])
    runtime.pull_image_report.assert_called_once_with('reg:5000/a:1',
                                                      auth=auth)
    image_api.download.assert_not_called()
    # Named by the id the pull gave, not by the registry's name.
    runtime.tag_image.assert_called_once_with('sha256:abc',
                                              'glance/' + IMAGE, 'latest')
    # The registry's name goes; only the Glance name stays.
    runtime.remove_image.assert_called_once_with('reg:5000/a:1')


def _pulling_runtime():
    runtime = _runtime()
    runtime.image_exists.return_value = False
    runtime.pull_image_report.return_value = types.ImageTransfer(
        references=('sha256:abc',))
    return runtime


def _registry_glance(ref):
    image_api = _image_api()
    image_api.get.return_value = {'size': 0, 'properties': {'p': ref}}
    return image_api


def test_the_registry_name_goes_even_when_naming_fails():
    runtime = _pulling_runtime()
    runtime.tag_image.side_effect = runtime_exc.ContainerRuntimeError('no')
    with pytest.raises(runtime_exc.ContainerRuntimeError):
        images.ensure_image(None, runtime, _registry_glance('reg/a:1'),
                            _image_meta(), registry_property='p')
    runtime.remove_image.assert_called_once_with('reg/a:1')


@pytest.mark.parametrize('ref', [
    'glance/%s:latest' % OTHER, 'glance/%s' % OTHER,
    'docker.io/glance/%s:latest' % OTHER, 'index.docker.io/glance/x@sha256:'
    + '0' * 64, 'nova-zun/sandbox:0123456789abcdef', 'nova-zun/anything',
])
def test_a_reference_the_engine_would_name_like_its_own_is_refused(ref):
    runtime = _pulling_runtime()
    with pytest.raises(exception.ImageUnacceptable) as caught:
        images.ensure_image(None, runtime, _registry_glance(ref),
                            _image_meta(), registry_property='p')
    assert 'names a repository reserved for this host (glance/, ' \
        'nova-zun/)' in caught.value.format_message()
    runtime.pull_image_report.assert_not_called()


@pytest.mark.parametrize('ref', [
    'glance:latest', 'library/glance', 'reg:5000/glance/x:1',
    'registry.example/nova-zun/x', 'team/glance', 'nova-zun-test/x',
])
def test_references_elsewhere_are_pulled(ref):
    runtime = _pulling_runtime()
    runtime.inspect_image.return_value = _image_info(1)
    images.ensure_image(None, runtime, _registry_glance(ref), _image_meta(),
                        registry_property='p')
    runtime.pull_image_report.assert_called_once_with(ref, auth=None)


@pytest.mark.parametrize('ref, registry', [
    ('reg.example/a:1', 'reg.example'),
    ('reg:5000/team/a:1', 'reg:5000'),
    ('localhost/a', 'localhost'),
    ('team/app:1', 'docker.io'),
    ('busybox', 'docker.io'),
])
def test_registry_of_a_reference(ref, registry):
    assert references.registry_of(ref) == registry


@pytest.mark.parametrize('ref, whole', [
    ('busybox', 'busybox:latest'),
    ('team/app:1.2', 'team/app:1.2'),
    ('reg:5000/team/app', 'reg:5000/team/app:latest'),
    ('app@sha256:' + '0' * 64, 'app@sha256:' + '0' * 64),
    ('Upper/app', None), ('app:', None), ('a b', None), ('/app', None),
])
def test_a_reference_gets_the_latest_tag_unless_it_names_one(ref, whole):
    assert references.normalized(ref) == whole


def _puller(auth=None, auth_hosts=(), allowed=()):
    return images.RegistryPuller(_runtime(), 'p', auth, auth_hosts, allowed)


def test_credentials_go_only_to_the_listed_registries():
    auth = {'username': 'u', 'password': 'p'}
    listed = _puller(auth, ['reg:5000'])
    assert listed.credentials(IMAGE, 'reg:5000/a') == auth
    assert listed.credentials(IMAGE, 'evil.example/a') is None
    assert _puller(auth).credentials(IMAGE, 'reg:5000/a') is None


def test_a_registry_not_allowed_is_refused():
    puller = _puller(allowed=['reg:5000'])
    with pytest.raises(exception.ImageUnacceptable) as caught:
        puller.credentials(IMAGE, 'evil.example/a')
    assert 'registry evil.example is not in [zun] allowed_registries' in \
        caught.value.format_message()
    assert puller.credentials(IMAGE, 'reg:5000/a') is None


def test_an_image_too_large_once_unpacked_is_removed_again():
    runtime = _runtime()
    runtime.image_exists.return_value = False
    runtime.pull_image_report.return_value = types.ImageTransfer(
        references=('sha256:abc',))
    runtime.inspect_image.return_value = _image_info(3 * 1024 ** 3)
    image_api = _image_api()
    image_api.get.return_value = {'size': 0,
                                  'properties': {'p': 'reg/a:1'}}
    with pytest.raises(exception.FlavorDiskSmallerThanImage):
        images.ensure_image(None, runtime, image_api, _image_meta(),
                            disk_gb=1, registry_property='p')
    runtime.remove_image.assert_called_with(images.reference(IMAGE))


@pytest.mark.parametrize('error, said', [
    (runtime_exc.NotFound, 'the registry has no such image: why'),
    (runtime_exc.PermissionDenied, 'the registry refused access: why'),
    (runtime_exc.RegistryUnavailable, 'the registry is unreachable: why'),
    (runtime_exc.ContainerRuntimeError, 'why'),
])
def test_a_failed_pull_says_which_reference_and_what_happened(error, said):
    runtime = _pulling_runtime()
    runtime.pull_image_report.side_effect = error('pull failed',
                                                  reason='why')
    with pytest.raises(exception.ImageUnacceptable) as caught:
        images.ensure_image(None, runtime, _registry_glance('reg/a:1'),
                            _image_meta(), registry_property='p')
    assert caught.value.format_message().endswith(
        'registry image reg/a:1 could not be pulled: ' + said)
    runtime.tag_image.assert_not_called()


def test_an_unavailable_engine_is_not_dressed_up_as_an_image_fault():
    runtime = _pulling_runtime()
    runtime.pull_image_report.side_effect = runtime_exc.EngineUnavailable(
        'engine gone')
    with pytest.raises(runtime_exc.EngineUnavailable):
        images.ensure_image(None, runtime, _registry_glance('reg/a:1'),
                            _image_meta(), registry_property='p')


# -- snapshot ----------------------------------------------------------------

def _instance():
    return objects.Instance(uuid=uuids.instance, project_id='proj',
                            os_type=None)


# The callback Nova's compute manager hands to snapshot.
def _update_task_state(task_state, expected_state=None):
    pass


def _task_state_callback(**kwargs):
    return mock.create_autospec(_update_task_state, **kwargs)


def _snapshot_runtime(state=types.ContainerState.RUNNING):
    runtime = _runtime()
    runtime.status.return_value = types.ContainerStatus(
        id='c', name='nova-inst-1', state=state, labels={})
    runtime.commit.return_value = 'sha256:committed'
    runtime.save_image.return_value = iter([b'tar', b'data'])
    return runtime


def _glance():
    image_api = _image_api()
    image_api.get.return_value = {'name': 'snap'}
    return image_api


def test_snapshot_freezes_only_for_the_commit_and_uploads_the_archive():
    runtime = _snapshot_runtime()
    calls = []
    runtime.pause.side_effect = lambda c: calls.append('pause')
    runtime.commit.side_effect = lambda *a, **k: (calls.append('commit') or
                                                  'sha256:committed')
    runtime.unpause.side_effect = lambda c: calls.append('unpause')
    image_api = _image_api()
    image_api.get.return_value = {'name': 'snap'}
    uploaded = []
    image_api.update.side_effect = (
        lambda ctx, image_id, meta, data: uploaded.append((meta,
                                                           data.read())))
    update_task_state = _task_state_callback(
        side_effect=lambda **kw: calls.append(kw['task_state']))
    images.snapshot(None, runtime, image_api, 'nova-inst-1', _instance(),
                    IMAGE, update_task_state)
    assert calls == [task_states.IMAGE_PENDING_UPLOAD, 'pause', 'commit',
                     'unpause', task_states.IMAGE_UPLOADING]
    update_task_state.assert_called_with(
        task_state=task_states.IMAGE_UPLOADING,
        expected_state=task_states.IMAGE_PENDING_UPLOAD)
    # Committed unnamed; named by the snapshot's Glance id alone.
    runtime.commit.assert_called_once()
    assert runtime.commit.call_args.args == ('nova-inst-1',)
    runtime.tag_image.assert_called_once_with(
        'sha256:committed', 'glance/' + IMAGE, 'latest')
    runtime.save_image.assert_called_once_with('sha256:committed')
    meta, data = uploaded[0]
    assert data == b'tardata'
    assert meta['container_format'] == 'docker'
    assert meta['disk_format'] == 'raw'
    # Kept under the snapshot's Glance name: a boot here reuses it.
    runtime.remove_image.assert_not_called()


def test_snapshot_unpauses_when_the_commit_fails():
    runtime = _snapshot_runtime()
    runtime.commit.side_effect = runtime_exc.ContainerRuntimeError('no')
    image_api = _image_api()
    with pytest.raises(runtime_exc.ContainerRuntimeError):
        images.snapshot(None, runtime, image_api, 'c', _instance(), IMAGE,
                        _task_state_callback())
    runtime.unpause.assert_called_once_with('c')
    image_api.update.assert_not_called()


def test_snapshot_removes_the_committed_image_when_the_upload_fails():
    runtime = _snapshot_runtime()
    image_api = _glance()
    image_api.update.side_effect = exception.GlanceConnectionFailed(
        server='g', reason='refused')
    with pytest.raises(exception.ImageUnacceptable):
        images.snapshot(None, runtime, image_api, 'c', _instance(), IMAGE,
                        _task_state_callback())
    runtime.unpause.assert_called_once_with('c')
    runtime.remove_image.assert_called_once_with('sha256:committed',
                                                 force=True)


def test_snapshot_of_a_stopped_container_does_not_pause():
    runtime = _snapshot_runtime(types.ContainerState.EXITED)
    images.snapshot(None, runtime, _glance(), 'c', _instance(), IMAGE,
                    _task_state_callback())
    runtime.pause.assert_not_called()
    runtime.unpause.assert_not_called()
    runtime.commit.assert_called_once()


def test_snapshot_pause_can_be_switched_off():
    runtime = _snapshot_runtime()
    images.snapshot(None, runtime, _glance(), 'c', _instance(), IMAGE,
                    _task_state_callback(), pause=False)
    runtime.pause.assert_not_called()


# -- image cache -------------------------------------------------------------

class _FakeRuntime:
    """Glance images with last-tagged times; tag_image marks one now."""

    def __init__(self, now, ages, in_use_by_container=()):
        self.now = now
        self.tagged = {image_id: now - datetime.timedelta(seconds=age)
                       for image_id, age in ages.items()}
        self.busy = set(in_use_by_container)
        self.removed = []

    def list_images(self, labels=None):
        return [types.ImageInfo(id='sha256:' + i, tags=(images.reference(i),),
                                size_bytes=1, labels={})
                for i in self.tagged]

    def inspect_image(self, ref):
        image_id = ref.split('/')[1].split(':')[0]
        return types.ImageInfo(
            id='sha256:' + image_id, tags=(ref,), size_bytes=1, labels={},
            last_tagged=self.tagged[image_id].strftime(
                '%Y-%m-%dT%H:%M:%S.%fZ'))

    def tag_image(self, image, repository, tag):
        self.tagged[repository.split('/')[1]] = self.now

    def remove_image(self, ref, force=False):
        image_id = ref.split('/')[1].split(':')[0]
        if image_id in self.busy:
            raise runtime_exc.Conflict('in use by a container')
        del self.tagged[image_id]
        self.removed.append(image_id)


def _instances(*image_refs):
    return [objects.Instance(uuid=getattr(uuids, 'u%d' % n), image_ref=ref,
                             kernel_id=None, ramdisk_id=None,
                             task_state=None, vm_state='active',
                             host='compute1')
            for n, ref in enumerate(image_refs)]


@pytest.fixture
def cache():
    """The time the image cache's clock says it is."""
    with mock.patch('nova.objects.BlockDeviceMappingList.'
                    'bdms_by_instance_uuid', autospec=True, return_value={}):
        yield timeutils.utcnow(with_timezone=True)


def test_cache_removes_only_images_unused_for_the_age(cache):
    runtime = _FakeRuntime(cache, {IMAGE: 7200, OTHER: 7200,
                                   'young': 60})
    manager = images.ImageCache(runtime, clock=lambda: cache)
    removed = manager.update(None, _instances(IMAGE), 3600)
    assert removed == [OTHER]
    # The used image's clock starts again; the young one keeps its age.
    assert runtime.tagged[IMAGE] == cache
    assert (cache - runtime.tagged['young']).total_seconds() == 60


def test_cache_keeps_images_a_container_uses_and_every_image_if_told(cache):
    runtime = _FakeRuntime(cache, {IMAGE: 7200, OTHER: 7200},
                           in_use_by_container=[OTHER])
    manager = images.ImageCache(runtime, clock=lambda: cache)
    assert manager.update(None, [], 3600,
                          containers_images={images.reference(IMAGE)}) == []
    # A container Nova did not list still holds OTHER: the engine refuses.
    assert set(runtime.tagged) == {IMAGE, OTHER}
    manager.remove_unused_base_images = False
    runtime.busy = set()
    assert manager.update(None, [], 0) == []


# -- the Docker backend's reports --------------------------------------------

def _backend(api):
    backend = docker_runtime.DockerRuntime('unix:///nonexistent')
    backend._client = api
    return backend


def test_load_report_counts_layers_stored_and_already_present():
    api = mock.create_autospec(docker.APIClient, instance=True)
    api.load_image.return_value = iter([
        {'status': 'Loading layer', 'id': 'aaa',
         'progressDetail': {'current': 10, 'total': 500}},
        {'status': 'Loading layer', 'id': 'aaa',
         'progressDetail': {'current': 500, 'total': 500}},
        {'stream': 'Loaded image ID: sha256:abc\n'},
    ])
    api.inspect_image.return_value = {
        'RootFS': {'Layers': ['sha256:l1', 'sha256:l2', 'sha256:l3']}}
    report = _backend(api).load_image_report(iter([b'x']))
    assert report == types.ImageTransfer(
        references=('sha256:abc',), layers_stored=1, layers_present=2,
        bytes_stored=500)
    assert api.load_image.call_args.kwargs == {'quiet': False}


def test_pull_report_counts_new_and_present_layers():
    api = mock.create_autospec(docker.APIClient, instance=True)
    api.pull.return_value = iter([
        {'status': 'Already exists', 'id': 'l1'},
        {'status': 'Downloading', 'id': 'l2',
         'progressDetail': {'current': 5, 'total': 80}},
        {'status': 'Pull complete', 'id': 'l2'},
        {'status': 'Digest: sha256:d'},
    ])
    api.inspect_image.return_value = {'Id': 'sha256:img'}
    report = _backend(api).pull_image_report('reg:5000/a:1',
                                             auth={'username': 'u',
                                                   'password': 'p'})
    assert report == types.ImageTransfer(
        references=('sha256:img',), layers_stored=1, layers_present=1,
        bytes_stored=80)
    assert api.pull.call_args.args == ('reg:5000/a',)
    assert api.pull.call_args.kwargs['tag'] == '1'


def test_push_failure_is_a_runtime_error():
    api = mock.create_autospec(docker.APIClient, instance=True)
    api.push.return_value = iter([{'error': 'denied: requested access'}])
    with pytest.raises(runtime_exc.ContainerRuntimeError) as caught:
        _backend(api).push_image('reg:5000/a:1')
    assert 'denied' in caught.value.message


def test_last_tagged_ignores_the_zero_time():
    assert conversions.last_tagged(
        {'Metadata': {'LastTagTime': '0001-01-01T00:00:00Z'}}) is None
    assert conversions.last_tagged(
        {'Metadata': {'LastTagTime': '2026-01-02T03:04:05.1Z'}}) == \
        '2026-01-02T03:04:05.1Z'
