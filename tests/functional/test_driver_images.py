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

"""Glance as the container image store, through the real Nova API on a
real engine: snapshots, shelve, the image cache and its ageing, image
faults."""

import dataclasses
import datetime
import hashlib
import io
import json
import tarfile
import threading
import time
from unittest import mock

from nova import exception
from oslo_utils import timeutils

from nova_zun import images
from nova_zun.runtime import rootfs
from nova_zun.runtime import types
from nova_zun_workshop import images as test_images

from tests.functional import base

RUNNING = types.ContainerState.RUNNING


class ImagesTestCase(base.ZunDriverTestCase):
    """Image tests, on a Glance fixture that keeps data uploaded by update.

    Glance's fixture forgets what is uploaded with an update; here it keeps
    it, as Glance does, so snapshots can be booted.
    """

    def setUp(self):
        super().setUp()
        real_update = self.glance.update

        def update(context, image_id, metadata, data=None,
                   purge_props=False):
            image = real_update(context, image_id, metadata,
                                purge_props=purge_props)
            if data is not None:
                blob = data.read()
                self.glance._imagedata[image_id] = blob
                image['size'] = len(blob)
            return image

        self.glance.update = update
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor()
        self.image = self.glance_image_from('sleeper')

    def sh(self, server, script):
        result = self.runtime.exec('nova-%s' % server['id'],
                                   ['/bin/sh', '-c', script], timeout=30)
        self.assertEqual(0, result.exit_code, result.output)
        return result.output.decode()

    def glance_names(self):
        return sorted(images.glance_images(self.runtime))

    def snapshot(self, server, name='zun-snapshot'):
        image_id = self.api.post_server_action(
            server['id'], {'createImage': {'name': name}})['image_id']
        self.addCleanup(self._delete_glance_image, image_id)
        self._wait_for_server_parameter(server,
                                        {'OS-EXT-STS:task_state': None})
        return image_id

    def _delete_glance_image(self, image_id):
        try:
            self.glance.delete(self.ctxt, image_id)
        except exception.ImageNotFound:
            pass

    def count_downloads(self):
        return mock.patch.object(self.glance, 'download',
                                 wraps=self.glance.download)


