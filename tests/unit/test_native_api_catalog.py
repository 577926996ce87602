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

"""Endpoints from the catalog header keystonemiddleware sets."""

import json

from keystonemiddleware.auth_token import _request
from oslo_config import cfg

from zun_native_api import conf as api_conf
from zun_native_api import nova

V3_CATALOG = [
    {'type': 'compute', 'name': 'nova', 'endpoints': [
        {'interface': 'public', 'region': 'RegionOne',
         'url': 'http://compute.example/v2.1'},
        {'interface': 'internal', 'region': 'RegionOne',
         'url': 'http://compute.internal/v2.1'}]},
    {'type': 'image', 'name': 'glance', 'endpoints': [
        {'interface': 'public', 'region': 'RegionOne',
         'url': 'http://image.example'}]},
]


def _conf(**native_api):
    conf = cfg.ConfigOpts()
    api_conf.register_opts(conf)
    conf([], default_config_files=[])
    for name, value in native_api.items():
        conf.set_override(name, value, group='native_api')
    return conf


def _header():
    # What keystonemiddleware puts in X-Service-Catalog for a v3 token.
    return json.dumps(_request._normalize_catalog(V3_CATALOG))


def test_endpoints_come_from_keystonemiddlewares_catalog_header():
    conf = _conf()
    assert 'http://compute.example/v2.1' == nova.compute_endpoint(
        conf, _header())
    assert 'http://image.example' == nova.image_endpoint(conf, _header())


def test_the_configured_interface_is_used():
    conf = _conf(nova_interface='internal')
    assert 'http://compute.internal/v2.1' == nova.compute_endpoint(
        conf, _header())


def test_a_service_missing_from_the_catalog_has_no_endpoint():
    assert None is nova.catalog_endpoint(_conf(), _header(), 'volumev3')
