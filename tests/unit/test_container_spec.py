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

"""Nova instance -> runtime spec translation (no engine, no Nova services)."""

import base64
import json

from nova import exception
from nova import objects
import pytest

from nova_zun import container_spec
from nova_zun.runtime import labels
from nova_zun.runtime import types

UUID = '8d3c8a39-4d36-4f4c-9a47-0c6a0c5f9a10'
RUNTIMES = {'runc': 'runc', 'runsc': 'runsc'}

objects.register_all()


def instance(metadata=None, image_properties=None, extra_specs=None,
             vcpus=2, memory_mb=256, root_gb=1):
    sysmeta = {'image_' + k: v for k, v in (image_properties or {}).items()}
    return objects.Instance(
        uuid=UUID, project_id='project-a', user_id='user-a',
        hostname='web-1', metadata=metadata or {}, system_metadata=sysmeta,
        flavor=objects.Flavor(vcpus=vcpus, memory_mb=memory_mb,
                              root_gb=root_gb,
                              extra_specs=extra_specs or {}))


def workload(inst):
    return container_spec.workload_spec(inst, 'host-1', 'glance/x:latest',
                                        'sandbox-id', 'runc', 4096)


def test_names_and_identity_labels_come_from_the_instance():
    inst = instance()
    spec = workload(inst)
    assert spec.name == 'nova-' + UUID
    assert container_spec.sandbox_spec(inst, 'host-1').name == \
        'nova-%s-sandbox' % UUID
    assert spec.labels == {
        labels.INSTANCE: UUID, labels.PROJECT: 'project-a',
        labels.USER: 'user-a', labels.HOST: 'host-1',
        labels.ROLE: labels.ROLE_WORKLOAD}


def test_the_sandbox_carries_the_subnets_dns_servers():
    inst = instance()
    assert container_spec.sandbox_spec(inst, 'host-1').dns_servers == ()
    assert container_spec.sandbox_spec(
        inst, 'host-1', ['10.1.0.53', 'fd00:1::53']).dns_servers == (
            '10.1.0.53', 'fd00:1::53')


def test_flavor_becomes_limits():
    resources = workload(instance(vcpus=2, memory_mb=256, root_gb=3)).resources
    assert (resources.vcpus, resources.memory_mb, resources.disk_gb,
            resources.pids_limit) == (2, 256, 3, 4096)


@pytest.mark.parametrize('metadata, limits', [
    ({'zun_memory': '64', 'zun_cpu': '0.5'}, (0.5, 64)),
    # Never past the flavor: what Placement allocated.
    ({'zun_memory': '4096', 'zun_cpu': '64'}, (2, 256)),
    ({'zun_memory': 'lots', 'zun_cpu': 'nan'}, (2, 256)),
    ({'zun_memory': '0', 'zun_cpu': '-1'}, (2, 256)),
    ({'zun_memory': '5', 'zun_cpu': '0.001'}, (2, 256)),
])
def test_limits_asked_in_metadata_stay_within_the_flavor(metadata, limits):
    resources = workload(instance(metadata=metadata)).resources
    assert (resources.vcpus, resources.memory_mb) == limits


@pytest.mark.parametrize('metadata, nova_timeout, timeout', [
    ({}, 60, 60),
    ({'zun_stop_timeout': '10'}, 60, 10),
    ({'zun_stop_timeout': '0'}, 60, 0),
    # Nova's timeout is the operator's ceiling; a forced stop gives 0.
    ({'zun_stop_timeout': '600'}, 60, 60),
    ({'zun_stop_timeout': '10'}, 0, 0),
    ({'zun_stop_timeout': '-5'}, 60, 60),
    ({'zun_stop_timeout': 'soon'}, 60, 60),
])
def test_stop_timeout_from_metadata_within_novas(metadata, nova_timeout,
                                                 timeout):
    assert timeout == container_spec.stop_timeout(instance(metadata),
                                                  nova_timeout)


def test_a_flavor_with_no_root_disk_sets_no_storage_limit():
    assert workload(instance(root_gb=0)).resources.disk_gb is None


