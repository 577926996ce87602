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

"""The project's shell scripts pass shellcheck: tools/*, and the devstack
plugin (sourced by devstack: each file names its shell for shellcheck)."""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
IN_CI = os.environ.get('CI', '').lower() == 'true'


def _shell_scripts():
    scripts = [os.path.join(ROOT, 'devstack', 'settings')]
    scripts += glob.glob(os.path.join(ROOT, 'devstack', '*.sh'))
    for path in sorted(glob.glob(os.path.join(ROOT, 'tools', '*'))):
        with open(path, 'rb') as f:
            if f.readline().startswith(b'#!/bin/bash'):
                scripts.append(path)
    return scripts


def test_the_shell_scripts_pass_shellcheck():
    if not shutil.which('shellcheck'):
        message = 'shellcheck missing (tools/bootstrap installs it)'
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    scripts = _shell_scripts()
    assert os.path.join(ROOT, 'devstack', 'plugin.sh') in scripts
    assert os.path.join(ROOT, 'tools', 'cloud') in scripts
    result = subprocess.run(['shellcheck'] + scripts, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
