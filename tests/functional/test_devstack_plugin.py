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

"""The devstack plugin's phases, run as stack.sh, unstack.sh and clean.sh
run them, with devstack's functions and the host's commands recorded by
devstack_shim.sh (no devstack here: it needs systemd and its git servers).

Files are real: nova.conf, nova-cpu.conf as devstack's start_nova_compute
makes it (a copy of nova.conf), rootwrap.d, zun-native-api.conf,
daemon.json. Each test asserts what a service would read from them, through
the options the service registers. devstack/README.rst says what only a real
devstack host shows.
"""

import getpass
import json
import os
import pathlib
import shlex
import subprocess
import sys
import sysconfig
import tarfile
import textwrap

from oslo_config import cfg
from oslo_privsep import priv_context
from oslo_rootwrap import wrapper
import pytest
import vif_plug_ovs.privsep

from nova_zun import conf as zun_conf
from nova_zun import privileged
from zun_native_api import conf as api_conf

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHIM = pathlib.Path(__file__).with_name('devstack_shim.sh')
# Where devstack puts the Python of its services (GLOBAL_VENV), as
# get_python_exec_prefix answers: not on the harness's PATH.
EXEC_PREFIX = '/opt/stack/data/venv/bin'
CONTROLLER_IP = '192.0.2.10'
COMPUTE_IP = '192.0.2.11'
STACK = ('pre-install', 'install', 'post-config', 'extra')


class Devstack:
    """One devstack host: its directories, environment and recorded calls."""

    def __init__(self, base, **env):
        self.base = base
        dest = base / 'opt/stack'
        (dest / 'data').mkdir(parents=True)
        (dest / 'nova-zun').symlink_to(ROOT)
        self.nova_conf_dir = base / 'etc/nova'
        self.nova_conf_dir.mkdir(parents=True)
        (base / 'etc/glance').mkdir()
        self.log = base / 'calls.log'
        self.env = {
            'PATH': '/usr/sbin:/usr/bin:/sbin:/bin',
            'HOME': str(base),
            'HARNESS_LOG': str(self.log),
            'HARNESS_DIR': str(base),
            'HARNESS_EXEC_PREFIX': EXEC_PREFIX,
            'DEST': str(dest),
            'DATA_DIR': str(dest / 'data'),
            'NOVA_DIR': str(dest / 'nova'),
            'NOVA_CONF_DIR': str(self.nova_conf_dir),
            'NOVA_CONF': str(self.nova_conf_dir / 'nova.conf'),
            'NOVA_CPU_CONF': str(self.nova_conf_dir / 'nova-cpu.conf'),
            'NOVA_STATE_PATH': str(dest / 'data/nova'),
            'GLANCE_API_CONF': str(base / 'etc/glance/glance-api.conf'),
            'NOVA_ZUN_ENGINE_CONFIG': str(base / 'etc/docker/daemon.json'),
            'NOVA_ZUN_API_CONF_DIR': str(base / 'etc/nova-zun'),
            'STACK_USER': getpass.getuser(),
            'ENABLED_SERVICES': 'key,mysql,rabbit,g-api,n-api,n-cond,n-sch,'
                                'n-cpu,placement-api,q-svc,ovn-controller',
            'DEVSTACK_PLUGINS': 'nova-zun',
            'VIRT_DRIVER': 'zun',
            # stackrc's for VIRT_DRIVER=zun.
            'DOCKER_GROUP': 'docker',
            'os_PACKAGE': 'deb',
            'os_VENDOR': 'Debian',
            'PYTHON3_VERSION': '3.11',
            'SERVICE_HOST': CONTROLLER_IP,
            'HOST_IP': CONTROLLER_IP,
            'SERVICE_LISTEN_ADDRESS': '0.0.0.0',
            'SERVICE_PROTOCOL': 'http',
            'REGION_NAME': 'RegionOne',
            'ENABLE_DEBUG_LOG_LEVEL': 'True',
        }
        self.env.update(env)

    def run(self, *steps, check=True):
        """Run ``steps`` in one bash, as stack.sh (errexit) would.

        A step is a phase of plugin.sh (``stack install``) or a command
        (the shim's functions: devstack's own steps).
        """
        lines = ['set -o errexit',
                 'source %s' % shlex.quote(str(SHIM)),
                 'source %s' % shlex.quote(str(ROOT / 'devstack/settings'))]
        for step in steps:
            if step.split()[0] in ('stack', 'unstack', 'clean'):
                lines.append('source %s %s' % (
                    shlex.quote(str(ROOT / 'devstack/plugin.sh')), step))
            else:
                lines.append(step)
        result = subprocess.run(['bash', '-c', '\n'.join(lines)],
                                env=self.env, capture_output=True, text=True)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def stack(self):
        """Run stack.sh's steps for this host, in stack.sh's order.

        configure_nova (rootwrap) before the install phase, nova.conf
        before post-config, start_nova_compute between post-config and
        extra.
        """
        return self.run('devstack_configure_rootwrap_nova',
                        'stack pre-install', 'stack install',
                        'devstack_create_nova_conf', 'stack post-config',
                        'devstack_start_nova_compute', 'stack extra')

    def calls(self, name=None):
        if not self.log.exists():
            return []
        calls = [shlex.split(line) for line in self.log.read_text().
                 splitlines()]
        return [c for c in calls if name is None or c[0] == name]

    def commands(self, name):
        """The shim's host command ``name``'s calls (sudo or not)."""
        return self.calls(name)

    def nova_compute_conf(self):
        """nova-compute's options, read from its file as it reads them."""
        conf = cfg.ConfigOpts()
        conf.register_opt(cfg.StrOpt('compute_driver'))
        zun_conf.register_privsep_opts(conf)
        conf(['--config-file', self.env['NOVA_CPU_CONF']], project='nova',
             default_config_files=[], default_config_dirs=[])
        return conf

    def native_api_conf(self):
        conf = cfg.ConfigOpts()
        api_conf.register_opts(conf)
        path = os.path.join(self.env['NOVA_ZUN_API_CONF_DIR'],
                            'zun-native-api.conf')
        conf(['--config-file', path], project='zun-native-api',
             default_config_files=[], default_config_dirs=[])
        return conf


