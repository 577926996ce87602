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

"""Faults with real processes, through the real Nova API.

The engine (a dockerd of this module's own) is killed with SIGKILL in the
middle of a spawn, a delete and a volume attach, and while servers run
(one with a Neutron port on the private switch: run under flock
/tmp/nova-zun-ovs.lock);
nova-compute is stopped in the middle of a spawn and a new one started
(the in-process framework's closest thing to killing it: the old service's
spawn never goes on, as in a dead process, and a new service with a new
driver starts on the same host); workloads die of their memory limit, of a
signal and of their own exit. Afterwards running servers still run, every
other server is ACTIVE, SHUTOFF or ERROR with a fault that says why, no
task is left under way, and nothing of a server outlives it.
"""

import os
import signal
import threading
from unittest import mock

import fixtures
from nova import utils
from oslo_concurrency import lockutils
from oslo_utils import uuidutils
import pytest

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun_workshop.functional import volume_support
from nova_zun_workshop import images as test_images
from nova_zun_workshop.polling import wait_for
from nova_zun_workshop import processes
from tests.functional import base

RUNNING = types.ContainerState.RUNNING
# Instance action events show their details from this microversion on.
EVENT_DETAILS_VERSION = '2.84'


@pytest.fixture(scope='module')
def crash_images(crash_engine):
    runtime = docker_runtime.DockerRuntime(crash_engine.url, timeout=60)
    refs = test_images.build(runtime)
    yield runtime, refs
    crash_engine.start()
    test_images.remove(runtime)


class ComputeKilled(BaseException):
    """Unwinds a stalled operation of a stopped compute service.

    It does so without running the operation's error handling (``except
    Exception``), as a killed process runs none.
    """


