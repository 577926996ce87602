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

"""etc/zun-native-api.conf.sample has what the API reads, and the policy
defaults are what the docs say (tests/unit/test_config_sample.py keeps the
sample fresh)."""

import os

from oslo_config import cfg

import zun_native_api
from zun_native_api import conf as api_conf
from zun_native_api import containers
from zun_native_api import policy

ETC = os.path.join(os.path.dirname(__file__), '..', '..', 'etc')
SAMPLE = os.path.join(ETC, 'zun-native-api.conf.sample')


def test_sample_has_every_section_the_api_reads():
    with open(SAMPLE) as f:
        text = f.read()
    for section in ('[native_api]', '[zun]', '[keystone_authtoken]',
                    '[oslo_policy]', '[DEFAULT]'):
        assert section in text


# As in Zun.
ADMINS_ONLY = {'container:get_all_all_projects', 'container:create:privileged'}


READERS = ('container:get_one', 'container:get_all', 'container:network_list')


def test_readers_see_members_act_admins_everywhere():
    rules = {r.name: r.check_str for r in policy.list_rules()}
    assert 'role:admin' == rules['context_is_admin']
    assert 'project_id:%(project_id)s' == rules['owner']
    for name, check in rules.items():
        if name in ADMINS_ONLY:
            assert 'rule:context_is_admin' == check, name
        elif name.startswith('container:'):
            assert (policy.READER_OR_ADMIN
                    if name in READERS
                    else policy.MEMBER_OR_ADMIN) == check, name
    assert ADMINS_ONLY <= set(rules)


def test_overrides_stay_in_their_configuration():
    # oslo.config keeps overrides in OptGroup objects: each configuration
    # must have its own, or one test's (or Nova's CONF's) leaks.
    from zun_native_api import conf as api_conf
    first, second = cfg.ConfigOpts(), cfg.ConfigOpts()
    for conf in (first, second):
        api_conf.register_opts(conf)
        conf([], project='zun-native-api')
    first.set_override('host', 'host-one', group='native_api')
    first.set_override('engine_url', 'unix:///one.sock', group='zun')
    assert 'host-one' != second.native_api.host
    assert 'unix:///one.sock' != second.zun.engine_url


def test_the_api_builds_its_runtime_from_every_zun_option():
    # The runtime package's factory, as nova-compute's: no [zun] option
    # (the sandbox binary among them) is dropped on the way.
    conf = cfg.ConfigOpts()
    api_conf.register_opts(conf)
    conf([], project='zun-native-api')
    conf.set_override('engine_url', 'unix:///engine.sock', group='zun')
    conf.set_override('engine_timeout', 7, group='zun')
    conf.set_override('sandbox_binary', '/opt/busybox', group='zun')
    app = zun_native_api.create_app(conf)
    runtime = app.config[containers.STATE_KEY].runtime
    assert ('unix:///engine.sock', 7, '/opt/busybox') == (
        runtime.base_url, runtime.timeout, runtime.sandbox_binary)
