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

"""A single-host OpenStack cloud whose compute host runs containers.

``tools/cloud up`` starts, all bound to 127.0.0.1, with state under one
directory and a log per service: a private Docker engine, Open vSwitch
(userspace datapath) and OVN (northbound and southbound databases,
ovn-northd, ovn-controller), RabbitMQ, MariaDB (Nova's, Placement's and
Neutron's databases; the others are SQLite), Keystone, Glance (file
store), Placement, Nova (API, conductor, scheduler and nova-compute with
``compute_driver = zun.ZunDriver``), Neutron with ML2/OVN (API server, OVN
maintenance worker, periodic workers) and the native API; registers the
catalog, a container flavor and a demo image, makes devstack's networks
(``public``, ``private`` and a router between them), boots a server on
``private`` and shows exec and its console log through the real clients.
``status``, ``pids`` (JSON, for tests), ``stop`` (every process, state
kept) and ``clean`` (everything removed) follow; ``up`` again reuses what
exists. doc/all-in-one.rst describes it.
"""

import argparse
import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun_workshop.allinone import computes as computes_tool
from nova_zun_workshop.allinone import configs
from nova_zun_workshop.allinone import ovn
from nova_zun_workshop.allinone import services
from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import glance as glance_tool
from nova_zun_workshop import images as test_images
from nova_zun_workshop import keystone as keystone_tool
from nova_zun_workshop import ovs as ovs_tool
from nova_zun_workshop import processes

DEFAULT_BASE_DIR = '/var/lib/nova-zun-aio'
DEFAULT_PORT_BASE = 25300
# Where free_port_base looks from: above the well-known and most
# registered service ports.
_LOWEST_PORT_BASE = 10000
# Offsets from the port base (RabbitMQ's Erlang port mapper and its
# distribution port included, so a system RabbitMQ is never in the way).
PORT_OFFSETS = {'keystone': 0, 'glance': 1, 'placement': 2, 'nova-api': 3,
                'native-api': 4, 'neutron': 5, 'rabbitmq': 6, 'epmd': 7,
                'rabbitmq-dist': 8, 'horizon': 9}
TENANT_ISOLATION_MODES = ('off', 'all', 'flavor')
FLAVOR = 'c1.small'
IMAGE = 'nova-zun-demo'
SERVER = 'demo'
# Statuses a server stays in until asked otherwise.
SETTLED_STATUSES = ('ACTIVE', 'SHUTOFF', 'ERROR')
DEMO_COMMAND = 'hostname'
CONTAINER_TRAIT = 'CUSTOM_ZUN_CONTAINER_HOST'
# Nova's microversion for servers without networks (--nic none).
COMPUTE_API_VERSION = '2.37'
PUBLIC_NETWORK = 'public'
PRIVATE_NETWORK = 'private'
ROUTER = 'router1'
SERVICE_USERS = ('nova', 'placement', 'glance', 'neutron', 'zun')
RABBITMQ_BIN = '/usr/lib/rabbitmq/bin'
EPMD = '/usr/bin/epmd'
MARIADBD = '/usr/sbin/mariadbd'
NOVA_DATABASES = ('nova_api', 'nova_cell0', 'nova')
NEUTRON_CONFIG_FILES = ('neutron.conf', 'ml2_conf.ini')


_NEUTRON_SCHEMA = (
    'import sys, sqlalchemy\n'
    'from neutron.db.migration.models import head\n'
    'head.get_metadata().create_all(sqlalchemy.create_engine(sys.argv[1]))')


# A neutron-server API process alone (no agents, no RPC workers) answers
# get_ports before anything made SQLAlchemy configure its mappers, which
# adds the relations (port forwardings) get_ports names: configure first.
_NEUTRON_APP_IMPORT = ('from neutron.wsgi.api import application\n'
                       'from sqlalchemy import orm\n'
                       'orm.configure_mappers()')


class StepFailed(Exception):
    pass


def _bin(name):
    return os.path.join(os.path.dirname(sys.executable), name)


