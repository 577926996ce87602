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

"""tools/zun-tempest's tempest.conf, test list and stand-in images."""

import io
import os
import tarfile
from unittest import mock

import pytest

from nova_zun_workshop.allinone import cloud
from nova_zun_workshop.allinone import tempest
from nova_zun_workshop.allinone import zun_tempest


def _facts(tmp_path, external='public-id'):
    facts = mock.create_autospec(tempest.CloudFacts, instance=True)
    facts.cloud = cloud.Cloud(str(tmp_path), cloud.DEFAULT_PORT_BASE,
                              out=io.StringIO())
    facts.catalog = {'identity', 'compute', 'image', 'network',
                     'placement', 'container'}
    facts.networking = external
    facts.no_networking_reason.return_value = 'the cloud binds no ports'
    facts.network_extensions.return_value = ['router']
    return facts


def _conf(tmp_path, microversion, external='public-id'):
    return zun_tempest.zun_tempest_conf(
        _facts(tmp_path, external), str(tmp_path), microversion,
        '127.0.0.1:5000/cirros:latest', 'zun-tempest-nginx')


def test_the_plugin_runs_at_exactly_the_microversion_asked(tmp_path):
    conf = _conf(tmp_path, '1.40')
    service = conf['container_service']
    assert (service['min_microversion'], service['max_microversion']) == (
        '1.40', '1.40')
    assert service['catalog_type'] == 'container'
    assert service['cirros_image'] == '127.0.0.1:5000/cirros:latest'
    assert service['nginx_image'] == 'zun-tempest-nginx'
    assert conf['service_available']['zun'] == 'true'
    # What tools/tempest's conf says about the cloud, shared.
    assert conf['auth']['use_dynamic_credentials'] == 'true'
    assert conf['identity']['uri_v3'].endswith('/v3')
    assert conf['validation']['run_validation'] == 'false'
    assert 'compute' not in conf


def test_project_networks_from_1_27_where_ports_are_bound(tmp_path):
    # Below 1.27 the plugin cleans a project's network up through a Docker
    # daemon on tcp://localhost:2375.
    assert _conf(tmp_path, '1.20')['auth'][
        'create_isolated_networks'] == 'false'
    assert _conf(tmp_path, '1.27')['auth'][
        'create_isolated_networks'] == 'true'
    assert _conf(tmp_path, '1.40', external=None)['auth'][
        'create_isolated_networks'] == 'false'
    assert _conf(tmp_path, '1.40')['network']['public_network_id'] == (
        'public-id')


def _list(tmp_path):
    path = tmp_path / 'list.txt'
    path.write_text('all\n-capsules  # out\nnetwork: ports\n'
                    'project-network: own\n')
    return str(path)


def test_tags_leave_tests_out_where_they_cannot_run(tmp_path):
    out = io.StringIO()
    assert zun_tempest.test_regexes(
        _list(tmp_path), _facts(tmp_path), '1.40', out) == (
            ['all'], ['capsules'])
    assert zun_tempest.test_regexes(
        _list(tmp_path), _facts(tmp_path), '1.20', out) == (
            ['all'], ['capsules', 'own'])
    assert zun_tempest.test_regexes(
        _list(tmp_path), _facts(tmp_path, external=None), '1.40', out) == (
            ['all'], ['capsules', 'ports'])
    assert 'not run, the cloud binds no ports: ports' in out.getvalue()


def test_an_unknown_tag_is_refused(tmp_path):
    path = tmp_path / 'list.txt'
    path.write_text('volume: foo\n')
    with pytest.raises(tempest.TempestError):
        zun_tempest.test_regexes(str(path), _facts(tmp_path), '1.40')
    with pytest.raises(tempest.TempestError):
        tempest.read_tests(str(path))


def test_the_committed_list_runs_the_plugin_s_api_tests(tmp_path):
    include, exclude, tagged = tempest.read_tagged_tests(
        zun_tempest.TEST_LIST)
    assert include == ['zun_tempest_plugin\\.tests\\.tempest\\.api\\.']
    assert any('test_capsules' in r for r in exclude)
    assert set(tagged) == set(zun_tempest.TAGS)


def test_the_workspace_spreads_a_class_over_the_workers(tmp_path):
    conf = tmp_path / '.stestr.conf'
    conf.write_text('[DEFAULT]\ntest_path=x\ngroup_regex=([^\\.]*\\.)*\n')
    zun_tempest.spread_classes(str(tmp_path))
    assert conf.read_text() == '[DEFAULT]\ntest_path=x\n'


def test_the_stand_in_image_has_curl_and_httpd():
    with tarfile.open(fileobj=io.BytesIO(
            zun_tempest.stand_in_rootfs())) as tar:
        names = tar.getnames()
        curl = tar.getmember('bin/curl')
        assert curl.mode == 0o755
        assert b'wget' in tar.extractfile(curl).read()
    assert {'bin/busybox', 'bin/httpd', 'bin/wget', 'bin/ping',
            'bin/sleep'} <= set(names)


def test_the_venv_holds_tempest_and_the_plugin_pinned(tmp_path):
    assert zun_tempest.REQUIREMENTS == [
        'tempest==' + tempest.TEMPEST_VERSION,
        'zun-tempest-plugin==' + zun_tempest.PLUGIN_VERSION]
    venv = tmp_path / 'venv'
    venv.mkdir()
    (venv / ('nova-zun-tempest-%s+zun-tempest-plugin-%s' % (
        tempest.TEMPEST_VERSION, zun_tempest.PLUGIN_VERSION))).touch()
    with mock.patch('subprocess.run', autospec=True) as run:
        tempest.ensure_venv(str(venv), requirements=zun_tempest.REQUIREMENTS)
    assert not run.called


def test_a_host_without_ping_gets_busybox_s(tmp_path):
    with mock.patch('shutil.which', autospec=True, return_value=None):
        env = zun_tempest.tools_env(str(tmp_path))
    assert env['PATH'].startswith(str(tmp_path / 'bin'))
    assert (tmp_path / 'bin' / 'ping').is_symlink()
    with mock.patch('shutil.which', autospec=True,
                    return_value='/usr/bin/ping'):
        assert zun_tempest.tools_env(str(tmp_path))['PATH'] == (
            os.environ['PATH'])
