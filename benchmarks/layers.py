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

"""Layered Glance images (nova_zun.layers) against whole archives.

A real Glance (glance-api from PyPI behind keystonemiddleware, the
workshop's ``nova_zun_workshop/glance.py``) and a private Keystone; images
on a base holding a file of incompressible data, each with a small layer of
its own, stored both ways by the same project: layered with
``nova-zun-image import``'s code, whole as ``docker save`` archives. The
driver's image step (``nova_zun.images.ensure_image`` with Nova's Glance
API and the project member's token) loads them into the benchmark's engine;
bytes are what the driver logged it downloaded or uploaded.

Runs in a process of its own (``python -m benchmarks.layers``, started by
:func:`run`), with Nova's eventlet patching off, like the native API's.
"""

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid

import glanceclient
from nova import context as nova_context
from nova.image import glance as image_glance
from nova import objects

from benchmarks import child
from benchmarks import stats
from nova_zun import conf as zun_conf
from nova_zun import glance_layers
from nova_zun import image_tool
from nova_zun import images
from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import types
from nova_zun_workshop import glance as glance_tool
from nova_zun_workshop import native_api_setup as support
from nova_zun_workshop.polling import wait_for

CONF = zun_conf.CONF
MIB = 1024 * 1024
LABEL = 'nova-zun-bench-layers'
WHO = 'alice'


def progress(message):
    sys.stderr.write('[benchmarks] layers: %s\n' % message)
    sys.stderr.flush()


def run(report, engine, image, counts):
    """Measure in a child process and add the figures to ``report``."""
    args = ['--engine-url', engine.url, '--image', image,
            '--base-dir', engine.base_dir,
            '--base-mb', str(counts['layers_base_mb']),
            '--images', str(counts['layers_images']),
            '--trials', str(counts['layers_trials'])]
    samples = child.measure(report, 'layers', 'benchmarks.layers', args,
                            'the layered images benchmark')
    report.ratio('layers/second_boot_bytes_vs_whole',
                 stats.percentile(samples['second_boot_bytes_layered'], 50),
                 stats.percentile(samples['second_boot_bytes_whole'], 50))
    report.compare('layers/second_boot_vs_whole',
                   samples['second_boot_layered'],
                   samples['second_boot_whole'],
                   ('second_boot_layered', 'second_boot_whole'))
    report.ratio('layers/snapshot_bytes_vs_whole',
                 samples['snapshot_bytes_layered'][0],
                 samples['snapshot_bytes_whole'][0])
    report.ratio('layers/glance_storage_%d_images_vs_whole'
                 % counts['layers_images'],
                 samples['glance_bytes_layered'][0],
                 samples['glance_bytes_whole'][0])