@pytest.fixture
def devstack(tmp_path):
    return Devstack(tmp_path)


# 1: start_nova_compute copies nova.conf over nova-cpu.conf.

def test_nova_compute_reads_the_driver_and_its_options(devstack):
    devstack.stack()
    conf = devstack.nova_compute_conf()
    assert 'zun.ZunDriver' == conf.compute_driver
    assert 'unix:///var/run/docker.sock' == conf.zun.engine_url
    assert '/bin/busybox' == conf.zun.sandbox_binary


# 2: nova-compute (the stack user) starts privsep daemons through
# "sudo nova-rootwrap": rootwrap.d must allow each context's helper.

def _privsep_helper(context):
    """oslo.privsep's helper command for ``context`` under nova-compute.

    With devstack's nova-cpu.conf, a socket in a fresh temporary directory.
    """
    return ['privsep-helper', '--config-file', '/etc/nova/nova-cpu.conf',
            '--privsep_context', context.pypath,
            '--privsep_sock_path', '/tmp/tmpa1b2c3/privsep.sock']


def test_rootwrap_lets_nova_compute_start_every_privsep_daemon(devstack):
    devstack.stack()
    contexts = [c for c in vars(privileged).values()
                if isinstance(c, priv_context.PrivContext)]
    contexts.append(vif_plug_ovs.privsep.vif_plug)
    filters = wrapper.load_filters([str(devstack.nova_conf_dir /
                                        'rootwrap.d')])
    # sudo finds the helper in devstack's virtualenv (its secure_path).
    exec_dirs = [os.path.dirname(sys.executable)]
    refused = []
    for context in contexts:
        try:
            wrapper.match_filter(filters, _privsep_helper(context),
                                 exec_dirs=exec_dirs)
        except (wrapper.NoFilterMatched, wrapper.FilterMatchNotExecutable):
            refused.append(context.pypath)
    assert [] == refused
    assert (devstack.nova_conf_dir / 'rootwrap.d/compute.filters').exists()


# 3: VIRT_DRIVER=zun downloads no image; Tempest needs one in Glance.

def test_extra_uploads_a_container_image(devstack):
    devstack.stack()
    (create,) = [c for c in devstack.commands('openstack')
                 if c[1:3] == ['image', 'create']]
    assert '--container-format docker --disk-format raw' in ' '.join(create)
    saved = [c for c in devstack.commands('docker') if c[1] == 'save']
    assert saved, devstack.calls()
    with tarfile.open(devstack.base / 'docker-import.tar') as rootfs:
        names = {m.name.lstrip('./') for m in rootfs.getmembers()}
    assert {'bin/busybox', 'bin/sh', 'bin/sleep'} <= names


# 4: the console token directory must be one the stack user can make.

