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

"""What the native API sends Nova and Glance (through keystoneauth and
requests, only the HTTP transport faked) and how it reads the answers:
exact name lookups whatever the database, pages, errors."""

import json
import logging
from unittest import mock
from urllib import parse as urlparse

from oslo_config import cfg
from oslo_context import context as oslo_context
import pytest
import requests
from requests import adapters

from zun_native_api import conf as api_conf
from zun_native_api import nova

NOVA = 'http://compute.example/v2.1'
GLANCE = 'http://image.example'
SPEC = {'trait:CUSTOM_ZUN_CONTAINER_HOST': 'required'}
NASTY_NAMES = ['rel1|demo', 'd%2E%2A', 'd.*', 'nomatch&name=demo', 'demo#x',
               'demo\\', '(demo)', '[a-z]+', 'd\U0001F600mo', '\U0001F600',
               'caf\u00e9', '^demo$', 'a b', "it's", 'x' * 255, '%', '']


def _server(name, ident=None, container=True):
    return {'id': ident or name, 'name': name,
            'flavor': {'extra_specs': SPEC if container else {}}}


class Transport:
    """Answers of the fake HTTP transport, in order; the requests sent.

    Each answer is ``(status, body, headers)`` or an exception to raise.
    """

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def send(self, adapter, request, **kwargs):
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = answer
        response = requests.Response()
        response.status_code = status
        response.url = request.url
        response.request = request
        response.headers.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            response.headers['Content-Type'] = 'application/json'
        response._content = (body or '').encode('utf-8')
        return response

    def query(self, index=-1):
        """The query of a request sent, parsed."""
        return urlparse.parse_qs(urlparse.urlsplit(
            self.sent[index].url).query, keep_blank_values=True)

    def path(self, index=-1):
        return urlparse.urlsplit(self.sent[index].url).path


@pytest.fixture
def transport():
    fake = Transport()

    # A function, not an autospecced mock: the functional tests that run
    # earlier in the same process may have left HTTPAdapter.send wrapped.
    def send(adapter, request, **kwargs):
        return fake.send(adapter, request, **kwargs)

    with mock.patch.object(adapters.HTTPAdapter, 'send', send):
        yield fake


@pytest.fixture
def api():
    conf = cfg.ConfigOpts()
    api_conf.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override('nova_endpoint', NOVA, group='native_api')
    conf.set_override('glance_endpoint', GLANCE, group='native_api')
    return nova.Nova(conf, oslo_context.RequestContext(auth_token='t'))


@pytest.mark.parametrize('name', NASTY_NAMES)
def test_the_name_filter_is_literal_ascii_from_the_name(name):
    pattern = nova.name_filter(name)
    if pattern is not None:
        assert pattern in name
        assert set(pattern) <= set('abcdefghijklmnopqrstuvwxyz'
                                   'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
                                   '0123456789_. -')


def test_the_name_filter_is_the_longest_safe_part():
    assert 'demo' == nova.name_filter('demo')
    assert 'web.1' == nova.name_filter('web.1')
    assert 'rel10' == nova.name_filter('rel10|demo')
    assert None is nova.name_filter('\U0001F600|')


@pytest.mark.parametrize('name', NASTY_NAMES)
def test_a_name_is_sent_encoded_and_only_exact_matches_count(
        api, transport, name):
    wanted = _server(name, 'wanted')
    transport.answers.append((200, {'servers': [
        _server('demo'), _server(name + 'x'), _server(name.upper() + 'y'),
        wanted, _server(name, 'vm', container=False)]}, {}))
    assert wanted == api.get(name)
    (request,) = transport.sent
    assert '/v2.1/servers/detail' == transport.path()
    pattern = nova.name_filter(name)
    assert ({'name': [pattern]} if pattern else {}) == transport.query()


def test_all_projects_and_marker_are_parameters(api, transport):
    transport.answers.append((200, {'servers': []}, {}))
    assert [] == list(api.list(all_projects=True, name='a&b',
                               marker='m&x=1'))
    assert {'all_tenants': ['1'], 'name': ['a'],
            'marker': ['m&x=1']} == transport.query()


def test_two_containers_of_one_name_are_409(api, transport):
    transport.answers.append((200, {'servers': [
        _server('a', 'one'), _server('a', 'two')]}, {}))
    with pytest.raises(nova.NovaError) as error:
        api.get('a')
    assert 409 == error.value.status


def test_lists_go_on_page_after_page(api, transport):
    more = [{'rel': 'next', 'href': NOVA + '/servers/detail?marker=s2'}]
    transport.answers += [
        (200, {'servers': [_server('a', 's1'), _server('b', 's2')],
               'servers_links': more}, {}),
        (200, {'servers': [_server('c', 's3')]}, {})]
    assert ['s1', 's2', 's3'] == [s['id'] for s in api.list()]
    assert {} == transport.query(0)
    assert {'marker': ['s2']} == transport.query(1)


def test_a_list_reads_no_page_it_does_not_need(api, transport):
    more = [{'rel': 'next', 'href': NOVA + '/servers/detail?marker=s1'}]
    transport.answers.append((200, {'servers': [_server('a', 's1')],
                                    'servers_links': more}, {}))
    servers = api.list()
    assert 's1' == next(servers)['id']
    assert 1 == len(transport.sent)


