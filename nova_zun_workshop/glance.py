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

"""A private Glance (glance-api from PyPI, sqlite, file store) behind
keystonemiddleware, served by gunicorn, for the native API's commit
tests."""

import os
import shutil
import subprocess
import sys
import tempfile

from nova_zun import glance_layers
from nova_zun_workshop import keystone as keystone_tool
from nova_zun_workshop import processes


#: Glance's own container formats, and the one of layer images.
GLANCE_CONTAINER_FORMATS = ('ami', 'ari', 'aki', 'bare', 'ovf', 'ova',
                            'docker', 'compressed', glance_layers.LAYER_FORMAT)


class GlanceStartError(Exception):
    pass


class Glance(processes.ServiceProcess):
    """A Glance image API for tests, on a local port.

    ``start()`` makes the database and the stores (``prepare()``) and serves
    the image API on a local port (a free one unless given), validating tokens
    against ``keystone_url`` as ``service_user``; ``stop()`` removes
    everything.
    """

    def __init__(self, keystone_url, service_user, service_password,
                 base_dir=None, port=None):
        self.base_dir = base_dir or tempfile.mkdtemp(prefix='nova-zun-gl-')
        self.port = port or keystone_tool.free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.conf_file = os.path.join(self.base_dir, 'glance-api.conf')
        self.keystone_url = keystone_url
        self.service = (service_user, service_password)

    def _path(self, name):
        return os.path.join(self.base_dir, name)

    def _configure(self):
        stores = {name: self._path(name)
                  for name in ('images', 'staging', 'tasks', 'locks')}
        for path in stores.values():
            os.makedirs(path, exist_ok=True)
        shutil.copy(os.path.join(sys.prefix, 'etc', 'glance',
                                 'glance-api-paste.ini'), self.base_dir)
        processes.write_ini(self.conf_file, {
            # Layered images (nova_zun.layers): layer images have a
            # container format of their own, and Glance's hash of a
            # layer's data is its digest.
            'DEFAULT': {'enabled_backends': 'file:file',
                        'log_file': self._path('glance-api.log'),
                        'hashing_algorithm': 'sha256'},
            'image_format': {'container_formats': ','.join(
                GLANCE_CONTAINER_FORMATS)},
            'database': {'connection': 'sqlite:///%s'
                         % self._path('glance.sqlite')},
            'paste_deploy': {'flavor': 'keystone'},
            'keystone_authtoken': {
                'www_authenticate_uri': self.keystone_url,
                'auth_url': self.keystone_url,
                'auth_type': 'password',
                'username': self.service[0],
                'password': self.service[1],
                'project_name': 'service',
                'user_domain_id': 'default',
                'project_domain_id': 'default'},
            'glance_store': {'default_backend': 'file'},
            'file': {'filesystem_store_datadir': stores['images']},
            'os_glance_staging_store': {
                'filesystem_store_datadir': stores['staging']},
            'os_glance_tasks_store': {
                'filesystem_store_datadir': stores['tasks']},
            'oslo_concurrency': {'lock_path': stores['locks']},
        })
        processes.write_wsgi_module(
            self.base_dir, 'glance_app',
            'from glance.wsgi.api import application')

    def prepare(self):
        """Make the configuration, stores and database in the base directory.

        The WSGI module ``glance_app`` goes there too.
        """
        self._configure()
        result = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), 'glance-manage'),
             '--config-file', self.conf_file, 'db_sync'],
            capture_output=True, text=True, timeout=300)
        if result.returncode:
            raise GlanceStartError('glance-manage db_sync failed: %s%s'
                                   % (result.stdout, result.stderr))

    def start(self):
        self.prepare()
        self.log = open(self._path('gunicorn.log'), 'w')
        self.process = keystone_tool.popen(
            [os.path.join(os.path.dirname(sys.executable), 'gunicorn'),
             '--chdir', self.base_dir, '--bind', '127.0.0.1:%d' % self.port,
             '--workers', '1', '--threads', '4', 'glance_app:application'],
            env=dict(os.environ, OS_GLANCE_CONFIG_DIR=self.base_dir),
            stdout=self.log, stderr=subprocess.STDOUT)
        # The version document (300 Multiple Choices) is public.
        processes.wait_until_answering(self.process, self.url, 'Glance',
                                       self.log_text, GlanceStartError)
        return self

    def log_text(self):
        return ''.join(processes.log_tail(self._path(name), 40)
                       for name in ('gunicorn.log', 'glance-api.log'))