def test_console_tokens_live_in_devstack_data_directory(devstack):
    devstack.stack()
    token_dir = devstack.native_api_conf().native_api.console_token_dir
    assert token_dir.startswith(devstack.env['DATA_DIR'] + '/')


# 5: the native API runs on each compute host; its peers forward to it.

def test_endpoint_and_peers_name_this_compute_host(tmp_path):
    # A second compute host: its native API, its own address.
    peers = 'controller:http://%s:9517' % CONTROLLER_IP
    devstack = Devstack(tmp_path, HOST_IP=COMPUTE_IP,
                        ENABLED_SERVICES='n-cpu,placement-client',
                        NOVA_ZUN_API_HOSTS=peers)
    devstack.stack()
    assert [['get_or_create_endpoint', 'container', 'RegionOne',
             'http://%s:9517/v1' % COMPUTE_IP]] == devstack.calls(
        'get_or_create_endpoint')
    api = devstack.native_api_conf().native_api
    assert {'controller': 'http://%s:9517' % CONTROLLER_IP,
            api.host: 'http://%s:9517' % COMPUTE_IP} == api.hosts


# 6: tls-proxy: https in front (devstack's Apache), http behind it.

def test_tls_proxy_fronts_the_native_api(tmp_path):
    devstack = Devstack(tmp_path, SERVICE_PROTOCOL='https')
    devstack.env['ENABLED_SERVICES'] += ',tls-proxy'
    devstack.stack()
    url = 'https://%s:9517' % CONTROLLER_IP
    assert [['get_or_create_endpoint', 'container', 'RegionOne',
             url + '/v1']] == devstack.calls('get_or_create_endpoint')
    api = devstack.native_api_conf().native_api
    assert url == api.hosts[api.host]
    assert ['start_tls_proxy', 'zun-native-api', '*', '9517',
            CONTROLLER_IP, str(api.bind_port)] in devstack.calls()
    assert 9517 != api.bind_port


# 7, 8: what the plugin cannot serve fails before anything is installed.

@pytest.mark.parametrize('env, message', [
    ({'os_PACKAGE': 'rpm', 'os_VENDOR': 'Rocky'}, 'Debian or Ubuntu'),
    ({'PYTHON3_VERSION': '3.10'}, 'Python 3.11'),
    ({'VIRT_DRIVER': 'libvirt'}, 'VIRT_DRIVER=zun'),
    ({'DEVSTACK_PLUGINS': 'devstack-plugin-container,nova-zun'},
     'devstack-plugin-container'),
])
def test_what_the_plugin_cannot_serve_stops_it_first(tmp_path, env,
                                                     message):
    devstack = Devstack(tmp_path, **env)
    result = devstack.run('stack pre-install', check=False)
    assert 0 != result.returncode
    (die,) = devstack.calls('die')
    assert message in ' '.join(die)
    assert [] == devstack.calls('install_package')


# 9: unstack removes the pods (as lib/nova's cleanup_nova removes
# instances) and their volume mounts; clean removes what the plugin wrote.

def test_unstack_removes_pods_and_mounts_clean_the_files(devstack):
    devstack.stack()
    volumes = devstack.env['NOVA_STATE_PATH'] + '/zun-volumes'
    devstack.env.update(
        HARNESS_CONTAINERS='c0ffee1 c0ffee2',
        HARNESS_MOUNTS='/ %s %s/uuid1/vdb' % (volumes, volumes))
    devstack.run('unstack')
    assert ['stop_process', 'zun-native-api'] in devstack.calls()
    (remove,) = [c for c in devstack.commands('docker') if c[1] == 'rm']
    assert ['docker', 'rm', '--force', 'c0ffee1', 'c0ffee2'] == remove
    assert ([['umount', volumes + '/uuid1/vdb'], ['umount', volumes]] ==
            devstack.commands('umount'))
    devstack.run('unstack', 'clean')
    assert not os.path.exists(devstack.env['NOVA_ZUN_API_CONF_DIR'])


# 10: the service user needs the service role (devstack gives every
# service user), not admin.

def test_service_user_gets_only_the_service_role(devstack):
    devstack.stack()
    assert [['create_service_user', 'zun']] == devstack.calls(
        'create_service_user')


# 11: the native API's command comes from devstack's Python, not PATH.

def test_native_api_runs_from_devstack_python(devstack):
    devstack.stack()
    (run,) = [c for c in devstack.calls('run_process')
              if c[1] == 'zun-native-api']
    assert run[2].startswith(EXEC_PREFIX + '/zun-native-api --config-file ')
    assert 'docker' == run[3]


