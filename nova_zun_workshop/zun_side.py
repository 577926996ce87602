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

"""Zun 18 beside nova-zun, for the benchmarks (issue 22).

``python -m nova_zun_workshop.zun_side up --base-dir D --port-base P``
starts, bound to 127.0.0.1 with state under ``D``: RabbitMQ, MariaDB,
Keystone and Placement as the all-in-one starts them
(``nova_zun_workshop.allinone``), a stand-in Neutron
(``nova_zun_workshop.neutron_stub``: Zun has no networking without
Neutron), a private Docker engine, and Zun's ``zun-api`` and
``zun-compute`` from PyPI's ``zun`` in a virtualenv of their own
(``D/zun-venv``, made on first use; never the project's). ``create``
runs a container through python-zunclient; ``stop`` stops everything,
``clean`` removes ``D`` too.

What Zun needs, read from its code: Keystone (its API checks tokens, its
services authenticate), a database (MariaDB; etcd is optional), RabbitMQ
(API to compute RPC), Placement (its scheduler asks for allocation
candidates, its compute reports its host as a resource provider) and
Neutron (a network for every container; a port per container). Its
kuryr network driver makes a Docker network with the kuryr-libnetwork
plugin unless one of the Neutron network's id exists on the engine: the
engine gets an internal bridge network of that name beforehand.
"""

import argparse
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time

from nova_zun.runtime import docker as docker_runtime
from nova_zun_workshop.allinone import cloud as aio
from nova_zun_workshop.allinone import configs
from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import images as test_images
from nova_zun_workshop import neutron_stub
from nova_zun_workshop import processes

ZUN_VERSION = '18.0.0'
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# OpenStack's upper constraints of the release's time, in the shared/
# folder beside the checkout.
CONSTRAINTS = os.path.join(os.path.dirname(CHECKOUT), 'shared', 'reference',
                           'openstack-upper-constraints-2026-08.txt')
ZUN_PACKAGES = ['zun==%s' % ZUN_VERSION, 'python-zunclient', 'PyMySQL']
ZUN_COMMANDS = {'lspci': 'pciutils', 'numactl': 'numactl'}


def host_routes_within(cidr):
    """The host's IPv4 routes that overlap ``cidr``."""
    found = subprocess.run(['ip', '-j', '-4', 'route', 'show'],
                           capture_output=True, text=True, check=True)
    wanted = ipaddress.ip_network(cidr)
    return [r['dst'] for r in json.loads(found.stdout or '[]')
            if r.get('dst', 'default') != 'default' and
            ipaddress.ip_network(r['dst'], strict=False).overlaps(wanted)]