def test_flavor_may_set_its_own_pids_limit():
    spec = workload(instance(extra_specs={'zun:pids_limit': '64'}))
    assert spec.resources.pids_limit == 64


@pytest.mark.parametrize('value', ['lots', '0', '-3'])
def test_a_bad_pids_limit_is_refused(value):
    with pytest.raises(exception.InvalidInput, match='zun:pids_limit'):
        workload(instance(extra_specs={'zun:pids_limit': value}))


@pytest.mark.parametrize('value, argv', [
    ('["/bin/sh", "-c", "echo hi"]', ['/bin/sh', '-c', 'echo hi']),
    ('/bin/sh -c "echo hi"', ['/bin/sh', '-c', 'echo hi']),
])
def test_command_is_a_json_list_or_shell_words(value, argv):
    assert workload(instance(metadata={'zun_command': value})).command == argv


@pytest.mark.parametrize('value, reason', [
    ('["unclosed"', 'not a JSON list'),
    ('[]', 'non-empty list of strings'),
    ('[1, 2]', 'non-empty list of strings'),
    ('echo "unclosed', 'No closing quotation'),
])
def test_a_bad_command_is_refused_with_the_reason(value, reason):
    with pytest.raises(exception.InvalidInput, match=reason):
        workload(instance(metadata={'zun_command': value}))


def test_server_metadata_wins_over_image_properties():
    spec = workload(instance(
        image_properties={'zun_entrypoint': '/bin/sh',
                          'zun_workdir': '/srv',
                          'zun_environment': '{"A": "image", "B": "image"}'},
        metadata={'zun_workdir': '/tmp',
                  'zun_environment': '{"B": "server"}'}))
    assert spec.entrypoint == ['/bin/sh']
    assert spec.workdir == '/tmp'
    assert spec.environment == {'A': 'image', 'B': 'server'}


@pytest.mark.parametrize('value, reason', [
    ('not json', 'not a JSON object'),
    ('["a"]', 'must be a JSON object'),
    ('{"A=B": "x"}', 'bad variable'),
    ('{"A": 1}', 'bad variable'),
])
def test_a_bad_environment_is_refused(value, reason):
    with pytest.raises(exception.InvalidInput, match=reason):
        workload(instance(metadata={'zun_environment': value}))


def test_a_relative_workdir_is_refused():
    with pytest.raises(exception.InvalidInput, match='absolute path'):
        workload(instance(metadata={'zun_workdir': 'srv'}))


def test_a_main_process_is_detached_unless_asked_interactive():
    spec = workload(instance())
    assert (spec.stdin_open, spec.tty) == (False, False)
    spec = workload(instance(metadata={'zun_interactive': 'true'},
                             image_properties={'zun_tty': 'yes'}))
    assert (spec.stdin_open, spec.tty) == (True, True)


def test_a_bad_interactive_flag_is_refused():
    with pytest.raises(exception.InvalidInput,
                       match="zun_tty must be true or false, not 'maybe'"):
        workload(instance(metadata={'zun_tty': 'maybe'}))


def test_runtime_comes_from_the_flavor_then_the_image_then_the_default():
    assert container_spec.runtime_name(
        instance(extra_specs={'zun:runtime': 'runsc'},
                 image_properties={'zun_runtime': 'runc'}),
        RUNTIMES, 'runc') == 'runsc'
    assert container_spec.runtime_name(
        instance(image_properties={'zun_runtime': 'runsc'}),
        RUNTIMES, 'runc', ['runsc']) == 'runsc'
    assert container_spec.runtime_name(instance(), RUNTIMES, 'runc') == 'runc'


@pytest.mark.parametrize('asked, default, allowed, chosen', [
    # Naming the default is no choice at all.
    ('runsc', 'runsc', [], 'runsc'),
    ('runc', 'runc', [], 'runc'),
    ('runsc', 'runc', ['runsc'], 'runsc'),
])
def test_an_image_may_name_the_default_or_an_allowed_runtime(
        asked, default, allowed, chosen):
    assert container_spec.runtime_name(
        instance(image_properties={'zun_runtime': asked}),
        RUNTIMES, default, allowed) == chosen


