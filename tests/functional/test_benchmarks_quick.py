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

"""``python -m benchmarks --quick`` runs to the end, so the benchmark code
never rots. Timings are never asserted: only that every figure was
measured and nothing was left behind."""

import json
import os
import subprocess
import sys

import pytest

from tests import prerequisites

# The network figures start an Open vSwitch of their own.
pytestmark = pytest.mark.switch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
EXPECTED = ('spawn/raw_p50', 'spawn/raw_p95', 'boot/zun_vs_fake_p50',
            'boot/zun_vs_fake_p95', 'burst/nova_vs_raw',
            'reboot/nova_vs_raw_p50', 'glance/first_boot_vs_direct_p50',
            'glance/second_boot_downloads', 'density/server_pss',
            'density/two_bare_pss', 'native_api/exec_vs_sdk_p50',
            'native_api/exec_vs_sdk_p95', 'native_api/logs_10mb_vs_sdk',
            'network/spawn_one_port_vs_none_p50',
            'layers/second_boot_bytes_vs_whole',
            'layers/second_boot_vs_whole_p50',
            'layers/snapshot_bytes_vs_whole',
            'layers/glance_storage_2_images_vs_whole',
            'spawn/raw_pod_warm_vs_raw_p50')


def _processes_naming(path):
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode()
        except OSError:
            continue
        if path in cmdline:
            found.append(cmdline)
    return found


def test_quick_benchmark_measures_every_figure(tmp_path):
    prerequisites.require_root('the benchmarks start a private dockerd')
    out = tmp_path / 'figures.json'
    proc = subprocess.run(
        [sys.executable, '-m', 'benchmarks', '--quick', '--json', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report['errors'] == []
    names = [f['name'] for f in report['figures']]
    for name in EXPECTED:
        assert name in names
    lines = proc.stdout.splitlines()
    assert len(lines) == len(names)
    for line in lines:
        name, value, unit = line.split(' ')
        float(value)
        assert unit in ('ratio', 's', 'MiB', 'count')
    figures = {f['name']: f['value'] for f in report['figures']}
    # Counted, not timed: the second boot of an image loads nothing.
    assert figures['glance/second_boot_downloads'] == 0
    # The private engine, its directory and its processes are gone.
    engine_dir = report['meta']['engine_dir']
    assert not os.path.exists(engine_dir)
    assert _processes_naming(engine_dir + '/') == []