class TestSnapshots(ImagesTestCase):

    def test_a_snapshot_boots_with_the_changed_filesystem(self):
        server = self.boot(self.image, self.flavor)
        self.sh(server, 'echo changed by the test > /data.txt; rm /bin/wc')
        snapshot_id = self.snapshot(server)

        image = self.glance.show(self.ctxt, snapshot_id)
        self.assertEqual('active', image['status'])
        self.assertEqual('docker', image['container_format'])
        self.assertEqual('raw', image['disk_format'])
        self.assertGreater(image['size'], 1000)
        # The server ran again after the commit.
        self.assertEqual(RUNNING, self.workload(server).state)

        # On this host the committed image is the cache: nothing to fetch.
        with self.count_downloads() as download:
            local = self.boot(snapshot_id, self.flavor)
        self.assertEqual(0, download.call_count)
        self.assertEqual('changed by the test\n',
                         self.sh(local, 'cat /data.txt'))

        # As another host would: from Glance, storing only the new layer.
        self._delete_server(local)
        self.runtime.remove_image(images.reference(snapshot_id))
        with self.count_downloads() as download:
            fetched = self.boot(snapshot_id, self.flavor)
        self.assertEqual(1, download.call_count)
        self.assertEqual('changed by the test\n',
                         self.sh(fetched, 'cat /data.txt'))
        self.assertEqual('absent\n',
                         self.sh(fetched, 'test -e /bin/wc || echo absent'))
        logged = self.stdlog.logger.output
        self.assertIn('Image %s: downloaded %d bytes from Glance'
                      % (snapshot_id, image['size']), logged)
        self.assertRegex(
            logged, r'Image %s: .* in 1 new layers, 1 layers already '
                    r'present' % snapshot_id)

    def test_a_snapshot_unpauses_the_server_when_the_upload_fails(self):
        server = self.boot(self.image, self.flavor)
        paused = []

        def failing_update(*args, **kwargs):
            paused.append(self.workload(server).state)
            raise exception.GlanceConnectionFailed(
                server='glance.example', reason='connection refused')

        self.glance.update = failing_update
        driver_runtime = self.driver().runtime
        with mock.patch.object(driver_runtime, 'pause',
                               wraps=driver_runtime.pause) as pause:
            image_id = self.api.post_server_action(
                server['id'], {'createImage': {'name': 'x'}})['image_id']
            self.addCleanup(self._delete_glance_image, image_id)
            server = self._wait_for_server_parameter(
                server, {'OS-EXT-STS:task_state': None, 'status': 'ACTIVE'})
        self.assertEqual(1, pause.call_count)
        # Frozen only for the commit: running again during the upload.
        self.assertEqual([RUNNING], paused)
        self.assertEqual(RUNNING, self.workload(server).state)
        self.assertNotIn(image_id, self.glance_names())

    def test_shelve_offload_and_unshelve_keep_the_filesystem(self):
        server = self.boot(self.image, self.flavor)
        self.sh(server, 'mkdir -p /srv/app && echo kept > /srv/app/state')
        server = self._shelve_server(server, 'SHELVED_OFFLOADED')
        self.assertEqual([], self.pod_containers(server))
        # Unshelve from Glance, as on any other host.
        for image_id in self.glance_names():
            if image_id != self.image:
                self.runtime.remove_image(images.reference(image_id))
        with self.count_downloads() as download:
            server = self._unshelve_server(server)
        self.assertEqual(1, download.call_count)
        self.assertEqual(RUNNING, self.workload(server).state)
        self.assertEqual('kept\n', self.sh(server, 'cat /srv/app/state'))

    def test_shelve_of_a_stopped_server_and_unshelve(self):
        server = self.boot(self.image, self.flavor)
        self.sh(server, 'echo stopped > /state')
        server = self._stop_server(server)
        server = self._shelve_server(server, 'SHELVED_OFFLOADED')
        server = self._unshelve_server(server)
        self.assertEqual('stopped\n', self.sh(server, 'cat /state'))


class AdvancingClock:
    """The real time, plus what a test advanced it by.

    Images age without waiting, against the engine's real last-tagged times.
    """

    def __init__(self):
        self._ahead = datetime.timedelta()

    def __call__(self):
        return timeutils.utcnow(with_timezone=True) + self._ahead

    def advance(self, seconds):
        self._ahead += datetime.timedelta(seconds=seconds)


