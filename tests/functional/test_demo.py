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

"""tools/demo's walk through the runtime layer, on a real engine."""

import os
import re

import pytest

from nova_zun.runtime import labels
from nova_zun_workshop import demo


def _assert_nothing_left(runtime):
    assert [] == runtime.list_containers({labels.PROJECT: 'demo'})
    assert not runtime.image_exists(demo.IMAGE)


def test_demo_walks_through_the_runtime_layer(private_engine, runtime,
                                              capsys):
    assert 0 == demo.main(['--engine-url', private_engine.url])
    out = capsys.readouterr().out
    assert re.search(r'network namespace: /\S+', out)
    assert 'CpuQuota 50000 / CpuPeriod 100000, Memory 67108864' in out
    interfaces = re.findall(r'^    \d+: (\w+):', out, re.M)
    assert ['lo'] == interfaces
    assert 'exit code: 3' in out
    assert 'hello from the workload, pid 1' in out
    assert 'a line on stderr' in out
    assert re.search(r'PID +PPID.*CMD', out)  # top's titles
    assert re.search(r'\?  +[0-9:]+  +sleep 1$', out, re.M)  # top's rows
    assert 'after pause: paused' in out
    assert 'after unpause: running' in out
    assert 'state exited, exit code 0' in out
    assert 'last log line: got SIGTERM, exiting' in out
    _assert_nothing_left(runtime)


def test_demo_removes_everything_when_a_step_fails(private_engine, runtime,
                                                   monkeypatch, capsys):
    def broken_top(self, container):
        raise RuntimeError('top broke')

    monkeypatch.setattr(demo.Demo, 'show_top', broken_top)
    with pytest.raises(RuntimeError, match='top broke'):
        demo.main(['--engine-url', private_engine.url])
    assert '==> Clean up' in capsys.readouterr().out
    _assert_nothing_left(runtime)


def test_demo_starts_and_removes_its_own_engine(private_engine, capsys):
    # private_engine only for its skip-or-fail when no engine can run here.
    assert 0 == demo.main([])
    out = capsys.readouterr().out
    base_dir = re.search(r'private Docker engine in (\S+)', out).group(1)
    assert 'Demo finished' in out
    assert not os.path.exists(base_dir)
