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

"""Nova's in-process services (API, conductor, scheduler, placement) with
compute services running ZunDriver against a private engine."""

import io
import os
import sys
from unittest import mock

import fixtures
from nova import context as nova_context
from nova.tests.functional import integrated_helpers
from oslo_privsep import capabilities
from oslo_privsep import daemon as privsep_daemon
from oslo_utils.fixture import uuidsentinel as uuids
import psutil

from nova_zun import conf as zun_conf  # noqa: F401 (registers [zun])
from nova_zun import glance_layers
from nova_zun import privileged
from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import labels

API_PASTE = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')
# Nova's test base forbids privsep helpers; the driver mounts through real
# ones (every workload gets its volume propagation mount).
REAL_ROOTWRAP_CHANNEL = privsep_daemon.RootwrapClientChannel
# nova-zun's privsep daemons run the nova_zun.privileged this process
# imported (a source tree), not a copy installed in the virtualenv; their
# environment names this test process (other test sessions may run
# daemons of the same contexts).
_TEST_PID = str(os.getpid())
PRIVSEP_HELPER = 'env NOVA_ZUN_TEST_PID=%s PYTHONPATH=%s %s' % (
    _TEST_PID,
    os.path.dirname(os.path.dirname(os.path.abspath(privileged.__file__))),
    os.path.join(os.path.dirname(sys.executable), 'privsep-helper'))


def privsep_capabilities(context):
    """Names of the effective capabilities of a privsep daemon of this test.

    The daemon is this test process's daemon of
    ``nova_zun.privileged.<context>``; raises if none runs.
    """
    pypath = 'nova_zun.privileged.' + context
    daemon, = [p for p in psutil.process_iter(['cmdline', 'environ'])
               if pypath in (p.info['cmdline'] or ()) and
               (p.info['environ'] or {}).get('NOVA_ZUN_TEST_PID') ==
               _TEST_PID]
    with open('/proc/%d/status' % daemon.pid) as f:
        mask = next(int(line.split()[1], 16) for line in f
                    if line.startswith('CapEff:'))
    return {name for value, name in capabilities.CAPS_BYVALUE.items()
            if mask & (1 << value)}


