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

"""OCI runtimes per flavor or image, through Nova's API: two compute hosts,
compute1 on the suite's engine (runc and runsc) and compute2 on an engine of
its own without runsc; placement sends runsc servers only to compute1. A
gVisor server on a Neutron network talks TCP with a runc peer.
"""

import errno
import glob
import os
from unittest import mock

import pytest

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun.runtime import shims
from nova_zun_workshop.functional.base import privsep_capabilities

from tests.functional import base
from tests import prerequisites

RUNSC_TRAIT = 'CUSTOM_ZUN_RUNTIME_RUNSC'
RUNSC_FLAVOR = {'zun:runtime': 'runsc',
                'trait:%s' % RUNSC_TRAIT: 'required'}


def in_gvisor(test, server):
    """The workload's kernel log, read from inside: gVisor's own."""
    result = test.runtime.exec('nova-%s' % server['id'], ['dmesg'],
                               timeout=30)
    test.assertEqual(0, result.exit_code, result.output)
    return b'gVisor' in result.output


class TestRuntimes(base.ZunDriverTestCase):

    @pytest.fixture(autouse=True)
    def _second_engine(self, engine_without_runsc, private_engine):
        self.suite_engine = private_engine
        self.plain_engine = engine_without_runsc
        self.plain_runtime = docker_runtime.DockerRuntime(
            engine_without_runsc.url, timeout=60)

    def setUp(self):
        super().setUp()
        prerequisites.require_oci_runtime(self.runtime, 'runsc')
        self.start_zun_compute('compute1')
        self.start_zun_compute('compute2', engine_url=self.plain_engine.url)
        self.image = self.glance_image_from('sleeper')

    def traits(self, host):
        return set(self._get_provider_traits(
            self._get_provider_uuid_by_host(host)))

    def all_pods(self, server):
        return (self.pod_containers(server) +
                self.plain_runtime.list_containers(
                    {labels.INSTANCE: server['id']}))

    def test_hosts_advertise_the_runtimes_their_engines_have(self):
        self.assertLessEqual({'CUSTOM_ZUN_CONTAINER_HOST',
                              'CUSTOM_ZUN_RUNTIME_RUNC', RUNSC_TRAIT},
                             self.traits('compute1'))
        plain = self.traits('compute2')
        self.assertLessEqual({'CUSTOM_ZUN_CONTAINER_HOST',
                              'CUSTOM_ZUN_RUNTIME_RUNC'}, plain)
        self.assertNotIn(RUNSC_TRAIT, plain)
        # kata is in [zun] runtimes by default and in neither engine.
        for host in ('compute1', 'compute2'):
            self.assertNotIn('CUSTOM_ZUN_RUNTIME_KATA', self.traits(host))

    def test_runsc_flavor_runs_under_gvisor_on_the_runsc_host_only(self):
        flavor = self.container_flavor(memory_mb=256, extra_spec=RUNSC_FLAVOR)
        # Without the trait the scheduler prefers compute2 here (tried: all
        # three such boots went there, and failed fast); the trait alone
        # keeps them on compute1.
        servers = [self.boot(self.image, flavor) for _ in range(3)]
        for server in servers:
            self.assertEqual('compute1', server['OS-EXT-SRV-ATTR:host'])
            workload = self.workload(server)
            self.assertEqual('runsc', workload.runtime)
            self.assertTrue(in_gvisor(self, server))
            # The pod's namespace belongs to a runc sandbox; the gVisor
            # workload joins it (runsc --network=host inside it).
            sandbox = self.sandbox(server)
            self.assertEqual('runc', sandbox.runtime)
            self.assertEqual('container:%s' % sandbox.id,
                             workload.details['HostConfig']['NetworkMode'])
        for server in servers:
            self._delete_server(server)
            self.assertEqual([], self.pod_containers(server))

    def test_runc_servers_run_on_both_hosts(self):
        flavor = self.container_flavor()
        for host, runtime in (('compute1', self.runtime),
                              ('compute2', self.plain_runtime)):
            server = self.boot(self.image, flavor, host=host)
            self.assertEqual(host, server['OS-EXT-SRV-ATTR:host'])
            workload = runtime.status('nova-%s' % server['id'])
            self.assertEqual('runc', workload.runtime)
            self.assertNotIn(b'gVisor', runtime.exec(
                workload.id, ['dmesg'], timeout=30).output)

    def test_the_image_property_chooses_runsc(self):
        self.flags(image_runtimes=['runsc'], group='zun')
        # Glance images can carry required traits as flavors do.
        image = self.glance_image_from('sleeper', properties={
            'zun_runtime': 'runsc', 'trait:%s' % RUNSC_TRAIT: 'required'})
        flavor = self.container_flavor(memory_mb=256)
        server = self.boot(image, flavor)
        self.assertEqual('compute1', server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('runsc', self.workload(server).runtime)
        self.assertTrue(in_gvisor(self, server))

    def test_an_image_cannot_weaken_the_default_runtime(self):
        # The operator defaults to gVisor; an image owner asks for runc.
        self.flags(default_runtime='runsc', group='zun')
        image = self.glance_image_from('sleeper',
                                       properties={'zun_runtime': 'runc'})
        flavor = self.container_flavor(memory_mb=256)
        server = self.boot(image, flavor, host='compute1',
                           expected_state='ERROR')
        self.assertIn("images may not choose container runtime 'runc' here "
                      "(image property zun_runtime; [zun] image_runtimes: "
                      "none)", server['fault']['message'])
        self.assertEqual([], self.all_pods(server))

    def test_the_flavor_runtime_wins_over_the_image_property(self):
        image = self.glance_image_from('sleeper',
                                       properties={'zun_runtime': 'runsc'})
        flavor = self.container_flavor(extra_spec={'zun:runtime': 'runc'})
        server = self.boot(image, flavor, host='compute1')
        self.assertEqual('runc', self.workload(server).runtime)

    def test_runsc_on_a_host_without_it_fails_fast_and_leaves_nothing(self):
        # A flavor that forgot the trait, on the host that lacks runsc: the
        # build ends at once (no fallback to runc, no retry elsewhere).
        flavor = self.container_flavor(extra_spec={'zun:runtime': 'runsc'})
        server = self.boot(self.image, flavor, host='compute2',
                           expected_state='ERROR')
        self.assertIn("container runtime 'runsc' (engine runtime 'runsc') "
                      "is not available on host compute2",
                      server['fault']['message'])
        self.assertEqual([], self.all_pods(server))

    def test_kata_with_its_trait_finds_no_host(self):
        # kata is configured but no engine here has it: no host advertises
        # CUSTOM_ZUN_RUNTIME_KATA, so placement finds none.
        flavor = self.container_flavor(extra_spec={
            'zun:runtime': 'kata',
            'trait:CUSTOM_ZUN_RUNTIME_KATA': 'required'})
        server = self.boot(self.image, flavor, expected_state='ERROR')
        self.assertIn('No valid host', server['fault']['message'])
        self.assertEqual([], self.all_pods(server))

    def test_a_failed_runsc_start_leaves_no_shim_or_runsc_state(self):
        # runsc boots its sandbox before it finds the command missing; the
        # engine then leaves containerd's shim, runsc's sandbox and gofer
        # processes and runsc's state behind unless the runtime reaps them.
        flavor = self.container_flavor(memory_mb=256, extra_spec=RUNSC_FLAVOR)
        runtime = self.driver('compute1').runtime
        created = []
        real_create = runtime.create_container

        def create(spec):
            created.append(real_create(spec))
            return created[-1]

        # nova-compute need not run as root: its own process may not signal
        # root's shims (as a service user may not), nova-zun's privsep
        # daemon does.
        with mock.patch.object(runtime, 'create_container', create), \
                mock.patch.object(shims, 'reap', autospec=True,
                                  side_effect=PermissionError(
                                      errno.EPERM, 'Operation not permitted')):
            server = self.boot(self.image, flavor, expected_state='ERROR',
                               metadata={'zun_command': '["/nonexistent"]'})
        # The engine refused to start what the metadata asks: no other
        # host would, and the fault says why.
        fault = server['fault']['message']
        self.assertIn('the container did not start', fault)
        self.assertIn('failed to load /nonexistent', fault)
        self.assertEqual([], self.all_pods(server))
        self.assertTrue(created)
        for container_id in created:
            self.assertEqual(
                {}, {pid: cmd for pid, cmd in
                     self.suite_engine.processes().items()
                     if container_id in cmd},
                'processes of the failed container left running')
            self.assertEqual(
                [], glob.glob(os.path.join(self.suite_engine.base_dir, '**',
                                           '*%s*' % container_id),
                              recursive=True),
                'state of the failed container left behind')
        self.assertEqual({'CAP_KILL', 'CAP_SYS_PTRACE'},
                         privsep_capabilities('shim_admin'))


class TestRunscNetworking(base.NetworkFixtureMixin,
                          base.ZunDriverTestCase):
    """gVisor's host networking in the pod's namespace carries TCP.

    runsc's own network stack refuses a namespace it did not make, so a gVisor
    workload runs with ``--network=host`` inside the pod's namespace, where
    os-vif plugged the port. Raw sockets are not carried: no ping.
    """

    def setUp(self):
        super().setUp()
        prerequisites.require_oci_runtime(self.runtime, 'runsc')
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')

    def test_a_gvisor_server_talks_tcp_with_its_peer_both_ways(self):
        gvisor = self.container_flavor(memory_mb=256,
                                       extra_spec=RUNSC_FLAVOR)
        peer = self.boot_on(self.neutron.net_a)
        sandboxed = self.boot_on(self.neutron.net_a, flavor=gvisor)
        self.assertEqual('runsc', self.workload(sandboxed).runtime)
        self.assertTrue(in_gvisor(self, sandboxed))
        peer_port, = self.ports_of(peer)
        sandboxed_port, = self.ports_of(sandboxed)
        self.assertTcpWorks(sandboxed, peer, self.v4(peer_port))
        self.assertTcpWorks(peer, sandboxed, self.v4(sandboxed_port))
        port_ids = [peer_port['id'], sandboxed_port['id']]
        for server in (peer, sandboxed):
            self._delete_server(server)
            self.assertEqual([], self.pod_containers(server))
        self.assertEqual([], self.host_leftovers(port_ids))
