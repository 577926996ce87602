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


"""Nova servers as Zun containers: status from the power state, limits
and labels from server metadata anyone may set through Nova."""

import flask
import pytest

from zun_native_api import views

FLAVOR = {'ram': 96, 'vcpus': 2, 'extra_specs': {}}


def _view(**server):
    with flask.Flask(__name__).test_request_context():
        return views.container(dict({'id': 'c1', 'flavor': FLAVOR},
                                    **server))


@pytest.mark.parametrize('status, power_state, expected', [
    ('ACTIVE', 1, 'Running'),
    ('ACTIVE', 3, 'Paused'),
    ('ACTIVE', 4, 'Stopped'),
    ('ACTIVE', None, 'Running'),
    ('PAUSED', 3, 'Paused'),
    ('SHUTOFF', 4, 'Stopped'),
])
def test_an_active_servers_power_state_tells_paused_and_stopped(
        status, power_state, expected):
    assert expected == _view(**{
        'status': status, 'OS-EXT-STS:power_state': power_state})['status']


@pytest.mark.parametrize('metadata, memory, cpu', [
    ({}, '96', 2.0),
    ({'zun_memory': '64', 'zun_cpu': '0.5'}, '64', 0.5),
    ({'zun_memory': '4096', 'zun_cpu': '8'}, '96', 2.0),
    ({'zun_memory': 'lots', 'zun_cpu': 'nan'}, '96', 2.0),
    ({'zun_memory': '-1', 'zun_cpu': '0'}, '96', 2.0),
])
def test_limits_are_what_was_asked_within_the_flavor(metadata, memory, cpu):
    view = _view(metadata=metadata)
    assert (memory, cpu) == (view['memory'], view['cpu'])


@pytest.mark.parametrize('value, labels', [
    ('{"tier": "front"}', {'tier': 'front'}),
    ('not json', {}),
    ('["a"]', {}),
    ('{"a": 1}', {}),
])
def test_labels_are_a_json_object_of_strings_or_none(value, labels):
    assert labels == _view(metadata={'zun_labels': value})['labels']


@pytest.mark.parametrize('metadata, interactive, tty', [
    ({}, False, False),
    ({'zun_interactive': 'true'}, True, False),
    ({'zun_interactive': 'true', 'zun_tty': 'true'}, True, True),
    ({'zun_interactive': 'perhaps', 'zun_tty': 'false'}, False, False),
])
def test_interactive_and_tty_are_what_create_asked(
        metadata, interactive, tty):
    view = _view(metadata=metadata)
    assert (interactive, tty) == (view['interactive'], view['tty'])


def test_ports_give_zuns_addresses_by_network_id_and_group_ids():
    view = _view(addresses={'private': [{'addr': '10.0.0.5', 'version': 4}]},
                 security_groups=[{'name': 'default'}])
    assert ['default'] == view['security_groups']
    views.with_ports(view, [
        {'id': 'p1', 'network_id': 'n1', 'security_groups': ['g2', 'g1'],
         'fixed_ips': [{'ip_address': '10.0.0.5', 'subnet_id': 'v4'},
                       {'ip_address': 'fd00::5', 'subnet_id': 'v6'}]},
        {'id': 'p2', 'network_id': 'n2', 'security_groups': ['g1'],
         'fixed_ips': [{'ip_address': '10.1.0.5', 'subnet_id': 'w4'}]}])
    assert {'n1': [{'addr': '10.0.0.5', 'version': 4, 'port': 'p1',
                    'subnet_id': 'v4', 'preserve_on_delete': False},
                   {'addr': 'fd00::5', 'version': 6, 'port': 'p1',
                    'subnet_id': 'v6', 'preserve_on_delete': False}],
            'n2': [{'addr': '10.1.0.5', 'version': 4, 'port': 'p2',
                    'subnet_id': 'w4', 'preserve_on_delete': False}]} == \
        view['addresses']
    assert ['g1', 'g2'] == view['security_groups']


def test_without_ports_the_view_is_novas():
    view = _view(addresses={'private': [{'addr': '10.0.0.5', 'version': 4}]},
                 security_groups=[{'name': 'default'}])
    for ports in (None, []):
        assert view == views.with_ports(dict(view), ports)
