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

"""A local image registry on loopback for tests (Debian's docker-registry).

Each registry gets a free port on 127.0.0.1, a storage directory and a
configuration of its own; ``stop`` ends the process and removes both. The
engine treats registries on 127.0.0.0/8 as insecure (plain HTTP) by
default, so no engine option is needed to push to or pull from it.
"""

import base64
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import processes

BINARY = 'docker-registry'


class RegistryStartError(Exception):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class LocalRegistry:
    """``docker-registry serve`` on 127.0.0.1:<free port>.

    With ``username`` and ``password`` it asks for HTTP basic
    authentication (htpasswd, bcrypt).
    """

    def __init__(self, base_dir, username=None, password=None):
        self.base_dir = os.path.abspath(base_dir)
        self.storage = os.path.join(self.base_dir, 'storage')
        self.config_path = os.path.join(self.base_dir, 'config.yml')
        self.htpasswd_path = os.path.join(self.base_dir, 'htpasswd')
        self.log_path = os.path.join(self.base_dir, 'registry.log')
        self.username = username
        self.password = password
        self.port = None
        self._proc = None

    @property
    def address(self):
        """``127.0.0.1:<port>``, the registry part of a reference."""
        return '127.0.0.1:%d' % self.port

    def _write_config(self):
        lines = [
            'version: 0.1',
            'log:',
            '  level: info',
            'storage:',
            '  filesystem:',
            '    rootdirectory: %s' % self.storage,
            '  delete:',
            '    enabled: true',
            'http:',
            '  addr: %s' % self.address,
        ]
        if self.username:
            import bcrypt
            hashed = bcrypt.hashpw(self.password.encode(),
                                   bcrypt.gensalt()).decode()
            with open(self.htpasswd_path, 'w') as f:
                f.write('%s:%s\n' % (self.username, hashed))
            lines += ['auth:', '  htpasswd:', '    realm: nova-zun-test',
                      '    path: %s' % self.htpasswd_path]
        with open(self.config_path, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def _answers(self):
        request = urllib.request.Request('http://%s/v2/' % self.address)
        if self.username:
            token = base64.b64encode(('%s:%s' % (
                self.username, self.password)).encode()).decode()
            request.add_header('Authorization', 'Basic ' + token)
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout=30):
        engine_tool.ensure_packages({BINARY: 'docker-registry'})
        os.makedirs(self.storage, exist_ok=True)
        self.port = _free_port()
        self._write_config()
        with open(self.log_path, 'ab') as log:
            self._proc = subprocess.Popen(
                [BINARY, 'serve', self.config_path], stdout=log,
                stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self._answers():
                return self.address
            time.sleep(0.1)
        log_tail = processes.log_tail(self.log_path)
        self.stop()
        raise RegistryStartError('docker-registry did not start within %ss:'
                                 '\n%s' % (timeout, log_tail))

    def stop(self, timeout=10):
        """End the registry and remove its directory (storage included)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            processes.end(proc, timeout)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def running(self):
        return self._proc is not None and self._proc.poll() is None