class ZunDriverTestCase(integrated_helpers.ProviderUsageBaseTestCase):
    """Nova functional test case with ZunDriver on a private engine.

    Whoever runs it sets, before setUp, ``engine_url`` (the private engine's),
    ``runtime`` (on that engine), ``test_images`` (``{tag: reference}`` of the
    test images built there) and ``volume_dirs`` (a volume_support.VolumeDirs).
    """

    compute_driver = 'zun.ZunDriver'

    def setUp(self):
        self.flags(api_paste_config=API_PASTE, group='wsgi')
        self.flags(engine_url=self.engine_url, group='zun')
        self.flags(volume_mount_dir=self.volume_dirs.mounts, group='zun')
        helper = self._privsep_helper()
        for section in ('nova_zun_privileged', 'nova_zun_storage_privileged',
                        'nova_zun_shim_privileged'):
            self.flags(helper_command=helper, group=section)
        super().setUp()
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_privsep.daemon.RootwrapClientChannel',
            REAL_ROOTWRAP_CHANNEL))
        self.ctxt = nova_context.get_admin_context()
        # {host: engine URL} of the compute services started.
        self._hosts = {}
        self.addCleanup(self._remove_containers)

    def _privsep_helper(self):
        """The privsep-helper command, with a configuration file holding [zun].

        The daemons read [zun] from a configuration file, as they read
        nova-compute's (the storage daemon works only below volume_mount_dir);
        the file lives as long as the session's daemons.
        """
        path = os.path.join(self.volume_dirs.base, 'privsep.conf')
        with open(path, 'w') as f:
            f.write('[zun]\nvolume_mount_dir = %s\n'
                    % self.volume_dirs.mounts)
        return '%s --config-file %s' % (PRIVSEP_HELPER, path)

    def _clear_attrs(self):
        # Nova's cleanup drops public instance attributes; pytest's unittest
        # runner put the test method there and removes it itself afterwards.
        method = self.__dict__.pop(self._testMethodName, None)
        super()._clear_attrs()
        if method is not None:
            self.__dict__[self._testMethodName] = method

    def _remove_containers(self):
        """Remove whatever a test left, also on failure.

        No test then sees another's containers; images loaded from Glance go
        too, on every host's engine that still runs (a test's own engine
        that it stopped took its containers with it).
        """
        for url in set(self._hosts.values()) | {self.engine_url}:
            runtime = self.host_runtime(engine_url=url)
            hosts = [h for h, u in self._hosts.items() if u == url]
            try:
                for host in hosts:
                    for c in runtime.list_containers({labels.HOST: host}):
                        runtime.remove(c.id, force=True)
                for image in runtime.list_images():
                    for tag in image.tags:
                        if tag.startswith(glance_layers.REPOSITORY + '/'):
                            runtime.remove_image(tag, force=True)
            except runtime_exc.EngineUnavailable:
                if url == self.engine_url:
                    raise

    def host_runtime(self, host=None, engine_url=None):
        """The runtime on ``host``'s engine (or on ``engine_url``)."""
        url = engine_url or self._hosts.get(host, self.engine_url)
        if url == self.engine_url:
            return self.runtime
        return docker_runtime.DockerRuntime(url, timeout=60)

    def start_zun_compute(self, host='compute1', engine_url=None):
        """Start nova-compute on ``host`` with a node uuid of its own.

        Each host gets its own node uuid; they share this machine's node
        identity otherwise. ``engine_url``: the host's own engine (default:
        the suite's).
        """
        self._hosts[host] = engine_url or self.engine_url
        return self._start_service_of(host, self._start_compute, host)

    def _start_service_of(self, host, start, /, *args, **kwargs):
        """Run ``start`` with [zun] engine_url set to ``host``'s engine."""
        self.flags(engine_url=self._hosts[host], group='zun')
        try:
            with mock.patch('nova.virt.node.get_local_node_uuid',
                            autospec=True,
                            return_value=str(getattr(uuids,
                                                     'node_' + host))):
                return start(*args, **kwargs)
        finally:
            self.flags(engine_url=self.engine_url, group='zun')

    def container_flavor(self, vcpu=1, memory_mb=128, disk=1,
                         extra_spec=None):
        flavor_id = self._create_flavor(memory_mb=memory_mb, vcpu=vcpu,
                                        disk=disk, extra_spec=extra_spec)
        return flavor_id

    def glance_image_from(self, tag, properties=None,
                          container_format='docker'):
        """A Glance image holding a ``docker save`` archive of a test image.

        The image is saved by id, so loading it adds no name of its own.
        """
        image_id = self.runtime.inspect_image(self.test_images[tag]).id
        archive = b''.join(self.runtime.save_image(image_id))
        return self.glance_image_with(archive, properties, container_format)

    def glance_image_with(self, data, properties=None,
                          container_format='docker'):
        image = self.glance.create(self.ctxt, {
            'name': 'zun-test', 'status': 'active',
            'container_format': container_format, 'disk_format': 'raw',
            'size': len(data), 'min_ram': 0, 'min_disk': 0,
            'properties': properties or {}}, data=io.BytesIO(data))
        return image['id']

    def boot(self, image_id, flavor_id, expected_state='ACTIVE',
             metadata=None, host=None):
        body = {'name': 'zun-server', 'imageRef': image_id,
                'flavorRef': flavor_id, 'networks': 'none'}
        if metadata:
            body['metadata'] = metadata
        if host:
            body['availability_zone'] = 'nova:%s' % host
        server = self.api.post_server({'server': body})
        # Loading an image and starting two containers takes longer than
        # the fake driver's boot that Nova's default wait is sized for.
        return self._wait_for_state_change(server, expected_state,
                                           max_retries=60)

    def restart_zun_compute(self, host):
        """Stop nova-compute on ``host`` and start a new one with a new driver.

        All it knows comes from the engine, as after a real restart.
        """
        self.computes[host].stop()
        self.computes[host] = self._start_service_of(
            host, self.start_service, 'compute', host=host)
        return self.computes[host]

    def driver(self, host='compute1'):
        return self.computes[host].manager.driver

    def server_action(self, server, action, body=None,
                      expected_state='ACTIVE'):
        self.api.post_server_action(server['id'], {action: body})
        return self._wait_for_state_change(server, expected_state,
                                           max_retries=60)

    def console_output(self, server, length=None):
        body = {'length': length} if length is not None else {}
        return self.api.post_server_action(
            server['id'], {'os-getConsoleOutput': body})['output']

    def workload(self, server):
        return self.runtime.status('nova-%s' % server['id'])

    def sandbox(self, server):
        return self.runtime.status('nova-%s-sandbox' % server['id'])

    def pod_containers(self, server):
        return self.runtime.list_containers({labels.INSTANCE: server['id']})
