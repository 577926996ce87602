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

"""TenantIsolationFilter and the driver's claim-time check: the policy,
with no scheduler, database or engine."""

import threading
from unittest import mock

from nova import conf as nova_conf
from nova import exception
from nova import objects
from nova.tests.unit.scheduler import fakes
from oslo_utils.fixture import uuidsentinel as uuids
import pytest

from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun.scheduler import filters
from nova_zun.scheduler import isolation

objects.register_all()
CONF = nova_conf.CONF

ISOLATING = {'zun:tenant_isolation': 'true'}


@pytest.fixture
def mode():
    def set_mode(value):
        CONF.set_override('tenant_isolation', value, group='zun')
    yield set_mode
    CONF.clear_override('tenant_isolation', group='zun')


def flavor(extra_specs=None):
    return objects.Flavor(extra_specs=dict(extra_specs or {}))


def instance(uuid, project, extra_specs=None):
    inst = objects.Instance(uuid=uuid, project_id=project)
    if extra_specs is not None:
        inst.flavor = flavor(extra_specs)
    return inst


def host(*instances):
    return fakes.FakeHostState('host1', 'node1', {'cell_uuid': 'cell1'},
                               instances=list(instances))


def request(project, extra_specs=None, instance_uuid=uuids.new):
    return objects.RequestSpec(project_id=project, instance_uuid=instance_uuid,
                               flavor=flavor(extra_specs))


def passes(host_state, spec):
    return filters.TenantIsolationFilter().host_passes(host_state, spec)


def test_off_lets_projects_share(mode):
    mode('off')
    assert passes(host(instance(uuids.a1, 'A')), request('B'))


def test_off_is_the_default():
    assert CONF.zun.tenant_isolation == 'off'


@pytest.mark.parametrize('value', ['all', 'flavor'])
def test_an_empty_host_passes(mode, value):
    mode(value)
    assert passes(host(), request('B', ISOLATING))


def test_all_a_host_of_the_own_project_passes(mode):
    mode('all')
    assert passes(host(instance(uuids.a1, 'A'), instance(uuids.a2, 'A')),
                  request('A'))


def test_all_one_instance_of_another_project_fails_the_host(mode):
    mode('all')
    assert not passes(host(instance(uuids.a1, 'A'), instance(uuids.b1, 'B')),
                      request('A'))
    assert not passes(host(instance(uuids.b1, 'B')), request('A'))


def test_the_instance_being_placed_does_not_count(mode):
    mode('all')
    # e.g. a move that considers the host the instance is on
    assert passes(host(instance(uuids.b1, 'B')),
                  request('B', instance_uuid=uuids.b1))


def test_flavor_mode_isolates_only_flavors_that_ask(mode):
    mode('flavor')
    shared = host(instance(uuids.b1, 'B', {}))
    assert passes(shared, request('A'))
    assert not passes(shared, request('A', ISOLATING))
    assert passes(shared, request('B', ISOLATING))


def test_flavor_mode_keeps_strangers_away_from_isolated_instances(mode):
    mode('flavor')
    dedicated = host(instance(uuids.b1, 'B', ISOLATING))
    assert not passes(dedicated, request('A'))
    assert passes(dedicated, request('B'))


@pytest.mark.parametrize('value', ['false', 'no', 'nonsense'])
def test_an_extra_spec_that_does_not_say_yes_does_not_isolate(mode, value):
    mode('flavor')
    assert passes(host(instance(uuids.b1, 'B', {})),
                  request('A', {'zun:tenant_isolation': value}))


def test_instances_known_by_uuid_only_are_read_from_the_database(mode):
    # Without track_instance_changes Nova's host state holds Instance
    # objects with a uuid and nothing else.
    mode('all')
    bare = host(objects.Instance(uuid=uuids.x1), instance(uuids.a1, 'A'))
    with mock.patch.object(isolation, 'cell_context',
                           autospec=True) as cell_context, \
            mock.patch.object(objects.InstanceList, 'get_by_filters',
                              autospec=True,
                              return_value=[instance(uuids.x1, 'B')]) as get:
        assert not passes(bare, request('A'))
    get.assert_called_once_with(cell_context.return_value,
                                filters={'uuid': [uuids.x1], 'deleted': False},
                                expected_attrs=[])
    cell_context.assert_called_once_with('cell1', mock.ANY)


