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

"""Where console URLs point: the configured URL, this host's entry in
[native_api] hosts, else the URL the request came in on."""

from oslo_config import cfg
import pytest

import zun_native_api
from zun_native_api import consoles


def _base_url(request_url, **native_api):
    conf = cfg.ConfigOpts()
    app = zun_native_api.create_app(conf, runtime=object())
    for name, value in native_api.items():
        conf.set_override(name, value, group='native_api')
    with app.test_request_context(base_url=request_url):
        return consoles._base_url(conf)


@pytest.mark.parametrize('request_url, options, expected', [
    ('http://lb.example:9517', {'host': 'c1',
                                'console_url': 'wss://c1.example/zun/'},
     'wss://c1.example/zun'),
    ('http://lb.example:9517', {'host': 'c1', 'hosts': {
        'c1': 'http://10.0.0.11:9517', 'c2': 'http://10.0.0.12:9517'}},
     'ws://10.0.0.11:9517'),
    ('https://c1.example:8443/', {'host': 'c1'}, 'wss://c1.example:8443'),
    ('http://127.0.0.1:9517/', {'host': 'c1', 'hosts': {
        'c2': 'http://10.0.0.12:9517'}}, 'ws://127.0.0.1:9517'),
])
def test_console_urls_point_at_this_host(request_url, options, expected):
    assert expected == _base_url(request_url, **options)
