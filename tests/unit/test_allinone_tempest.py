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

"""tools/tempest's tempest.conf follows the cloud, and its test list."""

import io
import os
from unittest import mock

import pytest

from nova_zun_workshop.allinone import cloud
from nova_zun_workshop.allinone import configs
from nova_zun_workshop.allinone import tempest


def _facts(tmp_path, computes=1, options=None, external=None,
           serialproxy=False):
    facts = mock.create_autospec(tempest.CloudFacts, instance=True)
    facts.cloud = cloud.Cloud(str(tmp_path), cloud.DEFAULT_PORT_BASE,
                              out=io.StringIO())
    facts.catalog = {'identity', 'compute', 'image', 'network',
                     'placement'}
    facts.networking = external
    facts.image_id.return_value = 'image-id'
    facts.flavor_id.side_effect = lambda name, ram=None: name + '-id'
    facts.microversions.return_value = ('2.1', '2.100')
    facts.computes_up.return_value = computes
    facts.nova_option.side_effect = (
        lambda section, name, default: (options or {}).get(name, default))
    facts.runs.side_effect = lambda name: (
        serialproxy and name == 'nova-serialproxy')
    facts.network_extensions.return_value = ['router', 'security-group']
    return facts


def test_one_host_without_same_host_resize_turns_moves_off(tmp_path):
    conf = tempest.tempest_conf(_facts(tmp_path), str(tmp_path))
    features = conf['compute-feature-enabled']
    assert features['resize'] == 'false'
    assert features['cold_migration'] == 'false'
    assert features['live_migration'] == 'false'
    assert conf['compute']['min_compute_nodes'] == '1'
    assert conf['compute']['flavor_ref_alt'] == tempest.ALT_FLAVOR + '-id'
    assert conf['compute']['max_microversion'] == '2.100'
    assert conf['validation']['run_validation'] == 'false'


def test_resize_follows_same_host_resize_and_moves_a_second_host(tmp_path):
    same = tempest.tempest_conf(
        _facts(tmp_path, options={'allow_resize_to_same_host': 'True'}),
        str(tmp_path))['compute-feature-enabled']
    assert (same['resize'], same['cold_migration']) == ('true', 'false')
    two = tempest.tempest_conf(_facts(tmp_path, computes=2),
                               str(tmp_path))['compute-feature-enabled']
    assert (two['resize'], two['cold_migration']) == ('true', 'true')


def test_serial_console_only_where_the_cloud_runs_its_proxy(tmp_path):
    assert tempest.tempest_conf(_facts(tmp_path), str(tmp_path))[
        'compute-feature-enabled']['serial_console'] == 'false'
    assert tempest.tempest_conf(_facts(tmp_path, serialproxy=True),
                                str(tmp_path))[
        'compute-feature-enabled']['serial_console'] == 'true'


def test_network_tests_follow_port_binding(tmp_path):
    without = tempest.tempest_conf(_facts(tmp_path), str(tmp_path))
    assert without['auth']['create_isolated_networks'] == 'false'
    assert without['compute-feature-enabled']['interface_attach'] == 'false'
    assert 'network' not in without
    bound = tempest.tempest_conf(_facts(tmp_path, external='public-id'),
                                 str(tmp_path))
    assert bound['auth']['create_isolated_networks'] == 'true'
    assert bound['compute-feature-enabled']['interface_attach'] == 'true'
    assert bound['network']['public_network_id'] == 'public-id'
    assert bound['network-feature-enabled']['api_extensions'] == (
        'router,security-group')
    # Neutron's API is there either way.
    assert without['service_available']['neutron'] == 'true'
    assert without['service_available']['cinder'] == 'false'


def test_the_test_list_has_includes_excludes_and_network_tests(tmp_path):
    path = tmp_path / 'tests.txt'
    path.write_text('# a comment\nfoo\\.bar  # why\n-foo\\.bar\\.baz\n'
                    'network: foo\\.net\n\n')
    assert tempest.read_tests(str(path)) == (
        ['foo\\.bar'], ['foo\\.bar\\.baz'], ['foo\\.net'])


@pytest.mark.parametrize('path', [tempest.TEST_LIST, tempest.MOVES_LIST])
def test_the_committed_lists_run_compute_api_tests(path):
    include, _, network = tempest.read_tests(path)
    assert include and network
    assert all(r.startswith('tempest\\.api\\.compute') for r in include)


def _networked_facts(compute_hosts, agents):
    """CloudFacts of a cloud with these hosts and binding agents' hosts."""
    facts = object.__new__(tempest.CloudFacts)
    facts.catalog = {'compute', 'network'}
    facts.compute_hosts = compute_hosts
    listed = {'/v2.0/agents': {'agents': [
        {'host': h, 'alive': True, 'binary': 'ovn-controller'}
        for h in agents]},
        '/v2.0/networks': {'networks': [{'id': 'public-id'}]}}
    facts.network = mock.Mock()
    facts.network.get.side_effect = lambda path, **kw: mock.Mock(
        ok=True, json=lambda: listed[path])
    return facts


def test_ports_bound_on_every_compute_host_turn_networks_on():
    facts = _networked_facts(['h', 'h-2'], ['h', 'h-2'])
    assert facts.networking == 'public-id'


def test_a_compute_host_that_binds_no_port_turns_networks_off():
    # The all-in-one's second host: Tempest's servers may land on it or
    # move to it, so they boot with no network.
    facts = _networked_facts(['h', 'h-2'], ['h'])
    assert facts.networking is None
    assert facts.no_networking_reason() == (
        'ports are bound on h only, not on h-2')
    assert _networked_facts(['h'], []).no_networking_reason() == (
        'the cloud binds no ports')


def test_scheduler_hints_follow_the_cloud_s_filters(tmp_path):
    aio = cloud.Cloud(str(tmp_path), cloud.DEFAULT_PORT_BASE,
                      out=io.StringIO())
    os.makedirs(aio.dirs['nova'])
    configs.scheduling(aio)
    facts = object.__new__(tempest.CloudFacts)
    facts.cloud = aio
    enabled = facts.scheduler_filters().split(',')
    assert {'SameHostFilter', 'DifferentHostFilter',
            'ServerGroupAffinityFilter', 'TenantIsolationFilter'} <= set(
                enabled)


@pytest.mark.parametrize('status,counted', [
    ('success', 'passed'), ('xfail', 'passed'), ('skip', 'skipped'),
    ('fail', 'failed'), ('uxsuccess', 'failed')])
def test_every_result_is_counted(status, counted):
    out = io.StringIO()
    counts = tempest.report([{'id': 't', 'status': status, 'seconds': 1.0,
                              'reason': 'why', 'traceback': 'tb'}], out)
    assert counts[counted] == 1
    assert sum(counts.values()) == 1
    if status == 'skip':
        assert '1: why' in out.getvalue()
