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

"""``pip install .`` installs the product and nothing else: the wheel of
this tree holds every module of nova_zun, zun_native_api and the
nova.virt.zun shim, and no test, launcher or benchmark module."""

import configparser
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRODUCT = ('nova_zun', 'zun_native_api', 'nova/virt/zun')
# Path components of the development tools' and tests' modules.
NOT_PRODUCT = re.compile(
    r'(^|/)(tests?|testing|allinone|benchmarks?|nova_zun_workshop)(/|$)|'
    r'(^|/)(test_[^/]*|conftest)\.py$')


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """The wheel ``pip install .`` would install, as a ZipFile.

    Built in a directory of its own: setuptools' build/ in the tree keeps
    modules the tree no longer has (tools/bootstrap removes it).
    """
    out = tmp_path_factory.mktemp('wheel')
    extra_config = out / 'build.cfg'
    extra_config.write_text('[build]\nbuild_base = %s\n' % (out / 'build'))
    built = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--quiet',
         '--wheel-dir', str(out), str(ROOT)],
        env=dict(os.environ, DIST_EXTRA_CONFIG=str(extra_config)),
        capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = out.glob('*.whl')
    with zipfile.ZipFile(path) as archive:
        yield archive


def _installed_files(wheel):
    return {name for name in wheel.namelist()
            if '.dist-info/' not in name}


def test_the_wheel_installs_no_test_launcher_or_benchmark_module(wheel):
    files = _installed_files(wheel)
    assert [] == sorted(f for f in files if not f.startswith(PRODUCT))
    assert [] == sorted(f for f in files if NOT_PRODUCT.search(f))


def test_the_wheel_installs_every_product_module(wheel):
    in_tree = {str(p.relative_to(ROOT)) for d in PRODUCT
               for p in (ROOT / d).rglob('*.py')}
    assert [] == sorted(in_tree - _installed_files(wheel))
    assert 'zun_native_api/openapi.yaml' in _installed_files(wheel)


def test_the_wheel_installs_only_the_product_console_scripts(wheel):
    (name,) = [n for n in wheel.namelist()
               if n.endswith('.dist-info/entry_points.txt')]
    entry_points = configparser.ConfigParser()
    entry_points.read_string(wheel.read(name).decode())
    assert {'zun-native-api': 'zun_native_api.cmd:main',
            'nova-zun-image': 'nova_zun.image_tool:main'} == dict(
        entry_points['console_scripts'])
