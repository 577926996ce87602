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

"""Service processes of the all-in-one cloud: each one a session of its own
that outlives the command which started it, found again by its pid file."""

import os
import signal
import socket
import subprocess
import time

import psutil
import requests

from nova_zun_workshop import processes


class ServiceError(Exception):
    """A service that would not start or answer, with its log's tail."""

    def __init__(self, service, why):
        super().__init__('%s %s; its log is %s, last lines:\n%s'
                         % (service.name, why, service.log_path,
                            processes.log_tail(service.log_path)))


def session_members(session):
    """Live processes of ``session``: a service and every child of it.

    The children include gunicorn's workers and Erlang's helpers.
    """
    members = []
    for proc in psutil.process_iter():
        try:
            if (os.getsid(proc.pid) == session and
                    proc.status() != psutil.STATUS_ZOMBIE):
                members.append(proc.pid)
        except (OSError, psutil.NoSuchProcess):
            pass  # gone meanwhile
    return members


def pss_kib(pids):
    """Proportional set size of ``pids`` together, in KiB.

    Shared pages are counted once across them.
    """
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/smaps_rollup' % pid) as f:
                for line in f:
                    if line.startswith('Pss:'):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass  # gone meanwhile
    return total


class Service:
    """One process (and its children) started with ``command``.

    It is ready when ``url`` answers below 500, when ``port`` accepts
    connections, or when the unix socket ``socket_path`` does.
    """

    def __init__(self, name, command, run_dir, log_dir, env=None, url=None,
                 port=None, socket_path=None, cwd=None):
        self.name = name
        self.command = command
        self.env = env
        self.url = url
        self.port = port
        self.socket_path = socket_path
        self.cwd = cwd
        self.pid_path = os.path.join(run_dir, name + '.pid')
        self.log_path = os.path.join(log_dir, name + '.log')

    @property
    def pid(self):
        try:
            with open(self.pid_path) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return None
        return pid if processes.running(pid) else None

    def pids(self):
        pid = self.pid
        return session_members(pid) if pid else []

    def answers(self):
        if self.url:
            try:
                return requests.get(self.url, timeout=5).status_code < 500
            except requests.RequestException:
                return False
        try:
            if self.port:
                socket.create_connection(('127.0.0.1', self.port), 2).close()
            elif self.socket_path:
                with socket.socket(socket.AF_UNIX) as unix:
                    unix.settimeout(2)
                    unix.connect(self.socket_path)
        except OSError:
            return False
        return True

    def start(self):
        """Start the service unless it runs; True if it was started."""
        if self.pid:
            return False
        with open(self.log_path, 'ab') as log:
            process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd,
                start_new_session=True)
        with open(self.pid_path, 'w') as f:
            f.write(str(process.pid))
        return True

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.pid:
                raise ServiceError(self, 'exited')
            if self.answers():
                return
            time.sleep(0.5)
        raise ServiceError(self, 'did not answer within %d s' % timeout)

    def stop(self, timeout=30):
        pid = self.pid
        if pid:
            members = session_members(pid)
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while (any(processes.running(p) for p in members) and
                   time.monotonic() < deadline):
                time.sleep(0.2)
            for member in members:
                try:
                    os.kill(member, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            os.unlink(self.pid_path)
        except FileNotFoundError:
            pass