class FaultTestCase(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.stalls = []
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(memory_mb=64)
        self.image = self.glance_image_from('sleeper')

    def wait_for_status(self, server, status):
        return self._wait_for_state_change(server, status, max_retries=120)

    def assertSettled(self, server, *statuses):
        """The server is in one of ``statuses`` with no task under way.

        An ERROR one also has a fault that says why.
        """
        server = self.api.get_server(server['id'])
        self.assertIn(server['status'], statuses)
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        if server['status'] == 'ERROR':
            self.assertTrue(server['fault']['message'].strip())
        return server

    def assertGone(self, server):
        """The server and everything of it on the host are gone."""
        wait_for(lambda: not [s for s in self.api.get_servers()
                              if s['id'] == server['id']],
                 'server %s to be deleted' % server['id'])
        self.assertEqual([], self.pod_containers(server))
        self.assertFalse(os.path.exists(
            os.path.join(self.volume_dirs.mounts, server['id'])))
        self.assertEqual([], self.volume_dirs.mounts_below())

    def actions(self, server):
        """``{action: [event, ...]}`` of the server, newest action first.

        The events come with their details.
        """
        found = {}
        with utils.temporary_mutation(self.api,
                                      microversion=EVENT_DETAILS_VERSION):
            for action in self.api.get_instance_actions(server['id']):
                found.setdefault(action['action'], []).extend(
                    self.api.get_instance_action_details(
                        server['id'], action['request_id'])['events'])
        return found

    def kill_and_restart_compute(self, host):
        """Stop nova-compute as a kill would, and start a new one.

        The old service takes no more messages and its event thread ends, but
        nothing of it waits for (or finishes) what it was doing, nor holds the
        new one back by the in-process locks it holds (a new process has locks
        of its own); a graceful stop here would wait for its in-flight
        requests.
        """
        old = self.computes[host]
        old.rpcserver.stop()
        old.manager.driver._lifecycle.stop()
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_concurrency.lockutils._semaphores', lockutils.Semaphores()))
        with mock.patch.object(old, 'stop', autospec=True):
            self.restart_zun_compute(host)
        # What it was doing never goes on; at the end it unwinds, before
        # the new service stops (the old one's stop waits for it).
        for released in self.stalls:
            self.addCleanup(released.set)

    def stall(self, target, name):
        """Make ``target.name`` block until the compute service is killed.

        The patched call blocks until the kill (or the end of the test), then
        unwinds with :class:`ComputeKilled`. Return an Event set once it is
        blocked.
        """
        reached = threading.Event()
        released = threading.Event()
        self.stalls.append(released)
        self.addCleanup(released.set)

        def stalled(*args, **kwargs):
            reached.set()
            released.wait()
            raise ComputeKilled()
        patcher = mock.patch.object(target, name, autospec=True,
                                    side_effect=stalled)
        patcher.start()
        self.addCleanup(patcher.stop)
        return reached


class CrashEngineMixin:
    """Tests on an engine of the module's own, which they kill and restart.

    They kill it (SIGKILL) and start it again on the same socket and data, as
    systemd restarts a crashed dockerd.
    """

    @pytest.fixture(autouse=True)
    def _zun_engine(self, crash_engine, crash_images, volume_dirs):
        self.engine = crash_engine
        self.engine_url = crash_engine.url
        self.volume_dirs = volume_dirs
        self.runtime, self.test_images = crash_images

    def setUp(self):
        super().setUp()
        # Runs before the base classes remove what the test left: a test
        # that failed with its engine down leaves it running, as it was.
        self.addCleanup(self.engine_as_configured, self.engine.live_restore)

    def engine_as_configured(self, live_restore):
        if self.engine.live_restore != live_restore:
            self.engine.live_restore = live_restore
            self.engine.kill()
        self.engine.start()

    def restart_without_live_restore(self, stop):
        """``stop`` the engine and start it without live restore.

        ``stop`` is a kill or the engine's own stop; started without live
        restore, the engine stops every container.
        """
        self.engine.live_restore = False
        stop()
        self.engine.start()

    def wait_until_restarted(self, server, before):
        """The server's workload once it runs again (started after ``before``).

        The server is then ACTIVE with no task.
        """
        def restarted():
            workload = self.workload(server)
            return (workload.state == RUNNING and
                    workload.started_at != before.started_at and workload)
        after = wait_for(restarted, 'the workload of %s to run again'
                         % server['id'])
        self._wait_for_server_parameter(
            server, {'status': 'ACTIVE', 'OS-EXT-STS:task_state': None},
            max_retries=120)
        return after


class TestEngineCrashes(CrashEngineMixin, FaultTestCase):

    def crash_engine_before(self, target, name):
        """Patch ``target.name`` to kill the engine before it runs."""
        original = getattr(target, name)

        def crash_then_call(*args, **kwargs):
            self.engine.kill()
            return original(*args, **kwargs)
        return mock.patch.object(target, name, autospec=True,
                                 side_effect=crash_then_call)

    def test_servers_run_on_through_an_engine_crash(self):
        running = self.boot(self.image, self.flavor)
        stopped = self._stop_server(self.boot(self.image, self.flavor))
        before = self.workload(running)
        self.engine.kill()
        # The container's shim keeps its process while dockerd is gone.
        self.assertTrue(processes.running(before.pid))
        self.engine.start()
        after = self.workload(running)
        self.assertEqual((before.id, before.pid, RUNNING),
                         (after.id, after.pid, after.state))
        self.assertEqual(RUNNING, self.sandbox(running).state)
        self.assertSettled(running, 'ACTIVE')
        self.assertNotIn('stop', self.actions(running))
        self.assertSettled(stopped, 'SHUTOFF')
        # nova-compute follows the new engine's events: a workload killed
        # now shows in Nova.
        os.kill(after.pid, signal.SIGKILL)
        self.wait_for_status(running, 'SHUTOFF')

    def test_an_engine_restart_that_stops_containers_brings_servers_back(
            self):
        running = self.boot(self.image, self.flavor)
        stopped = self._stop_server(self.boot(self.image, self.flavor))
        # An engine without live restore stops every container when it
        # starts after a crash, and when it stops.
        for stop in (self.engine.kill, lambda: self.engine.stop(
                remove=False)):
            before = self.workload(running)
            self.restart_without_live_restore(stop)
            after = self.wait_until_restarted(running, before)
            self.assertEqual(before.id, after.id)
        self.assertSettled(stopped, 'SHUTOFF')
        actions = self.actions(running)
        # Never recorded as stopped: brought back by hard reboots that
        # say why.
        self.assertNotIn('stop', actions)
        self.assertIn('engine', ' '.join(
            e.get('details') or '' for e in actions['reboot']))

    def test_an_engine_crash_in_the_middle_of_a_spawn(self):
        with self.crash_engine_before(self.driver().runtime,
                                      'create_container'):
            server = self.boot(self.image, self.flavor,
                               expected_state='ERROR')
        self.assertIn('container engine', server['fault']['message'])
        self.assertSettled(server, 'ERROR')
        self.engine.start()
        # What the failed build left (its cleanup met no engine) goes once
        # the engine is back: Nova has the server on no host now.
        wait_for(lambda: not self.pod_containers(server),
                 'the failed build\'s containers to go')
        self._delete_server(server)
        self.assertGone(server)

    def test_an_engine_that_restarts_in_the_middle_of_a_spawn(self):
        # Back before Nova cleans up the failed build (systemd restarts a
        # crashed dockerd): Nova would try other hosts, and this cloud has
        # none.
        runtime = self.driver().runtime
        start = runtime.start

        def crash_then_start(container):
            self.engine.kill()
            try:
                return start(container)
            finally:
                self.engine.start()
        with mock.patch.object(runtime, 'start', autospec=True,
                               side_effect=crash_then_start):
            server = self.boot(self.image, self.flavor,
                               expected_state='ERROR')
        self.assertIn('container engine unavailable',
                      server['fault']['message'])
        self.assertSettled(server, 'ERROR')
        self._delete_server(server)
        self.assertGone(server)

    def test_an_engine_crash_in_the_middle_of_a_delete(self):
        server = self.boot(self.image, self.flavor)
        with self.crash_engine_before(self.driver().runtime, 'remove'):
            self.api.delete_server(server['id'])
            server = self.wait_for_status(server, 'ERROR')
        self.assertIn('could not be removed', server['fault']['message'])
        self.assertSettled(server, 'ERROR')
        self.engine.start()
        # What was asked is done once the engine is back.
        self.assertGone(server)

    def test_an_engine_crash_in_the_middle_of_a_volume_attach(self):
        cinder = volume_support.use_loop_cinder(self, self.volume_dirs)
        volume = cinder.create()
        cinder.format_with(volume, {'hello.txt': 'hello from the volume'})
        server = self.boot(self.image, self._create_flavor(
            memory_mb=64, vcpu=1, disk=1, ephemeral=0))
        with self.crash_engine_before(self.driver()._volumes, 'attach'):
            self.api.post_server_volume(
                server['id'], {'volumeAttachment': {'volumeId': volume}})
            self._wait_for_volume_attach(server['id'], volume)
        self.engine.start()
        # The workload ran on, and sees the volume once Nova's attach is
        # done.
        wait_for(lambda: self.runtime.exec(
            self.workload(server).id, ['cat', '/volumes/vdb/hello.txt'],
        ).output == b'hello from the volume', 'the volume in the container')
        self.assertSettled(server, 'ACTIVE')
        self.api.delete_server_volume(server['id'], volume)
        self._wait_for_volume_detach(server['id'], volume)
        self._delete_server(server)
        self.assertGone(server)

    def test_engine_and_compute_restarted_together(self):
        server = self.boot(self.image, self.flavor)
        before = self.workload(server)
        self.engine.kill()
        # nova-compute starts while its engine is down: it waits for it (the
        # engine knows the state of its servers), and follows it.
        threading.Timer(3, self.engine.start).start()
        self.restart_zun_compute('compute1')
        after = self.workload(server)
        self.assertEqual((before.id, before.pid, RUNNING),
                         (after.id, after.pid, after.state))
        self.assertSettled(server, 'ACTIVE')
        os.kill(after.pid, signal.SIGKILL)
        self.wait_for_status(server, 'SHUTOFF')


class TestEngineCrashesWithPorts(CrashEngineMixin,
                                 base.NetworkFixtureMixin,
                                 base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(memory_mb=64)
        self.image = self.glance_image_from('sleeper')

    def test_a_server_keeps_its_port_through_engine_restarts(self):
        server = self.boot_on(self.neutron.net_a)
        port, = self.ports_of(server)
        address = self.v4(port)

        def has_its_port():
            out = self.ok(server, 'ip -o link; ip -o addr')
            return port['mac_address'] in out and address in out
        self.assertTrue(has_its_port())
        # Live restore: the same namespace, the same device.
        self.engine.kill()
        self.engine.start()
        self.assertTrue(has_its_port())
        # Without it the pod stops; the hard reboot that brings it back
        # plugs the port into the new sandbox's namespace.
        before = self.workload(server)
        self.restart_without_live_restore(self.engine.kill)
        self.wait_until_restarted(server, before)
        self.assertTrue(has_its_port())
        self._delete_server(server)
        self.assertEqual([], self.pod_containers(server))
        self.assertEqual([], self.host_leftovers([port['id']]))


class TestComputeRestarts(FaultTestCase):

    def test_a_spawn_cut_by_a_compute_restart_ends_with_a_fault(self):
        # The build stops where the pod exists and its workload has not
        # started.
        reached = self.stall(self.driver(), '_plug_and_wait')
        server = self.api.post_server({'server': {
            'name': 'cut', 'imageRef': self.image, 'flavorRef': self.flavor,
            'networks': 'none'}})
        self.assertTrue(reached.wait(120))
        self.assertEqual(2, len(self.pod_containers(server)))
        self.kill_and_restart_compute('compute1')
        server = self.wait_for_status(server, 'ERROR')
        self.assertIn('nova-compute', server['fault']['message'])
        self.assertSettled(server, 'ERROR')
        # The half-built pod went with the build.
        self.assertEqual([], self.pod_containers(server))
        self._delete_server(server)
        self.assertGone(server)

    def test_pods_unknown_to_the_database_are_left_alone(self):
        # A compute service started against another cloud's database sees
        # pods of instances it has never heard of: they are not its to
        # remove.
        uuid = uuidutils.generate_uuid()
        pod = {labels.INSTANCE: uuid, labels.HOST: 'compute1'}
        self.addCleanup(self._remove_pod, uuid)
        sandbox = self.runtime.create_sandbox(types.SandboxSpec(
            name='nova-%s-sandbox' % uuid, labels=pod))
        workload = self.runtime.create_container(types.ContainerSpec(
            name='nova-%s' % uuid, image=self.test_images['sleeper'],
            labels=dict(pod, **{labels.ROLE: labels.ROLE_WORKLOAD}),
            sandbox_id=sandbox.id))
        self.runtime.start(workload)
        compute = self.restart_zun_compute('compute1')
        # Nova's periodic reaping of deleted instances, which runs as the
        # service starts.
        compute.manager._cleanup_running_deleted_instances(self.ctxt)
        self.assertEqual(RUNNING, self.runtime.status(workload).state)
        self.assertEqual(RUNNING, self.runtime.status(sandbox.id).state)
        self.assertIn('%s, unknown to' % uuid, self.stdlog.logger.output)

    def test_pods_of_instances_deleted_while_compute_was_down(self):
        kept = self.boot(self.image, self.flavor)
        gone = self.boot(self.image, self.flavor)
        self.computes['compute1'].stop()
        service, = self.admin_api.get_services(host='compute1',
                                               binary='nova-compute')
        self.admin_api.put_service_force_down(service['id'], True)
        # The API deletes it alone: its host is down.
        self._delete_server(gone)
        self.admin_api.put_service_force_down(service['id'], False)
        # Nova's periodic reaping of deleted instances, as the service
        # starts, as [DEFAULT] running_deleted_instance_action says.
        self.flags(running_deleted_instance_action='log')
        compute = self.restart_zun_compute('compute1')
        compute.manager._cleanup_running_deleted_instances(self.ctxt)
        self.assertEqual(2, len(self.pod_containers(gone)))
        self.assertIn('marked as DELETED but still present on host',
                      self.stdlog.logger.output)
        self.flags(running_deleted_instance_action='reap')
        compute.manager._cleanup_running_deleted_instances(self.ctxt)
        self.assertEqual([], self.pod_containers(gone))
        self.assertEqual(2, len(self.pod_containers(kept)))
        self.assertSettled(kept, 'ACTIVE')

    def _remove_pod(self, uuid):
        for c in self.runtime.list_containers({labels.INSTANCE: uuid}):
            self.runtime.remove(c.id, force=True)


class TestBuildFaults(FaultTestCase):

    def test_a_workload_that_cannot_start_fails_the_build_saying_why(self):
        server = self.boot(self.image, self.flavor, expected_state='ERROR',
                           metadata={'zun_command': '["/no/such/command"]'})
        self.assertIn('/no/such/command', server['fault']['message'])
        self.assertSettled(server, 'ERROR')
        self.assertEqual([], self.pod_containers(server))


class TestWorkloadStops(FaultTestCase):
    """A workload that stops by itself shows in Nova at once, SHUTOFF.

    The reason is in an instance action and the log.
    """

    def reason(self, server):
        server = self.wait_for_status(server, 'SHUTOFF')
        self.assertSettled(server, 'SHUTOFF')
        events = self.actions(server).get('exit', [])
        self.assertEqual(1, len(events), events)
        details = events[0]['details']
        self.assertIn(details, self.stdlog.logger.output)
        return details

    def boot_waiting(self, flavor, then):
        """A server whose workload runs ``then`` once told to."""
        return self.boot(self.image, flavor, metadata={'zun_command': (
            '["/bin/sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; '
            'done; %s"]' % then)})

    def go(self, server):
        self.runtime.exec(self.workload(server).id, ['touch', '/tmp/go'])

    def test_a_workload_killed_by_its_memory_limit(self):
        server = self.boot_waiting(self.container_flavor(memory_mb=32),
                                   'exec tail /dev/zero')
        self.go(server)
        details = self.reason(server)
        self.assertIn('out of memory', details)
        self.assertIn('32 MiB', details)

    def test_a_workload_killed_by_a_signal_from_outside(self):
        server = self.boot(self.image, self.flavor)
        os.kill(self.workload(server).pid, signal.SIGKILL)
        self.assertIn('signal 9 (SIGKILL)', self.reason(server))

    def test_a_workload_that_exits(self):
        server = self.boot_waiting(self.flavor, 'exit 3')
        self.go(server)
        self.assertIn('exited with code 3', self.reason(server))

    def test_a_workload_that_exits_as_it_starts(self):
        # It stops while Nova's build is still under way, which makes Nova
        # ignore the event.
        server = self.boot(self.image, self.flavor, expected_state='SHUTOFF',
                           metadata={'zun_command': '["/bin/sh", "-c", '
                                                    '"exit 3"]'})
        self.assertIn('exited with code 3', self.reason(server))