class TestImageCache(ImagesTestCase):

    def setUp(self):
        super().setUp()
        self.clock = AdvancingClock()
        driver = self.driver()
        driver._image_cache = images.ImageCache(driver.runtime,
                                                clock=self.clock)

    def test_two_boots_download_once(self):
        with self.count_downloads() as download:
            first = self.boot(self.image, self.flavor)
            second = self.boot(self.image, self.flavor)
        self.assertEqual(1, download.call_count)
        self.assertEqual(self.workload(first).image,
                         self.workload(second).image)
        self.assertIn('Image %s is cached in the engine: downloaded 0 bytes'
                      % self.image, self.stdlog.logger.output)

    def test_five_concurrent_boots_of_a_new_image_download_once(self):
        image = self.glance_image_from('printer')
        inflight = [0, 0]
        lock = threading.Lock()
        real_ensure = images.ensure_image

        def ensure(*args, **kwargs):
            with lock:
                inflight[0] += 1
                inflight[1] = max(inflight)
            try:
                return real_ensure(*args, **kwargs)
            finally:
                with lock:
                    inflight[0] -= 1

        real_download = self.glance.download

        def slow_download(*args, **kwargs):
            # Long enough for the other builds to reach the image.
            time.sleep(2)
            return real_download(*args, **kwargs)

        with mock.patch.object(self.glance, 'download', autospec=True,
                               side_effect=slow_download) as download, \
                mock.patch.object(images, 'ensure_image', autospec=True,
                                  side_effect=ensure):
            servers = [self.api.post_server({'server': {
                'name': 'zun-concurrent-%d' % i, 'imageRef': image,
                'flavorRef': self.flavor, 'networks': 'none'}})
                for i in range(5)]
            servers = [self._wait_for_state_change(s, 'ACTIVE',
                                                   max_retries=90)
                       for s in servers]
        self.assertEqual(1, download.call_count)
        self.assertGreater(inflight[1], 1, 'the builds did not overlap')
        self.assertEqual({images.reference(image)},
                         {self.workload(s).image for s in servers})

    def run_cache_pass(self):
        self.computes['compute1'].manager._run_image_cache_manager_pass(
            self.ctxt)

    def test_cache_ageing_removes_unused_images_and_keeps_used_ones(self):
        printer = self.glance_image_from('printer')
        used = self.boot(self.image, self.flavor)
        unused = self.boot(printer, self.flavor)
        self._delete_server(unused)
        self.assertEqual(sorted([self.image, printer]), self.glance_names())

        # Unused for less than the age: kept.
        self.flags(image_cache_unused_age=3600, group='zun')
        self.run_cache_pass()
        self.assertEqual(sorted([self.image, printer]), self.glance_names())

        # Operators may keep every image.
        self.flags(image_cache_unused_age=1, group='zun')
        self.clock.advance(1.5)
        self.driver()._image_cache.remove_unused_base_images = False
        self.run_cache_pass()
        self.assertEqual(sorted([self.image, printer]), self.glance_names())

        self.driver()._image_cache.remove_unused_base_images = True
        self.run_cache_pass()
        self.assertEqual([self.image], self.glance_names())
        self.assertIn('Removed image %s from the engine' % printer,
                      self.stdlog.logger.output)
        # The used image still runs and boots with no download.
        self.assertEqual(RUNNING, self.workload(used).state)
        with self.count_downloads() as download:
            self.boot(self.image, self.flavor)
        self.assertEqual(0, download.call_count)
        # An image unused now for long enough goes too.
        self._delete_server(used)
        for server in self.api.get_servers():
            self._delete_server(server)
        self.clock.advance(1.5)
        self.run_cache_pass()
        self.assertEqual([], self.glance_names())

    def test_an_image_used_by_a_container_nova_does_not_list_is_kept(self):
        server = self.boot(self.image, self.flavor)
        self.clock.advance(1.5)
        self.flags(image_cache_unused_age=1, group='zun')
        # Nova lists no instance (as for a build not yet recorded): the
        # container on the engine keeps the image.
        self.driver().manage_image_cache(self.ctxt, [])
        self.assertEqual([self.image], self.glance_names())
        self.assertEqual(RUNNING, self.workload(server).state)


