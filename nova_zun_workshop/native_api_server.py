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

"""A native API server process (the ``zun-native-api`` console script on a
config file of its own), for tests and demos."""

import os
import subprocess
import sys
import tempfile

from nova_zun_workshop import keystone as keystone_tool
from nova_zun_workshop import processes
import zun_native_api


class ServerStartError(Exception):
    pass


class NativeApiServer(processes.ServiceProcess):
    """A native API server for tests.

    ``NativeApiServer(host, engine_url, keystone, service_user)``:
    ``configure(hosts)`` then ``start()``; ``stop()`` removes it all.
    """

    def __init__(self, host, engine_url, keystone_url, service_user,
                 service_password, extra=None):
        self.host = host
        self.port = keystone_tool.free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.base_dir = tempfile.mkdtemp(prefix='nova-zun-api-')
        self.conf_file = os.path.join(self.base_dir, 'zun-native-api.conf')
        self.log_file = os.path.join(self.base_dir, 'zun-native-api.log')
        self.sections = {
            'DEFAULT': {'debug': 'true', 'log_file': self.log_file},
            'native_api': {'bind_host': '127.0.0.1',
                           'bind_port': str(self.port), 'host': host,
                           'workers': '2', 'threads': '8',
                           # Every test server uses the suite's engine.
                           'engine_shared': 'true',
                           'console_token_dir': os.path.join(
                               self.base_dir, 'console-tokens')},
            'zun': {'engine_url': engine_url},
            'keystone_authtoken': {
                'www_authenticate_uri': keystone_url,
                'auth_url': keystone_url,
                'auth_type': 'password',
                'username': service_user,
                'password': service_password,
                'project_name': 'service',
                'user_domain_id': 'default',
                'project_domain_id': 'default',
                'service_token_roles_required': 'true',
            },
        }
        for section, options in (extra or {}).items():
            self.sections.setdefault(section, {}).update(options)

    def set(self, section, **options):
        self.sections.setdefault(section, {}).update(options)

    def start(self):
        processes.write_ini(self.conf_file, self.sections)
        command = os.path.join(os.path.dirname(sys.executable),
                               'zun-native-api')
        self.log = open(os.path.join(self.base_dir, 'server.out'), 'w')
        # The console script runs the zun_native_api this process
        # imported (a source tree), not a copy installed beside it.
        source = os.path.dirname(os.path.dirname(zun_native_api.__file__))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [source, os.environ.get('PYTHONPATH')])))
        self.process = keystone_tool.popen(
            [command, '--config-file', self.conf_file], env=env,
            stdout=self.log, stderr=subprocess.STDOUT)
        processes.wait_until_answering(
            self.process, self.url + '/', 'zun-native-api', self.log_text,
            ServerStartError, ready=lambda status: status < 400)
        return self

    def log_text(self):
        text = ''
        for name in ('server.out', 'zun-native-api.log'):
            path = os.path.join(self.base_dir, name)
            if os.path.exists(path):
                with open(path) as f:
                    text += f.read()[-6000:]
        return text