# 12: the engine must not drop what devstack's public network forwards.

def test_engine_leaves_forwarding_to_devstack(devstack):
    devstack.stack()
    with open(devstack.env['NOVA_ZUN_ENGINE_CONFIG']) as f:
        engine = json.load(f)
    # The all-in-one's engine settings (nova_zun_workshop.engine).
    assert {'live-restore': True, 'iptables': False, 'ip6tables': False,
            'ip-masq': False, 'bridge': 'none'}.items() <= engine.items()
    assert ['systemctl', 'restart', 'docker'] in devstack.commands(
        'systemctl')
    assert ['iptables', '-P', 'FORWARD', 'ACCEPT'] in devstack.commands(
        'iptables')


# The nova.virt.zun shim with Nova installed as devstack installs it:
# "pip install -e" of a git checkout (setuptools' editable finder), then
# nova-zun the same way (setup_develop) by the plugin's install phase.

def _nova_checkout(directory):
    """Nova's git checkout in ``directory``, as devstack clones it.

    It is made of the source release constraints.txt pins, downloaded
    once into the user's cache (pip takes 20 s to find it again).
    """
    (pin,) = [line for line in (ROOT / 'constraints.txt').read_text().
              splitlines() if line.startswith('nova==')]
    cache = pathlib.Path(os.environ.get('XDG_CACHE_HOME',
                                        pathlib.Path.home() / '.cache'),
                         'nova-zun-tests')
    sdist = cache / ('nova-%s.tar.gz' % pin.partition('==')[2])
    if not sdist.exists():
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet',
                        '--no-deps', '--no-binary', ':all:', '--dest',
                        str(cache), pin], check=True, capture_output=True)
    directory.mkdir()
    subprocess.run(['tar', '--no-same-owner', '-xzf', str(sdist), '-C',
                    str(directory)], check=True)
    (checkout,) = directory.glob('nova-*')
    git = ['git', '-c', 'user.name=t', '-c', 'user.email=t@example.com']
    for args in (['init', '--quiet'], ['add', '--all'],
                 ['commit', '--quiet', '--message', pin]):
        subprocess.run(git + args, cwd=checkout, check=True)
    return checkout


def _venv(path):
    """Make a virtualenv without Nova or nova-zun; return its pip command.

    It reuses the test's installed dependencies (linked, not installed
    again), with a setuptools recent enough for Nova's pyproject.toml, as
    devstack's virtualenv has.
    """
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(path)], check=True)
    site = subprocess.run(
        [str(path / 'bin/python'), '-c',
         'import sysconfig; print(sysconfig.get_path("purelib"))'],
        check=True, capture_output=True, text=True).stdout.strip()
    ours = pathlib.Path(sysconfig.get_path('purelib'))
    deps = path / 'deps'
    deps.mkdir()
    for entry in ours.iterdir():
        name = entry.name.lower()
        if not name.startswith(('nova', 'zun_native_api', '__editable__',
                                'setuptools', '_distutils_hack',
                                'distutils-precedence')):
            (deps / entry.name).symlink_to(entry)
    pathlib.Path(site, 'zz-test-deps.pth').write_text(
        'import site; site.addsitedir(%r)\n' % str(deps))
    pip = [sys.executable, '-m', 'pip', '--python', str(path / 'bin/python')]
    subprocess.run(pip + ['install', '--quiet', 'setuptools>=77'],
                   check=True, capture_output=True)
    return ' '.join(shlex.quote(a) for a in pip)


def test_nova_loads_the_shim_with_nova_editable_from_git(tmp_path):
    devstack = Devstack(tmp_path / 'host')
    nova_dir = _nova_checkout(tmp_path / 'src')
    devstack.env.update(NOVA_DIR=str(nova_dir),
                        HARNESS_PIP=_venv(tmp_path / 'venv'))
    devstack.run('setup_develop "$NOVA_DIR"', 'stack install')
    # As nova-compute loads compute_driver = zun.ZunDriver.
    load = textwrap.dedent('''
        import nova
        from oslo_utils import importutils
        driver = importutils.import_class('nova.virt.zun.ZunDriver')
        print(nova.__file__, driver.__module__)
    ''')
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    loaded = subprocess.run([str(tmp_path / 'venv/bin/python'), '-c', load],
                            cwd=cwd, capture_output=True, text=True)
    assert 0 == loaded.returncode, loaded.stderr[-2000:]
    assert ('%s/nova/__init__.py nova_zun.driver' % nova_dir ==
            loaded.stdout.split('\n')[-2])
