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

"""What nova-zun's privsep daemons read of nova-compute's configuration:
they load nothing of Nova, yet see the volume mount directory nova-compute
sees (tests/functional/test_privileged.py runs the daemons)."""

import os

import nova
from oslo_config import cfg

from nova_zun import conf as zun_conf


def _daemon_conf(tmp_path, text):
    path = tmp_path / 'nova.conf'
    path.write_text(text)
    conf = cfg.ConfigOpts()
    zun_conf.register_privsep_opts(conf)
    conf(['--config-file', str(path)], project='privsep')
    return conf


def test_the_daemon_reads_novas_state_path(tmp_path):
    conf = _daemon_conf(tmp_path, '[DEFAULT]\nstate_path = /srv/nova\n')
    assert conf.zun.volume_mount_dir == '/srv/nova/zun-volumes'


def test_without_one_it_has_novas_default(tmp_path):
    # Nova's state_path defaults to $pybasedir, the directory Nova is
    # installed in.
    conf = _daemon_conf(tmp_path, '')
    nova_dir = os.path.dirname(os.path.dirname(os.path.abspath(
        nova.__file__)))
    assert conf.zun.volume_mount_dir == os.path.join(nova_dir,
                                                     'zun-volumes')


def test_an_explicit_mount_dir_wins(tmp_path):
    conf = _daemon_conf(tmp_path, '[zun]\nvolume_mount_dir = /mnt/v\n')
    assert conf.zun.volume_mount_dir == '/mnt/v'