class Cloud:
    """The services, state and setup steps of the cloud in ``base_dir``.

    Its services listen from ``port_base`` on.
    """

    def __init__(self, base_dir, port_base, out=sys.stdout, dashboard=None,
                 computes=1, tenant_isolation='off'):
        self.base_dir = os.path.abspath(base_dir)
        # Horizon or not: as asked, else as the last up had it.
        self.dashboard = (dashboard if dashboard is not None
                          else kept_dashboard(self.base_dir))
        self.out = out
        self.started = time.monotonic()
        self.started_at = time.time()
        self.host = socket.gethostname()
        self.ports = {name: port_base + offset
                      for name, offset in port_offsets(computes).items()}
        self.tenant_isolation = tenant_isolation
        self.run_dir = os.path.join(self.base_dir, 'run')
        self.log_dir = os.path.join(self.base_dir, 'log')
        self.dirs = {name: os.path.join(self.base_dir, name)
                     for name in ('keystone', 'glance', 'placement', 'nova',
                                  'neutron', 'native-api', 'rabbitmq',
                                  'mariadb', 'horizon')}
        self.mariadb_socket = os.path.join(self.dirs['mariadb'], 'sock')
        # MariaDB's: on SQLite, Tempest's projects and users made and
        # removed while services check tokens failed with "database is
        # locked" (HTTP 500).
        self.keystone = keystone_tool.Keystone(
            self.dirs['keystone'], self.ports['keystone'],
            database=self.mariadb_url('keystone'))
        self.keystone_url = self.keystone.url
        self.glance = glance_tool.Glance(
            self.keystone_url, 'glance', configs.SERVICE_PASSWORD,
            self.dirs['glance'], self.ports['glance'])
        self.computes = [computes_tool.ComputeHost(self.base_dir, n,
                                                   self.host, self.ports)
                         for n in range(1, computes + 1)]
        # The first compute host's, where the demo image is built.
        self.engine = self.computes[0].engine
        self.scheduling_conf = os.path.join(self.dirs['nova'],
                                            'scheduling.conf')
        self.serialproxy_conf = os.path.join(self.dirs['nova'],
                                             'serialproxy.conf')
        self.urls = {
            'identity': self.keystone_url,
            'image': self.glance.url,
            'placement': self._url('placement'),
            'compute': self._url('nova-api', '/v2.1'),
            'network': self._url('neutron'),
            'container': self._url('native-api', '/v1'),
            'serialproxy': 'ws://127.0.0.1:%d/' % self.ports['serialproxy'],
        }
        self.transport_url = 'rabbit://guest:guest@127.0.0.1:%d/' % (
            self.ports['rabbitmq'])
        self.openrc = os.path.join(self.base_dir, 'openrc')
        self.switch = ovn.Switch(self.base_dir, self.log_dir, self.host)
        self.services = self._services()

    def _url(self, service, path=''):
        return 'http://127.0.0.1:%d%s' % (self.ports[service], path)

    def mariadb_url(self, name):
        # Nova's services on one SQLite file fail concurrent boots
        # ("database is locked"), and so do Placement's allocations in a
        # burst of them: their databases are MariaDB's.
        return 'mysql+pymysql://root@localhost/%s?unix_socket=%s' % (
            name, self.mariadb_socket)

    # -- output -------------------------------------------------------------

    def say(self, text):
        print(text, file=self.out, flush=True)

    def step(self, title, func, *args):
        began = time.monotonic()
        try:
            result = func(*args)
        except (services.ServiceError, StepFailed, ovs_tool.OVSStartError):
            raise
        except Exception as exc:
            raise StepFailed('%s: %s: %s' % (title, type(exc).__name__, exc))
        now = time.monotonic()
        self.say('[%6.1fs] %s (%.1fs)' % (now - self.started, title,
                                          now - began))
        return result

    # -- services -----------------------------------------------------------

    def _service(self, name, command, env=None, **readiness):
        return services.Service(name, command, self.run_dir, self.log_dir,
                                env=dict(self._env(), **(env or {})),
                                cwd=self.base_dir, **readiness)

    def _env(self):
        # Services run nova_zun and zun_native_api as installed in the
        # virtualenv (tools/bootstrap: pip install .), as on a real host:
        # no source tree on their path (their working directory is the
        # base directory, never the checkout).
        env = dict(os.environ)
        env.pop('PYTHONPATH', None)
        return env

    def _gunicorn(self, name, app, chdir, env, url, workers=1):
        # Each its own control socket: gunicorn's default is one per user
        # (~/.gunicorn/gunicorn.ctl), which services and clouds would share.
        command = [_bin('gunicorn'), '--chdir', chdir,
                   '--bind', '127.0.0.1:%d' % self.ports[name],
                   '--control-socket', os.path.join(self.run_dir,
                                                    name + '.ctl'),
                   '--workers', str(workers), '--threads', '4',
                   # Neutron's worker keeps threads (OVN's connections)
                   # that hold its exit for the whole default 30 s.
                   '--timeout', '120', '--graceful-timeout', '5',
                   '--name', name, app]
        return self._service(name, command, env=env, url=url)

    def _neutron_service(self, binary):
        neutron = self.dirs['neutron']
        command = [_bin(binary)]
        for name in NEUTRON_CONFIG_FILES:
            command += ['--config-file', os.path.join(neutron, name)]
        return self._service(binary, command)

    def _switch_services(self):
        env = self.switch.env()
        return [self._service(name, command, env=env, **readiness)
                for name, (command, readiness)
                in self.switch.commands().items()]

    def _nova_service(self, binary, *more_confs, name=None, **readiness):
        command = [_bin(binary), '--config-file',
                   os.path.join(self.dirs['nova'], 'nova.conf')]
        for conf in more_confs:
            command += ['--config-file', conf]
        return self._service(name or binary, command, **readiness)

    def _compute_services(self):
        """nova-compute and the native API of every compute host."""
        for host in self.computes:
            yield self._nova_service('nova-compute', self.scheduling_conf,
                                     host.compute_conf,
                                     name=host.compute_service)
            yield self._service(
                host.native_api_service,
                [_bin('zun-native-api'), '--config-file',
                 host.native_api_conf],
                url=host.native_api_url + '/')

    def _services(self):
        rabbit = self.dirs['rabbitmq']
        epmd_env = {'ERL_EPMD_PORT': str(self.ports['epmd'])}
        rabbit_env = dict(
            epmd_env, HOME=rabbit,
            RABBITMQ_NODENAME='nova-zun-aio@localhost',
            RABBITMQ_NODE_IP_ADDRESS='127.0.0.1',
            RABBITMQ_NODE_PORT=str(self.ports['rabbitmq']),
            RABBITMQ_DIST_PORT=str(self.ports['rabbitmq-dist']),
            # Erlang's distribution listens on every address otherwise.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=(
                '-kernel inet_dist_use_interface {127,0,0,1}'),
            RABBITMQ_MNESIA_BASE=os.path.join(rabbit, 'mnesia'),
            RABBITMQ_LOG_BASE=self.log_dir,
            RABBITMQ_LOGS='-',
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(rabbit,
                                                       'enabled_plugins'),
            RABBITMQ_PID_FILE=os.path.join(rabbit, 'rabbitmq.pid'))
        nova = self.dirs['nova']
        neutron = self.dirs['neutron']
        return self._switch_services() + [
            self._service('epmd', [EPMD, '-address', '127.0.0.1', '-port',
                                   str(self.ports['epmd'])],
                          port=self.ports['epmd']),
            self._service('rabbitmq',
                          [os.path.join(RABBITMQ_BIN, 'rabbitmq-server')],
                          env=rabbit_env, port=self.ports['rabbitmq']),
            # Unix socket only (no TCP); root without a password.
            self._service('mariadb', [
                MARIADBD, '--no-defaults',
                '--datadir', os.path.join(self.dirs['mariadb'], 'data'),
                '--socket', self.mariadb_socket, '--skip-networking',
                '--user=root', '--innodb-buffer-pool-size=64M',
                '--performance-schema=off',
                '--pid-file', os.path.join(self.dirs['mariadb'], 'pid')],
                socket_path=self.mariadb_socket),
            self._gunicorn('keystone', 'keystone_app:application',
                           self.dirs['keystone'],
                           {'OS_KEYSTONE_CONFIG_FILES':
                            self.keystone.conf_file},
                           self.keystone_url),
            self._gunicorn('glance', 'glance_app:application',
                           self.dirs['glance'],
                           {'OS_GLANCE_CONFIG_DIR': self.dirs['glance']},
                           self.urls['image']),
            self._gunicorn('placement', 'placement_app:application',
                           self.dirs['placement'],
                           {'OS_PLACEMENT_CONFIG_DIR':
                            self.dirs['placement']},
                           self.urls['placement']),
            self._gunicorn('nova-api', 'nova_api_app:application', nova,
                           {'OS_NOVA_CONFIG_DIR': nova,
                            # The paste pipeline comes first.
                            'OS_NOVA_CONFIG_FILES': 'api-paste.ini;nova.conf'},
                           self.urls['compute']),
            # The API worker holds ML2/OVN's connections to OVN's
            # databases and handles their events (a port up: Nova's
            # network-vif-plugged); the maintenance worker and the
            # periodic workers run apart, as devstack runs them beside a
            # Neutron API under uWSGI.
            # Neutron reads the number of API workers (OVN's hash ring
            # needs it) from uWSGI, mod_wsgi or, for other servers, this
            # variable; its workers elect a first one through files in the
            # temporary directory: the cloud's.
            self._gunicorn('neutron', 'neutron_app:application', neutron,
                           {'OS_NEUTRON_CONFIG_DIR': neutron,
                            'OS_NEUTRON_CONFIG_FILES':
                            ';'.join(NEUTRON_CONFIG_FILES),
                            'ASGI_WORKERS': '1', 'TMPDIR': neutron},
                           self.urls['network']),
            self._neutron_service('neutron-ovn-maintenance-worker'),
            self._neutron_service('neutron-periodic-workers'),
            self._nova_service('nova-conductor'),
            self._nova_service('nova-scheduler', self.scheduling_conf),
            self._nova_service('nova-serialproxy', self.serialproxy_conf,
                               port=self.ports['serialproxy']),
            self._gunicorn('horizon', 'dashboard_app:application',
                           self.dirs['horizon'], {},
                           self._url('horizon', '/auth/login/')),
        ] + list(self._compute_services())

    def service(self, name):
        return next(s for s in self.services if s.name == name)

    # -- up -----------------------------------------------------------------

    def _done(self, name):
        return os.path.exists(os.path.join(self.run_dir, name + '.done'))

    def _mark(self, name):
        open(os.path.join(self.run_dir, name + '.done'), 'w').close()

    def once(self, name, title, func):
        """Run a setup step unless an earlier ``up`` did."""
        if self._done(name):
            self.say('[%6.1fs] %s: done before' % (
                time.monotonic() - self.started, title))
            return
        self.step(title, func)
        self._mark(name)

    def start(self, name, timeout=120):
        service = self.service(name)
        started = service.start()
        self.step('%s %s (log %s)' % (
            'started' if started else 'running:', name, service.log_path),
            service.wait_ready, timeout)

    def _manage(self, service, command, env=None):
        result = subprocess.run(command, capture_output=True, text=True,
                                env=dict(self._env(), **(env or {})),
                                cwd=self.base_dir)
        if result.returncode:
            raise StepFailed('%s failed (%s):\n%s%s' % (
                service, ' '.join(command), result.stdout[-3000:],
                result.stderr[-3000:]))
        return result.stdout

    def _nova_manage(self, *args):
        conf = os.path.join(self.dirs['nova'], 'nova.conf')
        command = [_bin('nova-manage'), '--config-file', conf]
        return self._manage('nova-manage', command + list(args))

    def start_common(self):
        """RabbitMQ, MariaDB and Keystone with its users and catalog."""
        self.start('epmd')
        self.start('rabbitmq', timeout=120)
        self.once('mariadb-data', 'MariaDB data directory',
                  self.setup_mariadb)
        self.start('mariadb')
        self.once('keystone-setup', 'Keystone database, keys and admin',
                  self.setup_keystone)
        self.start('keystone')
        self.once('catalog', 'service users and catalog', self.register)

    def up(self):
        for d in [self.run_dir, self.log_dir] + list(self.dirs.values()) + [
                d for host in self.computes for d in host.dirs()]:
            os.makedirs(d, exist_ok=True)
        isolation_was = kept(self.base_dir, 'tenant-isolation', None, None)
        for name, value in (('port-base', self.ports['keystone']),
                            ('computes', len(self.computes)),
                            ('tenant-isolation', self.tenant_isolation),
                            ('dashboard', 'on' if self.dashboard else 'off')):
            with open(os.path.join(self.base_dir, name), 'w') as f:
                f.write(str(value))
        with open(os.path.join(self.dirs['rabbitmq'], 'enabled_plugins'),
                  'w') as f:
            f.write('[].\n')
        for host in self.computes:
            self.step('private Docker engine of %s (%s, log %s)' % (
                host.host, host.engine.socket, host.engine.log_path),
                host.engine.start)
        self.start_switch()
        self.start_common()
        self.once('glance-setup', 'Glance database and stores',
                  self.glance.prepare)
        self.once('placement-setup', 'Placement database',
                  self.setup_placement)
        self.once('neutron-setup', 'Neutron database', self.setup_neutron)
        self.once('nova-setup', 'Nova databases and cells', self.setup_nova)
        configs.scheduling(self)
        if isolation_was not in (None, self.tenant_isolation):
            # Both the scheduler and the computes read the mode at start.
            for name in ('nova-scheduler',) + tuple(
                    host.compute_service for host in self.computes):
                self.step('tenant isolation %s, was %s: %s stopped to '
                          'start again' % (self.tenant_isolation,
                                           isolation_was, name),
                          self.service(name).stop)
        configs.serialproxy(self)
        for host in self.computes:
            configs.compute(self, host)
            configs.native_api(self, host)
        for name in ('glance', 'placement', 'neutron',
                     'neutron-ovn-maintenance-worker',
                     'neutron-periodic-workers', 'nova-api',
                     'nova-conductor', 'nova-scheduler',
                     'nova-serialproxy') + tuple(
                         name for host in self.computes
                         for name in (host.compute_service,
                                      host.native_api_service)):
            self.start(name)
        if self.dashboard:
            self.once('horizon-setup', 'Horizon with zun-ui: settings, '
                      'static files collected and compressed',
                      self.setup_dashboard)
            self.start('horizon')
        else:
            self.step('no dashboard (--no-dashboard)',
                      self.service('horizon').stop)
        self.write_openrc()
        self.step('compute hosts %s in their cell, with trait %s'
                  % (', '.join(h.host for h in self.computes),
                     CONTAINER_TRAIT), self.wait_compute)
        self.once('flavor', 'container flavor %s' % FLAVOR, self.flavor)
        self.once('image', 'demo image %s in Glance' % IMAGE, self.image)
        self.once('networks', 'networks %s and %s, router %s' % (
            PUBLIC_NETWORK, PRIVATE_NETWORK, ROUTER), self.networks)
        self.boot_demo()
        self.say('memory of all services together (PSS): %d MiB'
                 % (self.memory_kib() // 1024))
        self.say(self.next_steps())

    def start_switch(self):
        """Open vSwitch and OVN, the chassis set up at every start."""
        self.switch.create_databases()
        self.start('ovsdb-server')
        if not self.service('ovs-vswitchd').pid:
            self.switch.check_datapath_free()
        self.start('ovs-vswitchd')
        self.step('chassis settings, bridges %s and %s (%s/%s on the host)'
                  % (ovn.INTEGRATION_BRIDGE, ovn.EXTERNAL_BRIDGE,
                     ovn.PUBLIC_GATEWAY, ovn.PUBLIC_CIDR.split('/')[1]),
                  self.switch.configure_chassis)
        for name in ('ovn-nb', 'ovn-sb', 'ovn-northd', 'ovn-controller'):
            self.start(name)
        controller = self.service('ovn-controller')
        self.step('chassis %s registered, br-int netdev' % self.host,
                  self.switch.wait_chassis, controller.pid,
                  lambda: bool(controller.pid))

    def register(self):
        ks = self.keystone.keystone_client()

        def find_or_create(manager, name, *args, **kwargs):
            found = manager.list(name=name)
            return found[0] if found else manager.create(name, *args,
                                                         **kwargs)

        project = find_or_create(ks.projects, 'service', 'default')
        roles = [find_or_create(ks.roles, name)
                 for name in ('admin', 'service')]
        for name in SERVICE_USERS:
            user = find_or_create(ks.users, name, domain='default',
                                  password=configs.SERVICE_PASSWORD,
                                  default_project=project)
            for role in roles:
                ks.roles.grant(role, user=user, project=project)
        registered = {s.type for s in ks.services.list()}
        for service_type, name in (('image', 'glance'),
                                   ('placement', 'placement'),
                                   ('compute', 'nova'),
                                   ('network', 'neutron'),
                                   ('container', 'zun')):
            if service_type not in registered:
                self.keystone.add_endpoint(service_type, name,
                                           self.urls[service_type])

    def setup_keystone(self):
        self.create_databases(['keystone'])
        self.keystone.prepare()

    def setup_dashboard(self):
        configs.dashboard(self)
        for command in (['collectstatic', '--noinput'],
                        ['compress', '--force']):
            self._manage('horizon', [_bin('django-admin')] + command + [
                '--settings', 'dashboard_settings',
                '--pythonpath', self.dirs['horizon']])

    def setup_placement(self):
        configs.placement(self)
        processes.write_wsgi_module(
            self.dirs['placement'], 'placement_app',
            'from placement.wsgi.api import application')
        self.create_databases(['placement'])
        conf = os.path.join(self.dirs['placement'], 'placement.conf')
        self._manage('placement-manage', [_bin('placement-manage'),
                                          '--config-file', conf, 'db',
                                          'sync'])

    def setup_neutron(self):
        configs.neutron(self)
        neutron = self.dirs['neutron']
        processes.write_wsgi_module(neutron, 'neutron_app',
                                    _NEUTRON_APP_IMPORT)
        # ML2/OVN's API, maintenance and periodic workers share the
        # database (OVN's hash ring among them): MariaDB's. The schema
        # comes from Neutron's models (seconds, where its migrations take
        # minutes here), then the migrations are marked as applied.
        self.create_databases(['neutron'])
        self._manage('neutron schema', [sys.executable, '-c', _NEUTRON_SCHEMA,
                                        self.mariadb_url('neutron')])
        command = [_bin('neutron-db-manage')]
        for name in NEUTRON_CONFIG_FILES:
            command += ['--config-file', os.path.join(neutron, name)]
        self._manage('neutron-db-manage', command + ['stamp', 'heads'])

    def setup_mariadb(self):
        self._manage('mariadb-install-db', [
            'mariadb-install-db', '--no-defaults',
            '--datadir=%s' % os.path.join(self.dirs['mariadb'], 'data'),
            '--user=root', '--auth-root-authentication-method=normal',
            '--skip-test-db'])

    def create_databases(self, names):
        self._manage('mariadb', ['mariadb', '--no-defaults', '--socket',
                                 self.mariadb_socket, '-u', 'root', '-e',
                                 ' '.join('CREATE DATABASE IF NOT EXISTS %s;'
                                          % name for name in names)])

    def setup_nova(self):
        configs.nova(self)
        self.create_databases(NOVA_DATABASES)
        processes.write_wsgi_module(
            self.dirs['nova'], 'nova_api_app',
            'from nova.wsgi.osapi_compute import application')
        self._nova_manage('api_db', 'sync')
        self._nova_manage('cell_v2', 'map_cell0', '--database_connection',
                          self.mariadb_url('nova_cell0'))
        self._nova_manage('db', 'sync')
        self._nova_manage('cell_v2', 'create_cell', '--name', 'cell1',
                          '--transport-url', self.transport_url,
                          '--database_connection', self.mariadb_url('nova'))

    def wait_compute(self, timeout=180):
        from keystoneauth1 import adapter
        session = self.keystone.admin_session()
        placement = adapter.Adapter(session, service_type='placement',
                                    default_microversion='1.18')
        deadline = time.monotonic() + timeout
        computes = [self.service(h.compute_service) for h in self.computes]
        while time.monotonic() < deadline:
            for compute in computes:
                if not compute.pid:
                    raise services.ServiceError(compute, 'exited')
            providers = placement.get(
                '/resource_providers', raise_exc=False,
                params={'required': CONTAINER_TRAIT})
            if providers.ok and {h.host for h in self.computes} <= {
                    p['name'] for p in providers.json()['resource_providers']}:
                # Mapped into cell1 by the scheduler's periodic discovery.
                hosts = self._nova_manage('cell_v2', 'list_hosts').split()
                if all(h.host in hosts for h in self.computes):
                    return
            time.sleep(1)
        raise services.ServiceError(
            computes[-1], 'reported no resource provider with %s in %d s'
            % (CONTAINER_TRAIT, timeout))

    # -- the clients --------------------------------------------------------

    def client_env(self):
        return dict(os.environ, **self.credentials())

    def credentials(self):
        return {'OS_AUTH_URL': self.keystone_url,
                'OS_USERNAME': 'admin',
                'OS_PASSWORD': keystone_tool.ADMIN_PASSWORD,
                'OS_PROJECT_NAME': 'admin',
                'OS_USER_DOMAIN_NAME': 'Default',
                'OS_PROJECT_DOMAIN_NAME': 'Default',
                'OS_REGION_NAME': configs.REGION,
                'OS_IDENTITY_API_VERSION': '3',
                'OS_COMPUTE_API_VERSION': COMPUTE_API_VERSION}

    def write_openrc(self):
        with open(self.openrc, 'w') as f:
            for key, value in self.credentials().items():
                f.write('export %s=%s\n' % (key, shlex.quote(value)))

    def cli(self, *command, check=True):
        """Run ``openstack`` or ``zun`` with the admin's credentials.

        Returns its standard output.
        """
        argv = [_bin(command[0])] + list(command[1:])
        result = subprocess.run(argv, capture_output=True, text=True,
                                env=self.client_env())
        if check and result.returncode:
            raise StepFailed('%s failed:\n%s%s' % (
                ' '.join(command), result.stdout, result.stderr))
        return result.stdout

    def flavor(self):
        self.cli('openstack', 'flavor', 'create', '--vcpus', '1', '--ram',
                 '256', '--disk', '1', '--property',
                 'trait:%s=required' % CONTAINER_TRAIT, FLAVOR)

    def image(self):
        runtime = docker_runtime.DockerRuntime(self.engine.url)
        built = test_images.build(runtime, commands=test_images.DEMO)
        try:
            with tempfile.NamedTemporaryFile(suffix='.tar') as archive:
                for chunk in runtime.save_image(built['demo']):
                    archive.write(chunk)
                archive.flush()
                # Public: every project boots it (Tempest's among them).
                self.cli('openstack', 'image', 'create', '--container-format',
                         'docker', '--disk-format', 'raw', '--public',
                         '--file', archive.name, IMAGE)
        finally:
            # Servers get the image from Glance, not from the build.
            test_images.remove(runtime)

    def networks(self):
        """What devstack makes: ``public``, ``private``, a router between.

        ``public`` is the external flat network on the host's ``br-ex``
        (its gateway address is the host's); ``private`` is a geneve
        network of the admin project, routed to ``public`` (SNAT and
        floating IPs). Security groups get Neutron's default rules. As in
        devstack, ``public`` is the default external network and a shared
        default subnet pool is there, for Neutron's auto-allocated
        topology (a server booted with ``--nic auto``).
        """
        import openstack
        network = openstack.connection.Connection(
            session=self.keystone.admin_session(),
            region_name=configs.REGION).network
        # Neutron's default security group rules are templates a migration
        # inserts; the schema here comes from the models (setup_neutron),
        # so they are made here, before any project's default group is:
        # egress anywhere in every group, ingress from the group's own
        # members in default groups.
        if not list(network.default_security_group_rules()):
            for ethertype in ('IPv4', 'IPv6'):
                network.create_default_security_group_rule(
                    direction='egress', ethertype=ethertype,
                    used_in_default_sg=True, used_in_non_default_sg=True)
                network.create_default_security_group_rule(
                    direction='ingress', ethertype=ethertype,
                    remote_group_id='PARENT', used_in_default_sg=True,
                    used_in_non_default_sg=False)
        public = network.create_network(
            name=PUBLIC_NETWORK, is_router_external=True, is_default=True,
            provider_network_type='flat',
            provider_physical_network=ovn.PHYSNET)
        start, end = ovn.PUBLIC_POOL
        network.create_subnet(
            name=PUBLIC_NETWORK + '-subnet', network_id=public.id,
            ip_version=4, cidr=ovn.PUBLIC_CIDR,
            gateway_ip=ovn.PUBLIC_GATEWAY, is_dhcp_enabled=False,
            allocation_pools=[{'start': start, 'end': end}])
        prefix, prefix_length = ovn.DEFAULT_SUBNET_POOL
        network.create_subnet_pool(
            name='shared-default-subnetpool-v4', prefixes=[prefix],
            default_prefix_length=prefix_length, is_shared=True,
            is_default=True)
        private = network.create_network(name=PRIVATE_NETWORK)
        subnet = network.create_subnet(
            name=PRIVATE_NETWORK + '-subnet', network_id=private.id,
            ip_version=4, cidr=ovn.PRIVATE_CIDR)
        router = network.create_router(
            name=ROUTER, external_gateway_info={'network_id': public.id})
        network.add_interface_to_router(router, subnet_id=subnet.id)

    def boot_demo(self):
        """Boot the demo server, or use the one there is.

        A stopped one is started; one in ERROR is left as it is (never deleted:
        it may hold what a user made).
        """
        existing = json.loads(self.cli('openstack', 'server', 'list',
                                       '--name', '^%s$' % SERVER,
                                       '-f', 'json'))
        if existing:
            if not self.reuse_demo(existing[0]['ID'], existing[0]['Status']):
                return
        else:
            # On host 1: the machine's one OVN chassis binds its ports
            # (doc/all-in-one.rst, "Several compute hosts").
            self.step('openstack server create --wait %s' % SERVER,
                      self.cli, 'openstack', 'server', 'create', '--flavor',
                      FLAVOR, '--image', IMAGE, '--network', PRIVATE_NETWORK,
                      '--availability-zone', 'nova:%s' % self.host,
                      '--wait', SERVER)
            # tools/cloud says when it started (bootstrap included).
            began = float(os.environ.get('NOVA_ZUN_CLOUD_STARTED',
                                         self.started_at))
            self.say('first ACTIVE server %.1f s after the command started'
                     % (time.time() - began))
            self.say('    addresses: %s' % self.settled(SERVER)['addresses'])
        output = self.step('zun exec %s %s' % (SERVER, DEMO_COMMAND),
                           self.cli, 'zun', 'exec', SERVER, DEMO_COMMAND)
        self.say('    ' + output.strip())
        log = self.step('openstack console log show %s' % SERVER, self.cli,
                        'openstack', 'console', 'log', 'show', SERVER)
        for line in log.strip().splitlines():
            self.say('    ' + line)

    def reuse_demo(self, server_id, status):
        """Bring the demo server that exists to ACTIVE, its container running.

        Returns False (and why) when it cannot be.
        """
        if status not in SETTLED_STATUSES:
            status = self.settled(server_id)['status']
        if status == 'SHUTOFF':
            self.step('openstack server start %s (it was SHUTOFF)' % SERVER,
                      self.cli, 'openstack', 'server', 'start', server_id)
            status = self.settled(server_id)['status']
            before = 'started'
        else:
            before = '%s before' % status
        if status != 'ACTIVE':
            fault = self.settled(server_id).get('fault') or {}
            self.say('server %s: %s (%s); left as it is: openstack server '
                     'show %s says more, openstack server delete %s and '
                     '%s up boot a new one'
                     % (SERVER, status, fault.get('message', 'no fault'),
                        SERVER, SERVER, self.prog()))
            return False
        self.step('server %s: %s, its container running' % (SERVER, before),
                  self.wait_workload, server_id)
        return True

    def settled(self, server_id, timeout=180):
        """``openstack server show`` of a server once its status settles.

        A status settles when it is not a passing one (BUILD, REBOOT...); after
        ``timeout`` seconds the server is shown as it is.
        """
        deadline = time.monotonic() + timeout
        while True:
            server = json.loads(self.cli('openstack', 'server', 'show',
                                         server_id, '-f', 'json'))
            if (server['status'] in SETTLED_STATUSES or
                    time.monotonic() > deadline):
                return server
            time.sleep(2)

    def wait_workload(self, server_id, timeout=180):
        """Wait for the server's workload to run.

        After ``stop``, the engine has stopped it, and nova-compute starts it
        again on its way up (resume_guests_state_on_host_boot).
        """
        runtimes = [docker_runtime.DockerRuntime(h.engine.url)
                    for h in self.computes]
        workload = {labels.INSTANCE: server_id,
                    labels.ROLE: labels.ROLE_WORKLOAD}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(c.state == types.ContainerState.RUNNING
                   for runtime in runtimes
                   for c in runtime.list_containers(workload)):
                return
            time.sleep(1)
        raise services.ServiceError(
            self.service(self.computes[0].compute_service),
            'did not start server %s\'s container within %d s'
            % (server_id, timeout))

    def next_steps(self):
        return '\n'.join([
            '',
            'The cloud is up. Logs: %s; state: %s.' % (self.log_dir,
                                                       self.base_dir),
            'Use it with:',
            '    source %s' % self.openrc,
            '    openstack server create --flavor %s --image %s --network %s '
            '--wait c1' % (FLAVOR, IMAGE, PRIVATE_NETWORK),
            '    zun list',
            '    zun exec c1 ls /',
            '    zun logs c1',
            'Reach it from this host (the image answers its host name on '
            'TCP port %d):' % test_images.DEMO_PORT,
            '    openstack security group rule create --protocol tcp '
            '--dst-port %d default' % test_images.DEMO_PORT,
            '    openstack floating ip create %s -f value -c '
            'floating_ip_address  # say 198.51.100.20' % PUBLIC_NETWORK,
            '    openstack server add floating ip c1 198.51.100.20',
            '    busybox nc 198.51.100.20 %d' % test_images.DEMO_PORT,
            '    openstack server stop c1; openstack server start c1',
            '    openstack server delete c1',
            'Stop it (state kept): %s stop; remove everything: %s clean'
            % (self.prog(), self.prog()),
        ] + ([
            'Dashboard (Horizon, zun-ui\'s Containers panels): %s, user '
            'admin, password %s, domain Default'
            % (self._url('horizon', '/'), keystone_tool.ADMIN_PASSWORD)]
            if self.dashboard else []))

    def prog(self):
        return 'tools/cloud --base-dir %s' % self.base_dir

    # -- status, stop, clean ------------------------------------------------

    def service_pids(self):
        pids = {s.name: s.pids() for s in self.services
                if s.name != 'horizon' or self.dashboard}
        for host in self.computes:
            pids[host.engine_name] = sorted(host.engine.processes())
        return pids

    def memory_kib(self):
        return services.pss_kib(
            p for pids in self.service_pids().values() for p in pids)

    def status(self):
        pids = self.service_pids()
        for name, members in pids.items():
            self.say('%-16s %s' % (name, 'running, %d processes, %d MiB'
                                   % (len(members),
                                      services.pss_kib(members) // 1024)
                                   if members else 'stopped'))
        self.say('all together: %d MiB (PSS)' % (self.memory_kib() // 1024))
        return all(pids.values())

    def stop(self):
        for service in reversed(self.services):
            if service.name == 'ovs-vswitchd' and service.pid:
                self.switch.exit_vswitchd()
            self.step('stopped %s' % service.name, service.stop)
            if service.name == 'ovs-vswitchd':
                self.switch.remove_devices()
        for host in self.computes:
            self.step('stopped the Docker engine of %s' % host.host,
                      host.engine.stop, 30, False)

    def clean(self):
        self.stop()
        self.step('removed %s' % self.base_dir, self.remove_state)

    def remove_state(self):
        # Also unmounts what the engines left below their directories.
        for host in self.computes:
            host.engine.stop()
        # The driver's volume mount directory stays a mount point after
        # nova-compute stops.
        for point in sorted(engine_tool.mounts_below(self.base_dir),
                            reverse=True):
            subprocess.run(['umount', '-l', point], check=False)
        if os.path.exists(self.base_dir):
            shutil.rmtree(self.base_dir)


def port_offsets(computes):
    """``{name: offset}`` of every port of a cloud of ``computes`` hosts."""
    return dict(PORT_OFFSETS, **computes_tool.port_offsets(computes))


def free_port_base(computes=1):
    """A port base whose ports (one per service) are all free now.

    It serves a cloud of ``computes`` compute hosts beside others (tests,
    benchmarks).
    """
    size = computes_tool.block_size(computes)
    # Below the kernel's ephemeral ports: a client's outgoing connection
    # takes a free one of those at any time, and a service that stopped
    # (stop, then up) would find its port taken.
    with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
        ephemeral_low = int(f.read().split()[0])
    for _ in range(50):
        base = random.randrange(_LOWEST_PORT_BASE, ephemeral_low - size)
        try:
            for offset in range(size):
                with socket.socket() as s:
                    s.bind(('127.0.0.1', base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError('no free block of %d ports' % size)


def kept(base_dir, name, asked, default, kind=str):
    """A setting of the cloud in ``base_dir``: what its first ``up`` kept.

    ``asked`` (None: not asked) must be what was kept; before the first
    ``up``, it is ``asked`` or else ``default``.
    """
    path = os.path.join(base_dir, name)
    try:
        with open(path) as f:
            value = kind(f.read().strip())
    except (OSError, ValueError):
        value = None
    if value is not None and asked is not None and asked != value:
        raise SystemExit('%s was made with --%s %s: clean it first to use '
                         '%s' % (base_dir, name, value, asked))
    if value is None:
        value = default if asked is None else asked
    return value


def kept_dashboard(base_dir):
    """Whether the last ``up`` of the cloud in ``base_dir`` ran Horizon."""
    try:
        with open(os.path.join(base_dir, 'dashboard')) as f:
            return f.read() != 'off'
    except OSError:
        return True


def port_base(base_dir, asked):
    """The port base of the cloud in ``base_dir``.

    It is the one its first ``up`` chose, kept in the base directory.
    """
    path = os.path.join(base_dir, 'port-base')
    try:
        with open(path) as f:
            kept = int(f.read())
    except (OSError, ValueError):
        kept = None
    if kept and asked and asked != kept:
        raise SystemExit('%s runs on ports from %d: clean it first to use '
                         '%d' % (base_dir, kept, asked))
    return kept or asked or DEFAULT_PORT_BASE


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='tools/cloud',
        description='An all-in-one OpenStack cloud whose compute host runs '
                    'containers.')
    parser.add_argument('action', choices=('up', 'status', 'stop', 'clean',
                                           'pids'))
    parser.add_argument('--base-dir', default=DEFAULT_BASE_DIR,
                        help='state, configuration and logs (default '
                             '%(default)s)')
    parser.add_argument('--port-base', type=int,
                        help='services listen on 127.0.0.1 from this port '
                             'on (default: what the first up used, else %d)'
                             % DEFAULT_PORT_BASE)
    parser.add_argument('--computes', type=int,
                        choices=range(1, computes_tool.MAX_COMPUTES + 1),
                        metavar='N',
                        help='compute hosts, each with its own engine '
                             '(first up only; default 1)')
    parser.add_argument('--tenant-isolation',
                        choices=TENANT_ISOLATION_MODES,
                        help="[zun] tenant_isolation of the scheduler and "
                             "the computes (default off, or what the last "
                             "up had; a change restarts them)")
    parser.add_argument('--no-dashboard', action='store_true',
                        help='up: no Horizon (it is stopped if it runs); '
                             'the other subcommands follow the last up')
    args = parser.parse_args(argv)
    if args.action == 'up' and args.tenant_isolation:
        # A later up may change it: the scheduler and the computes start
        # again.
        isolation = args.tenant_isolation
    else:
        isolation = kept(args.base_dir, 'tenant-isolation',
                         args.tenant_isolation, 'off')
    cloud = Cloud(args.base_dir, port_base(args.base_dir, args.port_base),
                  dashboard=False if args.no_dashboard else
                  True if args.action == 'up' else None,
                  computes=kept(args.base_dir, 'computes', args.computes, 1,
                                int),
                  tenant_isolation=isolation)
    try:
        if args.action == 'up':
            cloud.up()
        elif args.action == 'status':
            return 0 if cloud.status() else 1
        elif args.action == 'pids':
            print(json.dumps(cloud.service_pids()))
        elif args.action == 'stop':
            cloud.stop()
        else:
            cloud.clean()
    except (services.ServiceError, StepFailed,
            engine_tool.EngineStartError, ovs_tool.OVSStartError) as exc:
        print('FAILED: %s' % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