@pytest.mark.parametrize('asked, default, allowed, listed', [
    ('runc', 'runsc', [], 'none'),
    ('runc', 'runsc', ['kata'], 'kata'),
    ('runsc', 'runc', [], 'none'),
])
def test_an_image_may_not_name_any_other_runtime(asked, default, allowed,
                                                 listed):
    with pytest.raises(exception.InvalidInput,
                       match=r"images may not choose container runtime %r "
                             r"here \(image property zun_runtime; \[zun\] "
                             r"image_runtimes: %s\)" % (asked, listed)):
        container_spec.runtime_name(
            instance(image_properties={'zun_runtime': asked}),
            RUNTIMES, default, allowed)


def test_the_flavor_runtime_is_not_bounded_by_image_runtimes():
    assert container_spec.runtime_name(
        instance(extra_specs={'zun:runtime': 'runc'},
                 image_properties={'zun_runtime': 'runc'}),
        RUNTIMES, 'runsc') == 'runc'


def test_an_unknown_runtime_is_refused_naming_what_is_offered():
    with pytest.raises(exception.InvalidInput,
                       match="unknown container runtime 'kata'.*runc, runsc"):
        container_spec.runtime_name(
            instance(extra_specs={'zun:runtime': 'kata'}), RUNTIMES, 'runc')


def test_capabilities_from_the_flavor_are_normalised():
    spec = workload(instance(
        extra_specs={'zun:cap_add': 'net_admin, CAP_SYS_TIME'}))
    assert spec.cap_add == ('NET_ADMIN', 'SYS_TIME')


@pytest.mark.parametrize('value', ['ALL', 'NET-ADMIN', 'net admin'])
def test_bad_or_blanket_capabilities_are_refused(value):
    with pytest.raises(exception.InvalidInput, match='bad capability'):
        workload(instance(extra_specs={'zun:cap_add': value}))


@pytest.mark.parametrize('hostname, names', [
    ('web-1', ('web-1', None)),
    ('web-1.dept.example.org', ('web-1', 'dept.example.org')),
    # An absolute name's final dot is no label.
    ('web-1.example.org.', ('web-1', 'example.org')),
    ('x' * 64 + '.example.org', ('x' * 63, 'example.org')),
    # Cut to 63 bytes, never inside a character (Nova keeps Latin-1
    # letters of display names).
    ('\xe9' * 40, ('\xe9' * 31, None)),
    ('h.' + 'd' * 64, ('h', 'd' * 64)),
    ('h.' + 'd' * 65, ('h', None)),
    ('.example.org', (None, 'example.org')),
    ('', (None, None)),
])
def test_the_hostname_splits_into_host_and_domain_names(hostname, names):
    inst = instance()
    inst.hostname = hostname
    assert container_spec.uts_names(inst) == names
    spec = container_spec.sandbox_spec(inst, 'host-1')
    assert (spec.hostname, spec.domainname) == names


@pytest.mark.parametrize('hostname, address, hosts', [
    ('web-1', None, (('127.0.1.1', ('web-1',)),)),
    ('web-1.example.org', '10.0.0.5',
     (('10.0.0.5', ('web-1.example.org', 'web-1')),)),
    ('web-1', 'fd00::5', (('fd00::5', ('web-1',)),)),
    # No host name, no line naming it.
    ('', '10.0.0.5', ()),
])
def test_the_pod_names_itself_in_etc_hosts(hostname, address, hosts):
    inst = instance()
    inst.hostname = hostname
    spec = container_spec.sandbox_spec(inst, 'host-1', address=address)
    assert spec.hosts == hosts


@pytest.mark.parametrize('value, policy', [
    (None, None),
    ('no', None),
    ('on-failure', types.RestartPolicy('on-failure', 0)),
    ('on-failure:3', types.RestartPolicy('on-failure', 3)),
    # Nova's stop must stay a stop when the engine restarts.
    ('always', types.RestartPolicy('unless-stopped')),
    ('unless-stopped', types.RestartPolicy('unless-stopped')),
])
def test_restart_policy_from_metadata(value, policy):
    metadata = {} if value is None else {'zun_restart_policy': value}
    assert workload(instance(metadata)).restart_policy == policy