class TestImageFaults(ImagesTestCase):

    def assertBuildFault(self, server, *reasons):
        server = self._wait_for_state_change(server, 'ERROR',
                                             max_retries=60)
        said = server['fault']['message']
        for reason in reasons:
            self.assertIn(reason, said)
        self.assertEqual([], self.pod_containers(server))
        self.assertEqual([], self.glance_names())
        return server

    def post(self, image_id, flavor=None):
        return self.api.post_server({'server': {
            'name': 'zun-fault', 'imageRef': image_id,
            'flavorRef': flavor or self.flavor, 'networks': 'none'}})

    def test_glance_unreachable(self):
        def unreachable(*args, **kwargs):
            raise exception.GlanceConnectionFailed(
                server='glance.example:9292', reason='connection refused')

        with mock.patch.object(self.driver()._image_api, 'get', autospec=True,
                               side_effect=unreachable):
            server = self.post(self.image)
            self.assertBuildFault(server, 'Glance is unreachable',
                                  'connection refused')

    def test_glance_unreachable_during_the_download(self):
        def cut(context, image_id, data=None, **kwargs):
            data.write(self.glance._imagedata[image_id][:4096])
            raise exception.GlanceConnectionFailed(
                server='glance.example:9292', reason='connection reset')

        with mock.patch.object(self.glance, 'download', autospec=True,
                               side_effect=cut):
            server = self.post(self.image)
            self.assertBuildFault(server, 'Glance is unreachable',
                                  'connection reset')

    def test_an_image_deleted_before_the_host_reads_it(self):
        real_get = self.driver()._image_api.get

        def deleted_first(context, image_id, **kwargs):
            self.glance.delete(context, image_id)
            return real_get(context, image_id, **kwargs)

        with mock.patch.object(self.driver()._image_api, 'get', autospec=True,
                               side_effect=deleted_first):
            server = self.post(self.image)
            self.assertBuildFault(server, 'not in Glance (deleted?)')

    def test_an_archive_with_no_image_inside(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode='w') as tar:
            manifest = json.dumps([]).encode()
            info = tarfile.TarInfo('manifest.json')
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
        image = self.glance_image_with(buf.getvalue())
        server = self.post(image)
        self.assertBuildFault(server, 'not a container image archive',
                              'holds no image')

    def test_an_image_larger_than_the_flavor_disk(self):
        # Glance's size is checked before any byte is fetched (Nova's API
        # checks it too: here it is told a smaller size).
        image = self.glance_image_from('sleeper')
        self.glance.images[image]['size'] = 1024
        real_get = self.driver()._image_api.get

        def huge(context, image_id, **kwargs):
            meta = real_get(context, image_id, **kwargs)
            meta['size'] = 2 * 1024 ** 3
            return meta

        with mock.patch.object(self.driver()._image_api, 'get', autospec=True,
                               side_effect=huge), \
                self.count_downloads() as download:
            server = self.post(image)
            self.assertBuildFault(server, "Flavor's disk is too small")
        self.assertEqual(0, download.call_count)

    def test_an_unpacked_image_larger_than_the_flavor_disk(self):
        real_inspect = self.driver().runtime.inspect_image

        def huge(ref):
            return dataclasses.replace(real_inspect(ref),
                                       size_bytes=2 * 1024 ** 3)

        with mock.patch.object(self.driver().runtime, 'inspect_image',
                               autospec=True, side_effect=huge):
            server = self.post(self.image)
            self.assertBuildFault(server, "Flavor's disk is too small",
                                  'image is 2147483648 bytes')


def named_archive(archive, names):
    """``archive`` (a ``docker save``) with ``names`` in its manifest.

    The names are in the manifest's RepoTags, and a ``repositories`` file
    names them too, as anyone can write it.
    """
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, \
            tarfile.open(fileobj=out, mode='w') as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else b''
            if member.name == 'manifest.json':
                manifest = json.loads(data)
                manifest[0]['RepoTags'] = list(names)
                data = json.dumps(manifest).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
        repositories = {}
        for name in names:
            repository, tag = name.rsplit(':', 1)
            repositories.setdefault(repository, {})[tag] = 'x'
        data = json.dumps(repositories).encode()
        info = tarfile.TarInfo('repositories')
        info.size = len(data)
        dst.addfile(info, io.BytesIO(data))
    return out.getvalue()


def predictable_sandbox_name():
    """The name the pod sandbox image had.

    Anyone with Debian's busybox package can compute it.
    """
    with open('/bin/busybox', 'rb') as f:
        return 'nova-zun/sandbox:%s' % hashlib.sha256(
            f.read()).hexdigest()[:16]