class ZunSide(aio.Cloud):
    """Zun's services and what they need, in ``base_dir``."""

    def __init__(self, base_dir, port_base, zun_venv=None, out=sys.stdout):
        super().__init__(base_dir, port_base, out=out, dashboard=False)
        self.zun_venv = zun_venv or os.path.join(self.base_dir, 'zun-venv')
        self.ports['zun-api'] = self.ports['native-api']
        self.dirs['zun'] = os.path.join(self.base_dir, 'zun')
        self.zun_conf = os.path.join(self.dirs['zun'], 'zun.conf')
        self.urls['container'] = self._url('zun-api', '/v1')
        self.zun_engine = engine_tool.PrivateEngine(
            os.path.join(self.base_dir, 'engine'), runsc=False)
        self.services = self._zun_services()
        # Zun's Docker driver names its node after the engine's host name
        # (docker info), and serves nothing unless [DEFAULT] host is it.

    # -- the parts ----------------------------------------------------------

    def zun_bin(self, name):
        return os.path.join(self.zun_venv, 'bin', name)

    def _zun_services(self):
        wanted = ('epmd', 'rabbitmq', 'mariadb', 'keystone', 'placement')
        kept_services = [s for s in self._services() if s.name in wanted]
        stub = self._gunicorn(
            'neutron', 'nova_zun_workshop.neutron_stub:application',
            self.base_dir, {'PYTHONPATH': CHECKOUT},
            self.urls['network'] + '/v2.0/networks')
        conf = ['--config-file', self.zun_conf]
        return kept_services + [
            stub,
            self._service('zun-api', [self.zun_bin('zun-api')] + conf,
                          url=self._url('zun-api', '/')),
            self._service('zun-compute',
                          [self.zun_bin('zun-compute')] + conf),
        ]

    def install_zun(self):
        # zun-compute's inventory runs lspci and numactl: without them it
        # reports no resource provider, and nothing can be scheduled.
        engine_tool.ensure_packages(ZUN_COMMANDS)
        if os.path.exists(self.zun_bin('zun-compute')):
            return
        subprocess.run([sys.executable, '-m', 'venv', self.zun_venv],
                       check=True)
        constraints = (['-c', CONSTRAINTS] if os.path.exists(CONSTRAINTS)
                       else [])
        self._manage('pip install zun', [
            self.zun_bin('pip'), 'install', '-q'] + constraints +
            ZUN_PACKAGES)

    def register(self):
        ks = self.keystone.keystone_client()
        project = (ks.projects.list(name='service') or [None])[0] or \
            ks.projects.create('service', 'default')
        roles = [(ks.roles.list(name=name) or [None])[0] or
                 ks.roles.create(name) for name in ('admin', 'service')]
        for name in ('placement', 'zun'):
            user = (ks.users.list(name=name) or [None])[0] or \
                ks.users.create(name, domain='default',
                                password=configs.SERVICE_PASSWORD,
                                default_project=project)
            for role in roles:
                ks.roles.grant(role, user=user, project=project)
        for service_type, name in (('placement', 'placement'),
                                   ('network', 'neutron'),
                                   ('container', 'zun')):
            self.keystone.add_endpoint(service_type, name,
                                       self.urls[service_type])

    def write_zun_conf(self):
        state = self.dirs['zun']
        processes.write_ini(self.zun_conf, {
            'DEFAULT': {
                'host': self.host, 'my_ip': '127.0.0.1', 'debug': 'false',
                'transport_url': self.transport_url,
                'state_path': state,
                'container_driver': 'docker', 'capsule_driver': 'docker',
                'image_driver_list': 'docker',
                'default_image_driver': 'docker',
                'default_cpu': '0', 'default_memory': '0',
                'default_disk': '0',
            },
            'api': {'host_ip': '127.0.0.1',
                    'port': str(self.ports['zun-api']), 'workers': '1',
                    'api_paste_config': os.path.join(
                        self.zun_venv, 'etc', 'zun', 'api-paste.ini'),
                    # The default searches Docker Hub for the image.
                    'enable_image_validation': 'false'},
            'database': {'connection': self.mariadb_url('zun')},
            'docker': {'api_url': self.zun_engine.url,
                       'docker_remote_api_url': self.zun_engine.url},
            'keystone_auth': dict(configs.service_auth(self.keystone_url,
                                                       'zun')),
            'keystone_authtoken': dict(configs.authtoken(self.keystone_url,
                                                         'zun')),
            'oslo_concurrency': {'lock_path': state},
            'compute': {'host_shared_with_nova': 'false'},
            'websocket_proxy': {'base_url': 'ws://127.0.0.1:1/'},
        })

    def setup_zun(self):
        self.write_zun_conf()
        self.create_databases(['zun'])
        self._manage('zun-db-manage', [self.zun_bin('zun-db-manage'),
                                       '--config-file', self.zun_conf,
                                       'upgrade'])

    def _engine_api(self):
        import docker
        return docker.APIClient(base_url=self.zun_engine.url,
                                version='auto')

    def engine_network(self):
        """The Neutron network's twin on the engine; the test images."""
        import docker
        client = self._engine_api()
        if not client.networks(names=[neutron_stub.NETWORK_ID]):
            taken = host_routes_within(neutron_stub.CIDR)
            if taken:
                raise aio.StepFailed('the host routes %s already: set '
                                     'NEUTRON_STUB_CIDR to a free subnet'
                                     % ', '.join(taken))
            sub = neutron_stub.subnet()
            ipam = docker.types.IPAMConfig(pool_configs=[
                docker.types.IPAMPool(subnet=sub['cidr'],
                                      gateway=sub['gateway_ip'])])
            client.create_network(neutron_stub.NETWORK_ID, driver='bridge',
                                  internal=True, ipam=ipam)
        runtime = docker_runtime.DockerRuntime(self.zun_engine.url)
        test_images.build(runtime)

    # -- up and down ----------------------------------------------------------

    def up(self):
        for d in [self.run_dir, self.log_dir] + list(self.dirs.values()):
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(self.dirs['rabbitmq'], 'enabled_plugins'),
                  'w') as f:
            f.write('[].\n')
        self.step('Zun %s in %s' % (ZUN_VERSION, self.zun_venv),
                  self.install_zun)
        self.step('private Docker engine (%s)' % self.zun_engine.socket,
                  self.zun_engine.start)
        self.step('engine network and test images', self.engine_network)
        self.start_common()
        self.once('placement-setup', 'Placement database',
                  self.setup_placement)
        self.start('placement')
        self.start('neutron')
        self.once('zun-setup', 'Zun database', self.setup_zun)
        self.start('zun-api')
        self.start('zun-compute')
        self.step('zun-compute in Placement', self.wait_zun_compute)
        self.write_openrc()

    def wait_zun_compute(self, timeout=180):
        from keystoneauth1 import adapter
        placement = adapter.Adapter(self.keystone.admin_session(),
                                    service_type='placement')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.service('zun-compute').pid:
                raise aio.StepFailed('zun-compute exited:\n' +
                                     processes.log_tail(
                                         self.service('zun-compute')
                                         .log_path, 40))
            found = placement.get('/resource_providers', raise_exc=False)
            if found.ok and self.host in [
                    p['name'] for p in found.json()['resource_providers']]:
                return
            time.sleep(1)
        raise aio.StepFailed('zun-compute made no resource provider in '
                             '%d s' % timeout)

    def _bridge(self):
        """The host's bridge of the engine's network, if the engine runs."""
        if not self.zun_engine.pid:
            return None
        try:
            found = self._engine_api().networks(
                names=[neutron_stub.NETWORK_ID])
        except Exception:
            return None
        return 'br-' + found[0]['Id'][:12] if found else None

    def stop(self):
        bridge = self._bridge()
        for service in reversed(self.services):
            service.stop()
        self.zun_engine.stop(remove=False)
        # The engine leaves its bridges behind when it stops (and makes
        # them again when it starts).
        if bridge:
            subprocess.run(['ip', 'link', 'delete', bridge],
                           stderr=subprocess.DEVNULL)

    def clean(self):
        self.stop()
        self.zun_engine.stop(remove=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- clients --------------------------------------------------------------

    def zun_client(self):
        from zunclient import client
        return client.Client('1.latest', session=self.keystone
                             .admin_session(), service_type='container')

    def zun_cli(self, *args):
        result = subprocess.run([self.zun_bin('zun')] + list(args),
                                capture_output=True, text=True,
                                env=self.client_env())
        return result.returncode, result.stdout + result.stderr


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('action', choices=('up', 'create', 'stop', 'clean',
                                           'pids'))
    parser.add_argument('--base-dir', default='/tmp/nova-zun-zun-side')
    parser.add_argument('--port-base', type=int, default=32400)
    parser.add_argument('--zun-venv', help='Zun\'s virtualenv (default: '
                        'BASE_DIR/zun-venv, made on first use)')
    args = parser.parse_args(argv)
    side = ZunSide(args.base_dir, args.port_base, zun_venv=args.zun_venv)
    if args.action == 'up':
        side.up()
    elif args.action == 'create':
        code, out = side.zun_cli(
            'run', '--name', 'zun-side-demo', '--image-pull-policy',
            'ifnotpresent', test_images.reference('sleeper'))
        print(out)
        return code
    elif args.action == 'pids':
        print(json.dumps({s.name: s.pids() for s in side.services}))
    elif args.action == 'stop':
        side.stop()
    else:
        side.clean()
    return 0


if __name__ == '__main__':
    sys.exit(main())