@pytest.mark.parametrize('value', ['sometimes', 'always:2', 'on-failure:x',
                                   'on-failure:-1', 'no:1'])
def test_a_bad_restart_policy_fails_the_build(value):
    with pytest.raises(exception.InvalidInput, match='zun_restart_policy'):
        workload(instance({'zun_restart_policy': value}))


def test_the_rescue_container_has_no_restart_policy():
    spec = container_spec.rescue_spec(
        instance({'zun_restart_policy': 'always'}), 'host-1', 'img',
        'sandbox-id', 'runc', 4096)
    assert spec.restart_policy is None


@pytest.mark.parametrize('metadata, runs', [
    ({}, True), ({'zun_run': 'true'}, True), ({'zun_run': 'false'}, False)])
def test_runs_at_boot_unless_metadata_says_not(metadata, runs):
    assert container_spec.runs_at_boot(instance(metadata)) is runs


def test_a_bad_run_flag_fails_the_build():
    with pytest.raises(exception.InvalidInput, match='zun_run'):
        container_spec.runs_at_boot(instance({'zun_run': 'later'}))


def test_healthcheck_from_metadata():
    spec = workload(instance({'zun_healthcheck': json.dumps(
        {'cmd': 'test -e /ok', 'interval': 2, 'retries': 3})}))
    assert spec.healthcheck == types.Healthcheck('test -e /ok', 2, 0, 3)
    assert workload(instance()).healthcheck is None


@pytest.mark.parametrize('value', [
    'nope', '[]', '{}', '{"cmd": ""}', '{"cmd": "x", "interval": -1}',
    '{"cmd": "x", "interval": "2"}', '{"cmd": "x", "retries": true}',
    '{"cmd": "x", "other": 1}'])
def test_a_bad_healthcheck_fails_the_build(value):
    with pytest.raises(exception.InvalidInput, match='zun_healthcheck'):
        workload(instance({'zun_healthcheck': value}))


@pytest.mark.parametrize('extra_specs, privileged', [
    ({}, False), ({'zun:privileged': 'true'}, True),
    ({'zun:privileged': 'false'}, False)])
def test_only_the_flavor_makes_a_workload_privileged(extra_specs, privileged):
    assert workload(instance(extra_specs=extra_specs)).privileged is privileged
    # Server metadata, which any user sets, does not.
    assert not workload(instance({'zun:privileged': 'true'})).privileged


def _user_data(files):
    return base64.b64encode(json.dumps({'files': [
        {'path': path, 'content': base64.b64encode(data).decode()}
        for path, data in files]}).encode()).decode()


def test_injected_files_come_from_the_user_data():
    server = instance(metadata={'zun_files': 'user_data'})
    server.user_data = _user_data([('/etc/app/a.conf', b'a=1\n'),
                                   ('/x//y/../z', b'')])
    assert [('etc/app/a.conf', b'a=1\n'), ('x/z', b'')] == \
        container_spec.injected_files(server)
    assert [] == container_spec.injected_files(instance())


@pytest.mark.parametrize('metadata, files', [
    ({'zun_files': 'metadata'}, [('/a', b'')]),
    ({'zun_files': 'user_data'}, [('relative', b'')]),
    ({'zun_files': 'user_data'}, [('/', b'')]),
    ({'zun_files': 'user_data'}, [('/../..', b'')]),
])
def test_bad_injected_files_are_refused(metadata, files):
    server = instance(metadata=metadata)
    server.user_data = _user_data(files)
    with pytest.raises(exception.InvalidInput):
        container_spec.injected_files(server)


def test_user_data_that_is_not_files_is_refused():
    server = instance(metadata={'zun_files': 'user_data'})
    server.user_data = base64.b64encode(b'#cloud-config').decode()
    with pytest.raises(exception.InvalidInput):
        container_spec.injected_files(server)
