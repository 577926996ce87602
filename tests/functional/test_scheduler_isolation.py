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

"""Tenant isolation through Nova's API: two compute hosts, servers of several
projects, TenantIsolationFilter enabled in nova-scheduler.

The scheduler is set to stack (the host with the most instances wins), so
that without isolation a second project's server would go
where the first one's is; isolation has to keep it away.
"""

import threading
import time
from unittest import mock

from nova.tests.functional.api import client
from oslo_utils.fixture import uuidsentinel as uuids

from nova_zun.scheduler import filters as zun_filters
from nova_zun.scheduler import isolation

from tests.functional import base

FILTER = 'TenantIsolationFilter'
FILTER_PATH = 'nova_zun.scheduler.filters.TenantIsolationFilter'
PROJECTS = {'A': uuids.project_a, 'B': uuids.project_b,
            'C': uuids.project_c}


class IsolationTestCase(base.ZunDriverTestCase):
    mode = 'all'
    track_instance_changes = True
    hosts = ('compute1', 'compute2')

    def setUp(self):
        # The scheduler loads its filters when it starts, in setUp.
        self.flags(available_filters=['nova.scheduler.filters.all_filters',
                                      FILTER_PATH],
                   enabled_filters=['ComputeFilter',
                                    'ComputeCapabilitiesFilter',
                                    'ImagePropertiesFilter', FILTER],
                   track_instance_changes=self.track_instance_changes,
                   weight_classes=[
                       'nova.scheduler.weights.num_instances.'
                       'NumInstancesWeigher'],
                   num_instances_weight_multiplier=1.0,
                   group='filter_scheduler')
        self.flags(tenant_isolation=self.mode, group='zun')
        super().setUp()
        for host in self.hosts:
            self.start_zun_compute(host)
        self.image = self.glance_image_from('sleeper')
        self.flavor = self.container_flavor()
        self.apis = {}
        for name, project_id in PROJECTS.items():
            api = client.TestOpenStackClient(
                'user-' + name, self.api_fixture.api.base_url,
                project_id=project_id, roles=['reader', 'member'])
            api.microversion = self.microversion
            self.apis[name] = api

    def boot_as(self, project, flavor=None, expected_state='ACTIVE'):
        server = self.apis[project].post_server({'server': {
            'name': 'zun-%s' % project, 'imageRef': self.image,
            'flavorRef': flavor or self.flavor, 'networks': 'none'}})
        return self._wait_for_state_change(server, expected_state,
                                           max_retries=60)

    def wait_settled(self, server, timeout=60):
        """Wait for ACTIVE, or ERROR with its fault."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.admin_api.get_server(server['id'])
            if server['status'] == 'ACTIVE' or (
                    server['status'] == 'ERROR' and 'fault' in server):
                return server
            time.sleep(0.2)
        self.fail('server %s still %s' % (server['id'], server['status']))

    @staticmethod
    def host_of(server):
        return server['OS-EXT-SRV-ATTR:host']

    def hosts_by_project(self):
        """``{project id: {host}}`` of every ACTIVE server, from Nova."""
        found = {}
        for server in self.admin_api.get_servers(
                detail=True, search_opts={'all_tenants': 1}):
            if server['status'] == 'ACTIVE':
                found.setdefault(server['tenant_id'], set()).add(
                    self.host_of(server))
        return found

    def assertNoHostShared(self):
        seen = {}
        for project, hosts in self.hosts_by_project().items():
            for host in hosts:
                self.assertNotIn(host, seen, 'projects %s and %s share %s'
                                 % (seen.get(host), project, host))
                seen[host] = project

    def assertNoValidHost(self, server):
        self.assertEqual('ERROR', server['status'])
        self.assertIn('No valid host', server['fault']['message'])
        self.assertEqual([], self.pod_containers(server))


class TestIsolationOn(IsolationTestCase):

    def test_projects_never_share_a_host_and_a_third_finds_none(self):
        a1 = self.boot_as('A')
        # Stacking would put B's server beside A's.
        b1 = self.boot_as('B')
        self.assertNotEqual(self.host_of(a1), self.host_of(b1))
        a2 = self.boot_as('A')
        b2 = self.boot_as('B')
        self.assertEqual(self.host_of(a1), self.host_of(a2))
        self.assertEqual(self.host_of(b1), self.host_of(b2))
        self.assertNoHostShared()
        # Both hosts are taken: a third project has nowhere to go.
        self.assertNoValidHost(self.boot_as('C', expected_state='ERROR'))
        # A host that empties is anyone's again.
        for server in (a1, a2):
            self._delete_server(server)
        c1 = self.boot_as('C')
        self.assertEqual(self.host_of(a1), self.host_of(c1))
        self.assertNoHostShared()

    def test_a_boot_the_scheduler_let_through_is_refused_by_the_host(self):
        """A host refuses a boot the scheduler let through; Nova reschedules.

        The scheduler's view trails the hosts (two projects' boots can be
        scheduled to one empty host before either lands). Here it sees no
        instance anywhere: compute1, where A's server runs, is its first
        choice for B; compute1 refuses the claim and Nova reschedules B to its
        alternate.
        """
        a1 = self.boot_as('A')
        busy = self.host_of(a1)
        refused = []
        real_enter = isolation.HostClaim.__enter__

        def enter(claim):
            try:
                return real_enter(claim)
            except Exception:
                refused.append(claim.host)
                raise

        with mock.patch.object(zun_filters.TenantIsolationFilter,
                               'host_passes', autospec=True,
                               return_value=True), \
                mock.patch.object(isolation.HostClaim, '__enter__', enter):
            b1 = self.boot_as('B')
        self.assertEqual([busy], refused)
        self.assertNotEqual(busy, self.host_of(b1))
        self.assertNoHostShared()


class TestIsolationOnOneHost(IsolationTestCase):
    hosts = ('compute1',)

    def test_concurrent_boots_of_two_projects_never_share_a_host(self):
        # One empty host, two projects booting at the same moment: one gets
        # it (the filter or the host's claim refuses the other).
        servers = []
        barrier = threading.Barrier(2)

        def post(project):
            barrier.wait(10)
            servers.append(self.apis[project].post_server({'server': {
                'name': 'race-%s' % project, 'imageRef': self.image,
                'flavorRef': self.flavor, 'networks': 'none'}}))

        threads = [threading.Thread(target=post, args=(p,)) for p in 'AB']
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(2, len(servers))
        results = [self.wait_settled(s) for s in servers]
        self.assertEqual(['ACTIVE', 'ERROR'],
                         sorted(s['status'] for s in results),
                         [s.get('fault') for s in results])
        self.assertNoHostShared()
        loser = next(s for s in results if s['status'] == 'ERROR')
        self.assertEqual([], self.pod_containers(loser))


class TestIsolationWithoutInstanceTracking(IsolationTestCase):
    """Isolation holds with the scheduler's track_instance_changes off.

    The scheduler then knows each host's instances by uuid only; the filter
    reads their projects itself.
    """
    track_instance_changes = False

    def test_projects_never_share_a_host(self):
        a1 = self.boot_as('A')
        b1 = self.boot_as('B')
        self.assertNotEqual(self.host_of(a1), self.host_of(b1))
        self.assertNoValidHost(self.boot_as('C', expected_state='ERROR'))
        self.assertNoHostShared()


class TestIsolationOff(IsolationTestCase):
    mode = 'off'

    def test_projects_may_share_a_host(self):
        servers = [self.boot_as(p) for p in 'ABC']
        # Stacking puts them all on one host.
        self.assertEqual(1, len({self.host_of(s) for s in servers}))


class TestIsolationByFlavor(IsolationTestCase):
    mode = 'flavor'

    def test_only_flavors_that_ask_are_isolated(self):
        isolating = self.container_flavor(
            extra_spec={isolation.SPEC_ISOLATION: 'true'})
        a1 = self.boot_as('A', isolating)
        # B's plain server may not join A's isolated one ...
        b1 = self.boot_as('B')
        self.assertNotEqual(self.host_of(a1), self.host_of(b1))
        # ... but C's plain one may join B's plain one ...
        c1 = self.boot_as('C')
        self.assertEqual(self.host_of(b1), self.host_of(c1))
        # ... A's plain one may go to its own project's host ...
        a2 = self.boot_as('A')
        self.assertIn(self.host_of(a2), (self.host_of(a1), self.host_of(b1)))
        # ... and an isolated server of C's finds no host of C's alone.
        self.assertNoValidHost(self.boot_as('C', isolating,
                                            expected_state='ERROR'))
