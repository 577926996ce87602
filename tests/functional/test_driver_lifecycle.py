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

"""The instance lifecycle through the real Nova API on a real engine."""

import os
import time
from unittest import mock

from nova.compute import power_state
from nova import context as nova_context

from nova_zun.runtime import labels
from nova_zun.runtime import types

from tests.functional import base

RUNNING = types.ContainerState.RUNNING
PAUSED = types.ContainerState.PAUSED
EXITED = types.ContainerState.EXITED


class TestLifecycle(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')

    def test_boot_runs_a_container_with_the_flavor_limits(self):
        server = self.boot(self.image, self.flavor)
        workload = self.workload(server)
        self.assertEqual(RUNNING, workload.state)
        host_config = workload.details['HostConfig']
        self.assertEqual(96 * 1024 * 1024, host_config['Memory'])
        self.assertEqual(host_config['Memory'], host_config['MemorySwap'])
        self.assertEqual(100000, host_config['CpuQuota'])
        self.assertEqual(100000, host_config['CpuPeriod'])
        self.assertEqual(RUNNING, self.sandbox(server).state)
        self.assertEqual('container:%s' % self.sandbox(server).id,
                         host_config['NetworkMode'])
        self.assertEqual(power_state.RUNNING,
                         server['OS-EXT-STS:power_state'])
        self._delete_server(server)
        self.assertEqual([], self.pod_containers(server))

    def test_a_second_boot_of_an_image_reuses_the_loaded_image(self):
        with mock.patch.object(self.glance, 'download',
                               wraps=self.glance.download) as download:
            first = self.boot(self.image, self.flavor)
            second = self.boot(self.image, self.flavor)
        self.assertEqual(1, download.call_count)
        self.assertEqual(self.workload(first).image,
                         self.workload(second).image)

    def test_containers_run_unprivileged_with_no_new_privileges(self):
        server = self.boot(self.image, self.flavor)
        volume_dir = os.path.join(self.volume_dirs.mounts, server['id'])
        for container, binds in (
                (self.workload(server), [(volume_dir, '/volumes', False)]),
                (self.sandbox(server), [])):
            host_config = container.details['HostConfig']
            self.assertFalse(host_config['Privileged'])
            self.assertIn('no-new-privileges', host_config['SecurityOpt'])
            self.assertGreater(host_config['PidsLimit'] or 0, 0)
            self.assertFalse(host_config['CapAdd'])
            # Only the engine's own pseudo-files; no host path but the
            # instance's volume directory, read-only (doc/volumes.rst).
            self.assertFalse(host_config['Binds'])
            self.assertEqual(binds, [
                (m['Source'], m['Destination'], m['RW'])
                for m in container.details['Mounts']
                if m.get('Type') == 'bind'])
        self.assertEqual(4096,
                         self.workload(server).details['HostConfig']
                         ['PidsLimit'])
        # The engine's default seccomp profile stays on.
        self.assertNotIn('seccomp=unconfined',
                         self.workload(server).details['HostConfig']
                         ['SecurityOpt'])

    def test_every_container_carries_the_identity_labels(self):
        server = self.boot(self.image, self.flavor)
        pod = {c.labels[labels.ROLE]: c for c in self.pod_containers(server)}
        self.assertEqual({labels.ROLE_SANDBOX, labels.ROLE_WORKLOAD},
                         set(pod))
        for container in pod.values():
            self.assertEqual(server['id'], container.labels[labels.INSTANCE])
            self.assertEqual(server['tenant_id'],
                             container.labels[labels.PROJECT])
            self.assertEqual(server['user_id'], container.labels[labels.USER])
            self.assertEqual('compute1', container.labels[labels.HOST])

    def test_stop_and_start(self):
        server = self.boot(self.image, self.flavor)
        sandbox_id = self.sandbox(server).id
        server = self._stop_server(server)
        self.assertEqual(EXITED, self.workload(server).state)
        self.assertEqual(power_state.SHUTDOWN,
                         server['OS-EXT-STS:power_state'])
        server = self._start_server(server)
        self.assertEqual(RUNNING, self.workload(server).state)
        self.assertEqual(sandbox_id, self.sandbox(server).id)

    def test_reboots_restart_only_the_workload(self):
        server = self.boot(self.image, self.flavor)
        sandbox_before = self.sandbox(server)
        for hard in (False, True):
            started = self.workload(server).started_at
            server = self._reboot_server(server, hard=hard)
            workload = self.workload(server)
            self.assertEqual(RUNNING, workload.state)
            self.assertNotEqual(started, workload.started_at)
            sandbox = self.sandbox(server)
            self.assertEqual(sandbox_before.id, sandbox.id)
            self.assertEqual(sandbox_before.started_at, sandbox.started_at)

    def test_hard_reboot_recreates_a_workload_that_vanished(self):
        server = self.boot(self.image, self.flavor)
        self.runtime.remove(self.workload(server).id, force=True)
        server = self._reboot_server(server, hard=True)
        self.assertEqual(RUNNING, self.workload(server).state)

    def test_pause_and_unpause_freeze_the_workload(self):
        server = self.boot(self.image, self.flavor)
        server = self.server_action(server, 'pause', expected_state='PAUSED')
        self.assertEqual(PAUSED, self.workload(server).state)
        self.assertEqual(power_state.PAUSED,
                         server['OS-EXT-STS:power_state'])
        server = self.server_action(server, 'unpause')
        self.assertEqual(RUNNING, self.workload(server).state)

    def test_suspend_and_resume_freeze_the_workload(self):
        server = self.boot(self.image, self.flavor)
        server = self._suspend_server(server)
        self.assertEqual(PAUSED, self.workload(server).state)
        self.assertEqual(power_state.SUSPENDED,
                         server['OS-EXT-STS:power_state'])
        server = self._resume_server(server)
        self.assertEqual(RUNNING, self.workload(server).state)

    def test_rebuild_runs_the_new_image_in_the_same_sandbox(self):
        server = self.boot(self.image, self.flavor)
        sandbox_id = self.sandbox(server).id
        old_workload = self.workload(server).id
        printer = self.glance_image_from('printer')
        server = self._rebuild_server(server, printer)
        workload = self.workload(server)
        self.assertEqual(RUNNING, workload.state)
        self.assertNotEqual(old_workload, workload.id)
        self.assertEqual('glance/%s:latest' % printer, workload.image)
        self.assertEqual(sandbox_id, self.sandbox(server).id)
        self.assertIn('hello from nova-zun',
                      self.console_output(server))

    def test_console_output_is_the_tail_of_the_workload_output(self):
        self.flags(console_log_max_bytes=1024, group='zun')
        server = self.boot(
            self.image, self.flavor,
            metadata={'zun_command': '["/bin/sh", "-c", "seq 1 5000; '
                                     'echo the-end; sleep 1000"]'})
        self._wait_for_log(server, b'the-end')
        output = self.console_output(server)
        self.assertTrue(output.rstrip().endswith('the-end'))
        self.assertLessEqual(len(output.encode()), 1024)
        self.assertNotIn('\n1\n', output)
        # Nova's length parameter keeps the last lines only.
        self.assertEqual('5000\nthe-end\n',
                         self.console_output(server, length=3))

    def _wait_for_log(self, server, text):
        for _ in range(100):
            if text in self.runtime.logs(self.workload(server).id):
                return
            time.sleep(0.1)
        self.fail('%r never appeared in the logs' % text)

    def test_server_metadata_wins_over_image_properties(self):
        image = self.glance_image_from('sleeper', properties={
            'zun_command': '/bin/sh -c "sleep 1000"',
            'zun_workdir': '/tmp',
            'zun_environment': '{"FROM_IMAGE": "image", "BOTH": "image"}'})
        server = self.boot(image, self.flavor, metadata={
            'zun_workdir': '/etc',
            'zun_environment': '{"BOTH": "server"}'})
        config = self.workload(server).details['Config']
        self.assertEqual(['/bin/sh', '-c', 'sleep 1000'], config['Cmd'])
        self.assertEqual('/etc', config['WorkingDir'])
        self.assertIn('FROM_IMAGE=image', config['Env'])
        self.assertIn('BOTH=server', config['Env'])

    def test_an_interactive_server_keeps_its_stdin_open_on_a_terminal(self):
        server = self.boot(self.glance_image_from('sleeper'), self.flavor,
                           metadata={'zun_command': '/bin/sh',
                                     'zun_interactive': 'true',
                                     'zun_tty': 'true'})
        workload = self.workload(server)
        # A shell with an open stdin waits for input instead of exiting.
        self.assertEqual(RUNNING, workload.state)
        self.assertEqual((True, True), (workload.stdin_open, workload.tty))

    def test_container_killed_behind_novas_back_is_shut_down_by_the_sync(
            self):
        # Without the engine's events (the service follows them from
        # init_host), only the periodic power-state sync can notice.
        self.driver()._lifecycle.stop()
        server = self.boot(self.image, self.flavor)
        self.runtime.kill(self.workload(server).id)
        compute = self.computes['compute1']
        compute.manager._sync_power_states(nova_context.get_admin_context())
        server = self._wait_for_state_change(server, 'SHUTOFF',
                                             max_retries=60)
        self.assertEqual(power_state.SHUTDOWN,
                         server['OS-EXT-STS:power_state'])
        self.assertEqual(EXITED, self.workload(server).state)

    def test_a_workload_that_dies_is_seen_at_once_through_engine_events(
            self):
        server = self.boot(self.image, self.flavor)
        self.runtime.kill(self.workload(server).id)
        # No periodic task runs in these tests: only the event can do it.
        server = self._wait_for_state_change(server, 'SHUTOFF',
                                             max_retries=60)
        self.assertEqual(power_state.SHUTDOWN,
                         server['OS-EXT-STS:power_state'])

    def test_a_workload_paused_outside_nova_is_reported_paused(self):
        server = self.boot(self.image, self.flavor)
        self.runtime.pause(self.workload(server).id)
        server = self._wait_for_server_parameter(
            server, {'OS-EXT-STS:power_state': power_state.PAUSED},
            max_retries=60)
        # Nova records what it sees; it does not act on a paused guest.
        self.assertEqual('ACTIVE', server['status'])

    def test_deleting_a_server_whose_containers_vanished_succeeds(self):
        server = self.boot(self.image, self.flavor)
        for container in self.pod_containers(server):
            self.runtime.remove(container.id, force=True)
        self._delete_server(server)

    def test_restarting_the_compute_service_keeps_every_server(self):
        servers = [self.boot(self.image, self.flavor) for _ in range(2)]
        before = sorted(c.id for s in servers
                        for c in self.pod_containers(s))
        self.restart_zun_compute('compute1')
        after = sorted(c.id for s in servers for c in self.pod_containers(s))
        self.assertEqual(before, after)
        self.assertEqual(sorted('nova-%s' % s['id'] for s in servers),
                         sorted(self.driver().list_instances()))
        for server in servers:
            server = self.api.get_server(server['id'])
            self.assertEqual('ACTIVE', server['status'])
            self.assertEqual(RUNNING, self.workload(server).state)
        # The restarted service still drives them.
        self._stop_server(servers[0])

    def test_restart_removes_pods_of_deleted_instances_only(self):
        server = self.boot(self.image, self.flavor)
        # A pod whose instance Nova deleted while the service was down,
        # and a container that is not ours.
        gone = self.boot(self.image, self.flavor)
        self.computes['compute1'].stop()
        self.api.delete_server(gone['id'])
        stranger = self.runtime.create_container(types.ContainerSpec(
            name='not-nova', image=self.test_images['sleeper'],
            labels={'owner': 'someone else'}))
        self.addCleanup(self.runtime.remove, stranger, force=True)
        self.restart_zun_compute('compute1')
        self.assertEqual([], self.pod_containers(gone))
        self.assertEqual(2, len(self.pod_containers(server)))
        self.assertEqual(stranger, self.runtime.status(stranger).id)


class TestTwoHosts(base.ZunDriverTestCase):

    def test_each_compute_service_sees_only_its_own_containers(self):
        self.start_zun_compute('compute1')
        self.start_zun_compute('compute2')
        flavor = self.container_flavor()
        image = self.glance_image_from('sleeper')
        one = self.boot(image, flavor, host='compute1')
        two = self.boot(image, flavor, host='compute2')
        self.assertEqual(['nova-%s' % one['id']],
                         self.driver('compute1').list_instances())
        self.assertEqual(['nova-%s' % two['id']],
                         self.driver('compute2').list_instances())
        self.assertEqual('compute2', self.workload(two).labels[labels.HOST])


class TestHostResources(base.ZunDriverTestCase):

    def test_host_reports_inventory_and_container_traits(self):
        self.start_zun_compute('compute1')
        info = self.runtime.engine_info()
        rp_uuid = self._get_provider_uuid_by_host('compute1')
        inventory = self._get_provider_inventory(rp_uuid)
        self.assertEqual(info.cpus, inventory['VCPU']['total'])
        self.assertEqual(info.memory_bytes >> 20,
                         inventory['MEMORY_MB']['total'])
        self.assertEqual(info.disk_total_bytes >> 30,
                         inventory['DISK_GB']['total'])
        traits = set(self._get_provider_traits(rp_uuid))
        self.assertIn('CUSTOM_ZUN_CONTAINER_HOST', traits)
        self.assertIn('CUSTOM_ZUN_RUNTIME_RUNC', traits)
        self.assertEqual('runsc' in info.runtimes,
                         'CUSTOM_ZUN_RUNTIME_RUNSC' in traits)
        # kata is configured but absent from this engine.
        self.assertNotIn('CUSTOM_ZUN_RUNTIME_KATA', traits)
        hypervisor = self.admin_api.api_get(
            '/os-hypervisors/detail').body['hypervisors'][0]
        self.assertEqual('docker', hypervisor['hypervisor_type'])

    def test_container_flavor_lands_only_on_container_hosts(self):
        self.start_zun_compute('compute1')
        flavor = self.container_flavor(extra_spec={
            'trait:CUSTOM_ZUN_CONTAINER_HOST': 'required'})
        server = self.boot(self.glance_image_from('sleeper'), flavor)
        self.assertEqual('compute1', server['OS-EXT-SRV-ATTR:host'])