def test_flavors_are_read_page_after_page(api, transport):
    more = [{'rel': 'next', 'href': NOVA + '/flavors/detail?marker=f1'}]
    small = {'id': 'f1', 'vcpus': 1, 'ram': 64, 'extra_specs': SPEC}
    big = {'id': 'f2', 'vcpus': 4, 'ram': 4096, 'extra_specs': SPEC}
    transport.answers += [
        (200, {'flavors': [small], 'flavors_links': more}, {}),
        (200, {'flavors': [big]}, {})]
    assert 'f2' == api.flavor_for(2, 1024)['id']


def test_a_nova_failure_is_502_and_logged_with_its_cause(api, transport,
                                                         caplog):
    transport.answers.append((500, {'computeFault': {
        'message': 'Unexpected API Error (regex error 1139)'}},
        {'x-openstack-request-id': 'req-nova-1'}))
    with caplog.at_level(logging.ERROR, logger=nova.__name__):
        with pytest.raises(nova.NovaError) as error:
            api.get('demo')
    assert 502 == error.value.status
    assert 'regex error 1139' in error.value.message
    (record,) = caplog.records
    assert 'req-nova-1' in record.getMessage()
    assert 'regex error 1139' in record.getMessage()


def test_an_image_name_is_compared_whole_by_glance(api, transport):
    transport.answers.append((200, {'images': [{'id': 'i1'}]}, {}))
    assert 'i1' == api.image_id('cirros:latest')
    assert '/v2/images' == transport.path()
    assert {'name': ['eq:cirros:latest'], 'limit': ['2']} == \
        transport.query()


@pytest.mark.parametrize('status, expected', [(400, 400), (403, 403),
                                              (404, 404), (500, 502),
                                              (503, 502)])
def test_glances_errors_are_told(api, transport, status, expected, caplog):
    transport.answers.append((status, 'Glance says no', {}))
    with pytest.raises(nova.NovaError) as error:
        api.image_id('cirros')
    assert expected == error.value.status
    assert 'Glance says no' in error.value.message
    assert (status >= 500) == ('Glance says no' in caplog.text)


def test_an_unreachable_glance_is_503(api, transport):
    transport.answers.append(requests.ConnectionError('refused'))
    with pytest.raises(nova.NovaError) as error:
        api.image_id('cirros')
    assert 503 == error.value.status
    assert 'Glance unreachable' in error.value.message


NETWORK = 'http://network.example'
# keystonemiddleware's X-Service-Catalog (Identity v2's shape).
NETWORK_CATALOG = json.dumps([
    {'type': 'network', 'name': 'neutron', 'endpoints': [
        {'publicURL': NETWORK, 'region': 'RegionOne'}]}])


@pytest.fixture
def api_with_neutron(api):
    return nova.Nova(api.conf, oslo_context.RequestContext(
        auth_token='t', project_id='p1'), NETWORK_CATALOG)


def test_the_projects_oldest_own_network_is_zuns_choice(api_with_neutron,
                                                        transport):
    transport.answers.append((200, {'networks': [
        {'id': 'newer', 'created_at': '2026-12-07T21:00:02Z'},
        {'id': 'older', 'created_at': '2026-12-07T21:00:01Z'}]}, {}))
    assert 'older' == api_with_neutron.project_network()
    assert '/v2.0/networks' == transport.path()
    assert {'project_id': ['p1'], 'shared': ['False'],
            'router:external': ['False']} == transport.query()


def test_without_an_own_network_the_oldest_shared_one_is_chosen(
        api_with_neutron, transport):
    transport.answers.extend([
        (200, {'networks': []}, {}),
        (200, {'networks': [{'id': 's1', 'created_at': '2026-01-01'}]}, {})])
    assert 's1' == api_with_neutron.project_network()
    assert {'shared': ['True'], 'router:external': ['False']} == \
        transport.query()


def test_no_network_or_no_network_endpoint_is_none(
        api, api_with_neutron, transport):
    transport.answers.extend([(200, {'networks': []}, {})] * 2)
    assert api_with_neutron.project_network() is None
    assert api.project_network() is None  # no catalog: nothing sent
    assert 2 == len(transport.sent)


def test_ports_are_read_for_many_servers_in_few_queries(api_with_neutron,
                                                        transport):
    ids = ['s%02d' % n for n in range(nova.PORTS_PER_QUERY + 1)]
    transport.answers.extend([
        (200, {'ports': [{'id': 'p1', 'device_id': 's00'},
                         {'id': 'p2', 'device_id': 's00'}]}, {}),
        (200, {'ports': []}, {})])
    found = api_with_neutron.ports_of(ids)
    assert ['p1', 'p2'] == [p['id'] for p in found['s00']]
    assert [] == found[ids[-1]]
    assert 2 == len(transport.sent)
    assert '/v2.0/ports' == transport.path(0)
    assert ids[:nova.PORTS_PER_QUERY] == transport.query(0)['device_id']
    assert [ids[-1]] == transport.query(1)['device_id']


def test_ports_neutron_cannot_tell_are_none(api, api_with_neutron,
                                            transport, caplog):
    transport.answers.append((404, {'NeutronError': {'message': 'no'}}, {}))
    assert api_with_neutron.ports_of(['s1']) is None
    assert 'Ports of 1 containers not read' in caplog.text
    assert api.ports_of(['s1']) is None  # no network endpoint
    assert 1 == len(transport.sent)
