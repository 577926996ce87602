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

"""The helpers of the test and demo service tools: the INI files they
write read back unchanged through oslo.config, and a service's stop ends
its process, closes its log and removes its directory."""

import subprocess
import sys

from oslo_config import cfg
import pytest

from nova_zun_workshop import processes


def test_an_ini_file_reads_back_unchanged_through_oslo_config(tmp_path):
    path = str(tmp_path / 'service.conf')
    values = {'percent': 'p%40ss%(not)s', 'lines': 'first\nsecond',
              'empty': '', 'Mixed_Case': 'kept'}
    processes.write_ini(path, {'DEFAULT': {'debug': 'true'},
                               'section': values})
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.StrOpt(name) for name in values], 'section')
    conf.register_opt(cfg.BoolOpt('debug'))
    conf(['--config-file', path], project='test', default_config_files=[])
    assert conf.debug is True
    assert {name: conf.section[name] for name in values} == values


class _Sleeper(processes.ServiceProcess):

    def __init__(self, base_dir, fail=False):
        self.base_dir = str(base_dir)
        self.fail = fail

    def start(self):
        self.log = open(self.base_dir + '/log', 'w')
        self.process = subprocess.Popen(
            [sys.executable, '-c', 'import time; time.sleep(60)'],
            stdout=self.log)
        if self.fail:
            raise RuntimeError('did not answer')


def test_a_running_service_is_stopped_and_removed_after_its_block(
        tmp_path):
    service = _Sleeper(tmp_path / 'service')
    (tmp_path / 'service').mkdir()
    with service.running():
        process, log = service.process, service.log
        assert process.poll() is None
    assert process.returncode is not None and log.closed
    assert not (tmp_path / 'service').exists()
    service.stop()  # again: nothing left to do


def test_a_service_that_fails_to_start_is_stopped_and_removed(tmp_path):
    service = _Sleeper(tmp_path / 'service', fail=True)
    (tmp_path / 'service').mkdir()
    with pytest.raises(RuntimeError):
        with service.running():
            pytest.fail('the block ran without a started service')
    assert service.process is None and service.log is None
    assert not (tmp_path / 'service').exists()
