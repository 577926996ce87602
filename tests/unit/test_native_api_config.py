"""etc/zun-native-api.conf.sample must be what oslo-config-generator makes
now, and the policy defaults what the docs say."""

import os

from oslo_config import cfg
from oslo_config import generator

from zun_native_api import policy

ETC = os.path.join(os.path.dirname(__file__), '..', '..', 'etc')
GENERATOR_CONF = os.path.join(ETC, 'zun-native-api-config-generator.conf')
SAMPLE = os.path.join(ETC, 'zun-native-api.conf.sample')


def test_committed_sample_matches_the_options(tmp_path):
    generated = tmp_path / 'zun-native-api.conf.sample'
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(['--config-file', GENERATOR_CONF, '--output-file', str(generated)])
    generator.generate(conf)
    with open(SAMPLE) as f:
        committed = f.read()
    assert generated.read_text() == committed, (
        'etc/zun-native-api.conf.sample is stale; regenerate it with '
        '.venv/bin/oslo-config-generator --config-file '
        'etc/zun-native-api-config-generator.conf and commit it')


def test_sample_has_every_section_the_api_reads():
    with open(SAMPLE) as f:
        text = f.read()
    for section in ('[native_api]', '[zun]', '[keystone_authtoken]',
                    '[oslo_policy]', '[DEFAULT]'):
        assert section in text


def test_every_container_rule_is_admin_or_owner():
    rules = {r.name: r.check_str for r in policy.list_rules()}
    assert 'role:admin' == rules['context_is_admin']
    assert 'project_id:%(project_id)s' == rules['owner']
    for name, check in rules.items():
        if name.startswith('container:') and 'all_projects' not in name:
            assert policy.ADMIN_OR_OWNER == check, name
    assert 'rule:context_is_admin' == rules[
        'container:get_all_all_projects']


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
