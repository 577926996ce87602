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

"""A private Keystone (from PyPI, on sqlite) served by gunicorn.

Keystone's WSGI entry point parses ``sys.argv`` as its own command line,
which breaks under gunicorn (gunicorn's options are not Keystone's): the
application module (``processes.write_wsgi_module``) trims it first.
"""

import os
import socket
import subprocess
import sys
import tempfile

from nova_zun_workshop import processes

_APP_IMPORT = ('from keystone.server import wsgi\n'
               'application = wsgi.initialize_public_application()')

ADMIN_PASSWORD = 'admin-secret'


class KeystoneStartError(Exception):
    pass


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the test process dies.

    A killed test run thus leaves no server behind (Linux prctl).
    """
    import ctypes
    import signal
    pr_set_pdeathsig = 1
    ctypes.CDLL('libc.so.6', use_errno=True).prctl(pr_set_pdeathsig,
                                                   signal.SIGTERM)


def popen(command, **kwargs):
    return subprocess.Popen(command, preexec_fn=_die_with_parent, **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _bin(name):
    return os.path.join(os.path.dirname(sys.executable), name)


class Keystone(processes.ServiceProcess):
    """A Keystone for tests, on a local port.

    ``start()`` makes the database, keys and the admin (``prepare()``), then
    serves Keystone on a local port (a free one unless given); ``stop()``
    removes everything.
    """

    def __init__(self, base_dir=None, port=None, database=None):
        self.base_dir = base_dir or tempfile.mkdtemp(prefix='nova-zun-ks-')
        self.port = port or free_port()
        # SQLite in the base directory unless given an SQLAlchemy URL.
        self.database = database or 'sqlite:///%s' % os.path.join(
            self.base_dir, 'keystone.db')
        self.url = 'http://127.0.0.1:%d/v3' % self.port
        self.conf_file = os.path.join(self.base_dir, 'keystone.conf')

    def _manage(self, *args):
        command = [_bin('keystone-manage'), '--config-file', self.conf_file]
        result = subprocess.run(command + list(args), capture_output=True,
                                text=True, timeout=300)
        if result.returncode:
            raise KeystoneStartError('keystone-manage %s failed: %s%s'
                                     % (' '.join(args), result.stdout,
                                        result.stderr))

    def prepare(self):
        """Make the configuration, database, keys and admin of Keystone.

        The catalog entry of Keystone itself is made too, and the WSGI module
        ``keystone_app`` in the base directory.
        """
        keys = os.path.join(self.base_dir, 'fernet-keys')
        processes.write_ini(self.conf_file, {
            'DEFAULT': {'log_file': os.path.join(self.base_dir,
                                                 'keystone.log')},
            'database': {'connection': self.database},
            'token': {'provider': 'fernet', 'expiration': '7200'},
            # bcrypt's fewest rounds: at the default 12 each new user and
            # each token costs a quarter second of CPU (a second on a busy
            # 2-core host), most of a Tempest run's time. This Keystone
            # answers on 127.0.0.1 for tools and tests only.
            'identity': {'password_hash_rounds': '4'},
            'fernet_tokens': {'key_repository': keys},
            'fernet_receipts': {'key_repository': keys},
            'credential': {'key_repository': os.path.join(
                self.base_dir, 'credential-keys')},
        })
        processes.write_wsgi_module(self.base_dir, 'keystone_app',
                                    _APP_IMPORT)
        self._manage('db_sync')
        user = 'root' if os.geteuid() == 0 else str(os.geteuid())
        self._manage('fernet_setup', '--keystone-user', user,
                     '--keystone-group', user)
        self._manage('credential_setup', '--keystone-user', user,
                     '--keystone-group', user)
        self._manage('bootstrap', '--bootstrap-password', ADMIN_PASSWORD,
                     '--bootstrap-admin-url', self.url,
                     '--bootstrap-public-url', self.url,
                     '--bootstrap-internal-url', self.url,
                     '--bootstrap-region-id', 'RegionOne')

    def start(self):
        self.prepare()
        env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=self.conf_file)
        self.log = open(os.path.join(self.base_dir, 'gunicorn.log'), 'w')
        self.process = popen(
            [_bin('gunicorn'), '--chdir', self.base_dir,
             '--bind', '127.0.0.1:%d' % self.port, '--workers', '2',
             '--threads', '4', 'keystone_app:application'],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        processes.wait_until_answering(
            self.process, self.url, 'Keystone', self.log_text,
            KeystoneStartError, ready=lambda status: status == 200)
        return self

    def log_text(self):
        with open(os.path.join(self.base_dir, 'gunicorn.log')) as f:
            return f.read()[-4000:]

    # -- identities ---------------------------------------------------------

    def admin_session(self, **kwargs):
        return self.session('admin', ADMIN_PASSWORD, 'admin', **kwargs)

    def session(self, username, password, project, **kwargs):
        """A keystoneauth session; ``kwargs`` go to its constructor."""
        from keystoneauth1.identity import v3
        from keystoneauth1 import session
        auth = v3.Password(auth_url=self.url, username=username,
                           password=password, project_name=project,
                           user_domain_id='default',
                           project_domain_id='default')
        return session.Session(auth=auth, **kwargs)

    def keystone_client(self):
        from keystoneclient.v3 import client
        return client.Client(session=self.admin_session())

    def project_user(self, project, username, password, role='member'):
        """Make ``project`` (if new) and a user with ``role`` in it.

        Returns the project id.
        """
        ks = self.keystone_client()
        found = ks.projects.list(name=project)
        proj = found[0] if found else ks.projects.create(project, 'default')
        user = ks.users.create(username, domain='default',
                               password=password, default_project=proj)
        roles = ks.roles.list(name=role)
        role_ref = roles[0] if roles else ks.roles.create(role)
        ks.roles.grant(role_ref, user=user, project=proj)
        return proj.id

    def add_endpoint(self, service_type, name, url):
        """Register a service with ``url`` on every interface.

        Returns the service (``remove_service`` takes it away again).
        """
        ks = self.keystone_client()
        service = ks.services.create(name, service_type)
        for interface in ('public', 'internal', 'admin'):
            ks.endpoints.create(service, url, interface=interface,
                                region='RegionOne')
        return service

    def remove_service(self, service):
        ks = self.keystone_client()
        for endpoint in ks.endpoints.list(service=service):
            ks.endpoints.delete(endpoint)
        ks.services.delete(service)