class _DriverLog(logging.Handler):
    """The byte counts the driver logs as it downloads and uploads."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.downloaded = {}
        self.layer_bytes_uploaded = 0

    def emit(self, record):
        args = record.args if isinstance(record.args, dict) else {}
        if record.msg.startswith('Image %(id)s: downloaded %(down)d'):
            self.downloaded[args['id']] = args['down']
        elif record.msg.startswith('Uploaded %(bytes)d bytes in %(new)d'):
            self.layer_bytes_uploaded += args['bytes']


class Bench:

    def __init__(self, args):
        self.args = args
        self.keystone = self.glance = None
        self.work_dir = tempfile.mkdtemp(prefix='layers-', dir=args.base_dir)
        self.made = []
        self.log = _DriverLog()
        self.runtime = docker_runtime.DockerRuntime(args.engine_url)

    def setup(self):
        progress('starting a private Keystone and Glance')
        self.keystone = support.start_keystone(
            tempfile.mkdtemp(prefix='keystone-', dir=self.work_dir))
        self.keystone.project_user('service', *support.GLANCE_USER,
                                   role='service')
        self.glance = glance_tool.Glance(
            self.keystone.url, *support.GLANCE_USER,
            base_dir=tempfile.mkdtemp(prefix='glance-', dir=self.work_dir))
        self.glance.start()
        password, project, _ = support.USERS[WHO]
        session = self.keystone.session(WHO, password, project)
        self.client = glanceclient.Client('2', session=session,
                                          endpoint_override=self.glance.url)
        self.store = image_tool.LayerStore(self.client,
                                           session.get_project_id(),
                                           out=sys.stderr)
        self.context = nova_context.RequestContext(
            user_id=session.get_user_id(),
            project_id=session.get_project_id(),
            auth_token=session.get_token(), is_admin=False)
        objects.register_all()
        CONF.set_override('api_servers', [self.glance.url], group='glance')
        self.image_api = image_glance.API()
        logging.getLogger('nova_zun').addHandler(self.log)
        logging.getLogger('nova_zun').setLevel(logging.INFO)

    def teardown(self):
        try:
            for container in self.runtime.list_containers({LABEL: 'yes'}):
                self.runtime.remove(container.id, force=True)
            self._remove_built()
        finally:
            if self.glance is not None:
                self.glance.stop()
            if self.keystone is not None:
                self.keystone.stop()
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- images ---------------------------------------------------------------

    def _remove_built(self):
        # Children first: removing an image removes its unnamed parents.
        for image in reversed(self.made):
            if self.runtime.image_exists(image):
                self.runtime.remove_image(image, force=True)
        self.made = []

    def _run(self, image, command, wait_path=None):
        """A container of ``image`` running ``command``, labelled ours."""
        container = self.runtime.create_container(types.ContainerSpec(
            name='bench-layers-%s' % uuid.uuid4().hex[:8], image=image,
            command=['/bin/sh', '-c', command], labels={LABEL: 'yes'}))
        self.runtime.start(container)
        if wait_path is None:
            wait_for(lambda: self.runtime.status(container).state ==
                     types.ContainerState.EXITED, 'the build step')
        else:
            wait_for(lambda: self.runtime.exec(
                container, ['ls', wait_path]).exit_code == 0,
                'the file %s' % wait_path)
        return container

    def _commit(self, image, command):
        container = self._run(image, command)
        try:
            committed = self.runtime.commit(container)
        finally:
            self.runtime.remove(container, force=True)
        self.made.append(committed)
        return committed

    def _archive(self, image):
        path = os.path.join(self.work_dir, 'image.tar')
        with open(path, 'wb') as out:
            for chunk in self.runtime.save_image(image):
                out.write(chunk)
        return path

    def _upload_whole(self, name, path):
        image = self.client.images.create(
            name=name, container_format=images.CONTAINER_FORMAT,
            disk_format=images.DISK_FORMAT)
        with open(path, 'rb') as data:
            self.client.images.upload(image['id'], data)
        return image['id']

    def store_images(self):
        """``{'layered': [ids], 'whole': [ids]}`` of the images on a base."""
        args = self.args
        progress('building a base of %d MiB and %d images on it'
                 % (args.base_mb, args.images))
        base = self._commit(args.image, 'head -c %d /dev/urandom > /base.bin'
                            % (args.base_mb * MIB))
        stored = {'layered': [], 'whole': []}
        for index in range(args.images):
            image = self._commit(base, 'echo %d > /own' % index)
            path = self._archive(image)
            stored['layered'].append(self.store.import_archive(
                path, 'bench-layered-%d' % index))
            stored['whole'].append(self._upload_whole(
                'bench-whole-%d' % index, path))
            os.unlink(path)
        # The boots find no layer of the images in the engine.
        self._remove_built()
        return stored

    def glance_bytes(self):
        """Bytes Glance stores per format for the images stored."""
        found = {'layered': 0, 'whole': 0}
        for image in self.client.images.list(
                filters={'owner': self.context.project_id}):
            if image['container_format'] == glance_layers.LAYER_FORMAT or \
                    image.get(glance_layers.FORMAT_PROPERTY):
                found['layered'] += image['size']
            else:
                found['whole'] += image['size']
        return found

    # -- the driver's image step ---------------------------------------------

    def _boot(self, image_id):
        meta = objects.ImageMeta.from_dict(
            self.image_api.get(self.context, image_id))
        return images.ensure_image(self.context, self.runtime,
                                   self.image_api, meta)

    def _forget(self, *image_ids):
        for image_id in image_ids:
            ref = images.reference(image_id)
            if self.runtime.image_exists(ref):
                self.runtime.remove_image(ref, force=True)

    def second_boot(self, first, second):
        """Seconds and bytes of booting ``second`` where ``first`` ran."""
        self._forget(second, first)
        self._boot(first)
        start = time.monotonic()
        self._boot(second)
        secs = time.monotonic() - start
        self._forget(second, first)
        return secs, self.log.downloaded[second]

    def snapshot_bytes(self, image_id, properties):
        """Bytes a snapshot uploads after its workload wrote 1 MiB.

        ``properties`` are the server image's that Nova's snapshot inherits.
        """
        ref = self._boot(image_id)
        container = self._run(ref, 'head -c %d /dev/urandom > /new; '
                              'mv /new /snap; sleep 600' % MIB, '/snap')
        snapshot = self.image_api.create(self.context, {
            'name': 'bench-snapshot', 'container_format':
            images.CONTAINER_FORMAT, 'disk_format': images.DISK_FORMAT,
            'properties': properties})
        instance = objects.Instance(uuid=str(uuid.uuid4()),
                                    project_id=self.context.project_id,
                                    image_ref=image_id, os_type=None)
        self.log.layer_bytes_uploaded = 0
        try:
            images.snapshot(self.context, self.runtime, self.image_api,
                            container, instance, snapshot['id'],
                            lambda **kwargs: None)
        finally:
            self.runtime.remove(container, force=True)
            self._forget(snapshot['id'], image_id)
        uploaded = self.client.images.get(snapshot['id'])['size']
        return uploaded + self.log.layer_bytes_uploaded

    def measure(self):
        stored = self.store_images()
        samples = {'glance_bytes_%s' % k: [v]
                   for k, v in self.glance_bytes().items()}
        progress('second image\'s first boot, %d trials of each format'
                 % self.args.trials)
        for _ in range(self.args.trials):
            for form in ('whole', 'layered'):
                first, second = stored[form][:2]
                secs, down = self.second_boot(first, second)
                samples.setdefault('second_boot_%s' % form, []).append(secs)
                samples.setdefault('second_boot_bytes_%s' % form,
                                   []).append(down)
        progress('snapshots after writing 1 MiB')
        samples['snapshot_bytes_whole'] = [
            self.snapshot_bytes(stored['whole'][1], {})]
        samples['snapshot_bytes_layered'] = [self.snapshot_bytes(
            stored['layered'][1],
            {glance_layers.FORMAT_PROPERTY: glance_layers.FORMAT_VERSION})]
        return samples, {'base_mb': self.args.base_mb,
                         'images': self.args.images}


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.layers')
    parser.add_argument('--engine-url', required=True)
    parser.add_argument('--image', required=True,
                        help='a test image with a shell')
    parser.add_argument('--base-dir', required=True,
                        help='Keystone and Glance live below this directory')
    parser.add_argument('--base-mb', type=int, default=64)
    parser.add_argument('--images', type=int, default=10,
                        help='images on the base (at least 2)')
    parser.add_argument('--trials', type=int, default=3)
    args = parser.parse_args(argv)
    if args.images < 2:
        parser.error('--images must be at least 2')
    return child.serve(Bench(args))


if __name__ == '__main__':
    sys.exit(main())
