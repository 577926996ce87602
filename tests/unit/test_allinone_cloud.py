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

"""``tools/cloud up`` and the demo server it finds: it never deletes one."""

import io
import json
from unittest import mock

import pytest

from nova_zun_workshop.allinone import cloud


@pytest.fixture
def aio(tmp_path):
    aio = cloud.Cloud(str(tmp_path), cloud.DEFAULT_PORT_BASE,
                      out=io.StringIO())
    with mock.patch.object(aio, 'cli', autospec=True) as cli, \
            mock.patch.object(aio, 'wait_workload', autospec=True):
        yield aio, cli


def _answers(cli, statuses):
    """Make ``openstack server list/show`` give each of ``statuses`` in turn.

    They say the demo server has that status; every other command says
    nothing.
    """
    seen = iter(statuses)

    def answer(*command, check=True):
        if command[1:3] in (('server', 'list'), ('server', 'show')):
            status = next(seen)
            server = {'ID': 'demo-id', 'Name': cloud.SERVER,
                      'Status': status, 'status': status,
                      'fault': {'message': 'it broke'}}
            return json.dumps([server] if command[2] == 'list' else server)
        return ''
    cli.side_effect = answer


def _commands(cli):
    return [c.args[:3] for c in cli.call_args_list]


def test_a_stopped_demo_server_is_started_not_deleted(aio):
    aio, cli = aio
    _answers(cli, ['SHUTOFF', 'ACTIVE', 'ACTIVE'])
    aio.boot_demo()
    commands = _commands(cli)
    assert ('openstack', 'server', 'start') in commands
    assert ('openstack', 'server', 'delete') not in commands
    assert ('openstack', 'server', 'create') not in commands


def test_a_demo_server_in_error_is_left_as_it_is_with_its_fault(aio):
    aio, cli = aio
    _answers(cli, ['ERROR', 'ERROR'])
    aio.boot_demo()
    commands = _commands(cli)
    assert ('openstack', 'server', 'delete') not in commands
    assert ('openstack', 'server', 'create') not in commands
    assert 'it broke' in aio.out.getvalue()


@pytest.mark.parametrize('kept, expected', [
    (None, True), ('on', True), ('off', False)])
def test_the_other_subcommands_follow_the_last_ups_dashboard(
        tmp_path, kept, expected):
    if kept:
        (tmp_path / 'dashboard').write_text(kept)
    aio = cloud.Cloud(str(tmp_path), cloud.DEFAULT_PORT_BASE)
    assert expected == aio.dashboard
    assert expected == ('horizon' in aio.service_pids())


@pytest.mark.parametrize('argv,expected', [
    (['up'], 'all'),
    (['up', '--tenant-isolation', 'off'], 'off'),
    (['status'], 'all')])
def test_a_later_up_may_change_tenant_isolation(tmp_path, argv, expected):
    (tmp_path / 'tenant-isolation').write_text('all')
    with mock.patch.object(cloud, 'Cloud', autospec=True) as made:
        made.return_value.status.return_value = True
        assert 0 == cloud.main(argv + ['--base-dir', str(tmp_path)])
    assert expected == made.call_args.kwargs['tenant_isolation']


def test_other_subcommands_refuse_another_tenant_isolation(tmp_path):
    (tmp_path / 'tenant-isolation').write_text('all')
    with pytest.raises(SystemExit):
        cloud.main(['stop', '--tenant-isolation', 'off', '--base-dir',
                    str(tmp_path)])
