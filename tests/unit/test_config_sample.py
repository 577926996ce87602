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

"""The committed config samples must be what oslo-config-generator makes now.
"""

import os
import subprocess
import sys

import pytest

ETC = os.path.join(os.path.dirname(__file__), '..', '..', 'etc')


@pytest.mark.parametrize('name', ['nova-zun', 'zun-native-api'])
def test_committed_sample_matches_the_options(tmp_path, name):
    generator_conf = os.path.join(ETC, '%s-config-generator.conf' % name)
    generated = tmp_path / 'sample'
    # A process of its own: libraries (Nova, oslo.log) change option
    # defaults at run time, and the sample shows the documented ones.
    subprocess.run([sys.executable, '-m', 'oslo_config.generator',
                    '--config-file', generator_conf,
                    '--output-file', str(generated)], check=True)
    with open(os.path.join(ETC, '%s.conf.sample' % name)) as f:
        committed = f.read()
    assert generated.read_text() == committed, (
        'etc/%s.conf.sample is stale; regenerate it with '
        '.venv/bin/oslo-config-generator --config-file '
        'etc/%s-config-generator.conf (tox -e genconfig for nova-zun) and '
        'commit it' % (name, name))
