"""etc/nova-zun.conf.sample must be what oslo-config-generator makes now."""

import os

from oslo_config import cfg
from oslo_config import generator

ETC = os.path.join(os.path.dirname(__file__), '..', '..', 'etc')
GENERATOR_CONF = os.path.join(ETC, 'nova-zun-config-generator.conf')
SAMPLE = os.path.join(ETC, 'nova-zun.conf.sample')


def test_committed_sample_matches_the_options(tmp_path):
    generated = tmp_path / 'nova-zun.conf.sample'
    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    conf(['--config-file', GENERATOR_CONF, '--output-file', str(generated)])
    generator.generate(conf)
    with open(SAMPLE) as f:
        committed = f.read()
    assert generated.read_text() == committed, (
        'etc/nova-zun.conf.sample is stale; regenerate it with '
        '"tox -e genconfig" (or .venv/bin/oslo-config-generator '
        '--config-file etc/nova-zun-config-generator.conf) and commit it')