class TestArchiveNames(ImagesTestCase):
    """A tenant's archive naming others' images changes nothing they run.

    The archive names images that the host or other tenants use: while it
    loads, a boot of the other tenant's image and a new pod's sandbox run what
    they ran before, and afterwards the engine holds no name the archive gave.
    """

    def setUp(self):
        super().setUp()
        self.victim_server = self.boot(self.image, self.flavor)
        self.victim_image = self.workload(self.victim_server).details['Image']
        self.sandbox_image = self.sandbox(self.victim_server).details['Image']
        self.images_before = {i.id for i in self.runtime.list_images()}
        self.addCleanup(self._remove_new_images)
        self.attacker_image, self.attacker_archive = self.attacker()

    def attacker(self):
        """A new image (id, ``docker save`` archive by id).

        The image is not left in the engine.
        """
        data = rootfs.busybox_rootfs('/bin/busybox', test_images.APPLETS)
        image_id = self.runtime.import_rootfs(
            data, test_images.reference('attacker'),
            command=['/bin/sh', '-c', 'echo the attacker runs here; '
                     "trap 'exit 0' TERM; sleep 2147483647 & wait"])
        archive = b''.join(self.runtime.save_image(image_id))
        self.runtime.remove_image(image_id)
        return image_id, archive

    def _remove_new_images(self):
        self._remove_containers()
        for info in self.runtime.list_images():
            if info.id not in self.images_before:
                self.runtime.remove_image(info.id, force=True)

    def engine_names(self):
        return {tag: info.id for info in self.runtime.list_images()
                for tag in info.tags}

    def boot_during_the_load(self, names):
        """Boot the victim's image while the attacker's archive loads.

        The attacker's archive carries ``names``; while the engine holds what
        its load left, boot the victim's image. Return the attacker's server,
        the engine's names and the victim's new server of that moment.
        """
        attacker = self.glance_image_with(
            named_archive(self.attacker_archive, names))
        loaded, resume = threading.Event(), threading.Event()
        self.addCleanup(resume.set)
        seen = {}
        driver_runtime = self.driver().runtime
        real_load = driver_runtime.load_image_report

        def load(data):
            report = real_load(data)
            seen['names'] = self.engine_names()
            loaded.set()
            resume.wait(300)
            return report

        with mock.patch.object(driver_runtime, 'load_image_report',
                               autospec=True, side_effect=load):
            server = self.api.post_server({'server': {
                'name': 'zun-attacker', 'imageRef': attacker,
                'flavorRef': self.flavor, 'networks': 'none'}})
            self.assertTrue(loaded.wait(300), 'the archive never loaded')
            try:
                victim = self.boot(self.image, self.flavor)
            finally:
                resume.set()
            server = self._wait_for_server_parameter(
                server, {'OS-EXT-STS:task_state': None})
        return server, seen['names'], victim

    def assertArchiveNamedNothing(self, names):
        server, names_then, victim = self.boot_during_the_load(names)
        # The victim's boot ran the victim's image in a sandbox of the
        # host's image.
        self.assertEqual(self.victim_image,
                         self.workload(victim).details['Image'])
        self.assertEqual(self.sandbox_image,
                         self.sandbox(victim).details['Image'])
        self.assertEqual({}, {name: names_then[name] for name in names
                              if names_then.get(name) ==
                              self.attacker_image})
        # The archive's image boots, under its Glance name only.
        self.assertEqual('ACTIVE', server['status'],
                         server.get('fault'))
        self.assertEqual(self.attacker_image,
                         self.workload(server).details['Image'])
        names_now = self.engine_names()
        self.assertEqual([images.reference(server['image']['id'])],
                         [n for n, i in names_now.items()
                          if i == self.attacker_image])
        self.assertEqual(self.victim_image,
                         names_now[images.reference(self.image)])
        # A new pod after the load: the same sandbox image.
        after = self.boot(self.image, self.flavor)
        self.assertEqual(self.sandbox_image,
                         self.sandbox(after).details['Image'])
        self.assertEqual(self.victim_image,
                         self.workload(after).details['Image'])

    def test_an_archive_named_after_another_tenants_glance_image(self):
        self.assertArchiveNamedNothing([images.reference(self.image)])

    def test_an_archive_named_after_the_pod_sandbox_image(self):
        self.assertArchiveNamedNothing([predictable_sandbox_name()])

    def test_an_archive_with_both_names(self):
        self.assertArchiveNamedNothing([images.reference(self.image),
                                        predictable_sandbox_name()])