def test_flavors_not_in_the_host_state_are_read_from_the_database(mode):
    mode('flavor')
    state = host(instance(uuids.b1, 'B'))  # no flavor loaded
    with mock.patch.object(isolation, 'cell_context', autospec=True), \
            mock.patch.object(objects.InstanceList, 'get_by_filters',
                              autospec=True,
                              return_value=[instance(uuids.b1, 'B', ISOLATING)]
                              ) as get:
        assert not passes(state, request('A'))
    assert get.call_args.kwargs['expected_attrs'] == ['flavor']


def test_no_database_read_when_the_host_state_knows_enough(mode):
    mode('flavor')
    state = host(instance(uuids.a1, 'A'), instance(uuids.b1, 'B', {}))
    with mock.patch.object(objects.InstanceList, 'get_by_filters',
                           autospec=True) as get:
        assert passes(state, request('A'))
        assert not passes(state, request('A', ISOLATING))
    get.assert_not_called()


def test_the_filter_skips_rebuilds_and_runs_once_per_request():
    assert filters.TenantIsolationFilter.RUN_ON_REBUILD is False
    assert filters.TenantIsolationFilter.run_filter_once_per_request


# -- the driver's claim-time check -------------------------------------------

class FakeRuntime:

    def __init__(self, *pods):
        self.containers = [self.container(*pod) for pod in pods]

    @staticmethod
    def container(uuid, project, host='host1'):
        return types.ContainerStatus(
            id=uuid, name='nova-%s' % uuid, image='img',
            state=types.ContainerState.RUNNING,
            labels={labels.INSTANCE: uuid, labels.PROJECT: project,
                    labels.HOST: host})

    def list_containers(self, wanted=None):
        return [c for c in self.containers
                if all(c.labels.get(k) == v
                       for k, v in (wanted or {}).items())]


def claim(mode, runtime, project, extra_specs=None, uuid=uuids.new):
    inst = objects.Instance(uuid=uuid, project_id=project,
                            flavor=flavor(extra_specs))
    return isolation.HostClaim(mode, runtime, 'host1', mock.sentinel.ctxt,
                               inst)


def test_claim_refuses_a_host_running_another_projects_instances():
    runtime = FakeRuntime((uuids.b1, 'B'), (uuids.a1, 'A', 'host2'))
    with pytest.raises(exception.ComputeResourcesUnavailable,
                       match='another project'):
        with claim('all', runtime, 'A'):
            pass
    with claim('all', runtime, 'B'):
        pass
    with claim('off', runtime, 'A'):
        pass


def test_claim_in_flavor_mode_reads_neighbours_flavors():
    runtime = FakeRuntime((uuids.b1, 'B'))
    with mock.patch.object(isolation, 'isolated_instances', autospec=True,
                           return_value={uuids.b1}) as isolated:
        with pytest.raises(exception.ComputeResourcesUnavailable):
            with claim('flavor', runtime, 'A'):
                pass
    isolated.assert_called_once_with(mock.sentinel.ctxt, {uuids.b1})
    with mock.patch.object(isolation, 'isolated_instances', autospec=True,
                           return_value=set()):
        with claim('flavor', runtime, 'A'):
            pass


def test_concurrent_claims_of_two_projects_for_an_empty_host():
    """Exactly one of two racing projects gets the host.

    The second claim waits for the first, whose container then exists.
    """
    runtime = FakeRuntime()
    inside = threading.Event()
    release = threading.Event()
    results = {}

    def first():
        with claim('all', runtime, 'A', uuid=uuids.a1):
            inside.set()
            release.wait(5)
            runtime.containers.append(runtime.container(uuids.a1, 'A'))
        results['A'] = 'claimed'

    def second():
        inside.wait(5)
        try:
            with claim('all', runtime, 'B', uuid=uuids.b1):
                results['B'] = 'claimed'
        except exception.ComputeResourcesUnavailable:
            results['B'] = 'refused'

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    inside.wait(5)
    release.set()
    for t in threads:
        t.join(10)
    assert results == {'A': 'claimed', 'B': 'refused'}


def test_a_failed_check_releases_the_host_lock():
    runtime = FakeRuntime((uuids.b1, 'B'))
    for _ in range(2):
        with pytest.raises(exception.ComputeResourcesUnavailable):
            with claim('all', runtime, 'A'):
                pass
    with claim('all', runtime, 'B'):
        pass
