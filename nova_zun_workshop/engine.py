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

"""A private Docker engine: its own socket, data root, exec root and pid file.

Tests, benchmarks and the demo start one so they never touch (or depend
on) the host's engine. From the top of the source tree::

    .venv/bin/python -m nova_zun_workshop.engine start --base-dir /tmp/e
    .venv/bin/python -m nova_zun_workshop.engine stop --base-dir /tmp/e

``start`` prints ``DOCKER_HOST=...``.

It registers runsc (gVisor) as an OCI runtime when the host has it.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import docker
import psutil

from nova_zun_workshop import processes

RUNSC_PATHS = ('/usr/bin/runsc', '/usr/sbin/runsc')
# gVisor's KVM platform hangs in nested guests, and its own network stack
# refuses a namespace it did not create: ptrace + the pod's namespace.
RUNSC_ARGS = ['--platform=ptrace', '--network=host']


class EngineStartError(Exception):
    pass


def ensure_packages(commands_to_packages):
    """Install Debian packages for missing commands (root only)."""
    missing = [pkg for cmd, pkg in commands_to_packages.items()
               if not shutil.which(cmd)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        raise EngineStartError('missing %s: install Debian packages %s'
                               % (', '.join(commands_to_packages),
                                  ' '.join(missing)))
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    subprocess.run(['apt-get', 'update', '-qq'], check=True, env=env)
    subprocess.run(['apt-get', 'install', '-y', '-qq'] + missing,
                   check=True, env=env, stdout=subprocess.DEVNULL)


def mounts_below(path):
    """Mount points at or below ``path``."""
    with open('/proc/self/mountinfo') as f:
        points = [line.split()[4] for line in f]
    prefix = path.rstrip('/') + '/'
    return [p for p in points if p == path or p.startswith(prefix)]


def _alive(pid):
    # dockerd started by this process stays a zombie after it exits until
    # it is reaped: reap it if it is ours.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return processes.running(pid)


def _proc_table():
    """``{pid: (ppid, cmdline)}`` of every live (not zombie) process."""
    table = {}
    for proc in psutil.process_iter(['ppid', 'cmdline', 'status']):
        if proc.info['status'] != psutil.STATUS_ZOMBIE:
            table[proc.pid] = (proc.info['ppid'],
                               ' '.join(proc.info['cmdline'] or ()))
    return table


class PrivateEngine:

    def __init__(self, base_dir, runsc=True, live_restore=True):
        self.base_dir = os.path.abspath(base_dir)
        # False: an engine without runsc even where the host has it (a
        # host that must not advertise it).
        self.register_runsc = runsc
        # Containers keep running while dockerd stops, crashes or restarts
        # (as every engine should for nova-compute: doc/driver.rst).
        self.live_restore = live_restore
        self.socket = os.path.join(self.base_dir, 'docker.sock')
        self.url = 'unix://' + self.socket
        self.data_root = os.path.join(self.base_dir, 'data')
        self.exec_root = os.path.join(self.base_dir, 'exec')
        self.pidfile = os.path.join(self.base_dir, 'dockerd.pid')
        self.log_path = os.path.join(self.base_dir, 'dockerd.log')
        self.config_path = os.path.join(self.base_dir, 'daemon.json')

    @property
    def pid(self):
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _config(self):
        runtimes = {}
        runsc = next((p for p in RUNSC_PATHS if os.path.exists(p)), None)
        if runsc and self.register_runsc:
            runtimes['runsc'] = {'path': runsc, 'runtimeArgs': RUNSC_ARGS}
        return {'runtimes': runtimes, 'live-restore': self.live_restore}

    def processes(self):
        """``{pid: cmdline}`` of this engine's processes.

        They are dockerd, whatever names the base directory (containerd, its
        shims, runsc's sandbox and gofer) and all their descendants (the
        containers' processes). Shims outlive dockerd reparented to init, so
        parentage alone does not find them.
        """
        table = _proc_table()
        table.pop(os.getpid(), None)
        marker = self.base_dir + '/'
        ours = {pid for pid, (_, cmdline) in table.items()
                if marker in cmdline + '/'}
        if self.pid:
            ours.add(self.pid)
        children = {}
        for pid, (ppid, _) in table.items():
            children.setdefault(ppid, []).append(pid)
        todo = list(ours)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in ours:
                    ours.add(child)
                    todo.append(child)
        return {pid: table[pid][1] for pid in ours if pid in table}

    def mounts(self):
        """Mount points at or below the base directory."""
        return mounts_below(self.base_dir)

    def ping(self):
        try:
            return docker.APIClient(base_url=self.url, version='auto',
                                    timeout=5).ping()
        except Exception:
            return False

    def start(self, timeout=60):
        """Start dockerd (if it is not running already); return the URL."""
        if self.pid and self.ping():
            return self.url
        ensure_packages({'dockerd': 'docker.io'})
        os.makedirs(self.base_dir, exist_ok=True)
        self._remove_stale_pid_files()
        with open(self.config_path, 'w') as f:
            json.dump(self._config(), f)
        cmd = ['dockerd',
               '--host', self.url,
               '--data-root', self.data_root,
               '--exec-root', self.exec_root,
               '--pidfile', self.pidfile,
               '--config-file', self.config_path,
               # Instances get their networking from Neutron through the
               # pod sandbox: the engine's own bridge and NAT stay off.
               '--bridge', 'none', '--iptables=false', '--ip6tables=false',
               '--ip-masq=false']
        with open(self.log_path, 'ab') as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if os.path.exists(self.socket) and self.ping():
                return self.url
            time.sleep(0.2)
        if proc.poll() is None:
            proc.kill()
        raise EngineStartError('dockerd did not start within %ss; last '
                               'lines of %s:\n%s'
                               % (timeout, self.log_path,
                                  processes.log_tail(self.log_path)))

    def _remove_stale_pid_files(self, timeout=10):
        """Remove the pid files of dockerd and its containerd when stale.

        A pid file is stale when what it names is not a running process of this
        engine. A killed dockerd's containerd dies after it (parent-death
        signal, which may take a moment under load) and stays a zombie until
        its parent or init reaps it (up to 2 s measured here): dockerd takes
        any process with that pid for a live one, refusing to start ("pid file
        found") or waiting in vain for its containerd ("timeout waiting for
        containerd to start"). Without the pid file, dockerd starts a new
        containerd, which finds the containers' shims again.
        """
        dockerd_gone = self.pid is None
        deadline = time.monotonic() + timeout
        for path in (self.pidfile, os.path.join(
                self.exec_root, 'containerd', 'containerd.pid')):
            while True:
                try:
                    with open(path) as f:
                        pid = int(f.read().strip())
                    ours = (processes.running(pid) and self.base_dir + '/' in
                            ' '.join(psutil.Process(pid).cmdline()) + '/')
                except (OSError, ValueError, psutil.Error):
                    ours = False
                # The containerd of a dead dockerd is on its way out.
                if not (ours and dockerd_gone and
                        time.monotonic() < deadline):
                    break
                time.sleep(0.1)
            if not ours and os.path.exists(path):
                os.remove(path)

    def kill(self, timeout=30):
        """Kill dockerd with SIGKILL, as a crash would; wait until it is gone.

        Its containers' shims (and with live restore the containers) go on
        running.
        """
        pid = self.pid
        if not pid:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _stop_containers(self):
        """Stop the running containers as dockerd without live restore does.

        They get SIGTERM, then SIGKILL after their stop timeout, as on
        dockerd's way out; with live restore, they would run on until their
        processes are killed.
        """
        try:
            client = docker.APIClient(base_url=self.url, version='auto',
                                      timeout=60)
            for container in client.containers(
                    filters={'status': 'running'}):
                client.stop(container['Id'])
        except Exception:
            pass  # an engine that does not answer: its processes are killed

    def stop(self, timeout=30, remove=True):
        """Stop dockerd and its containerd and unmount what they left.

        The base directory is removed too when ``remove``.
        """
        pid = self.pid
        if pid:
            if self.live_restore:
                self._stop_containers()
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        # dockerd stops its containers on the way out, but a dockerd that
        # had to be killed (or crashed) leaves containerd, shims and runsc
        # sandboxes running with their mounts busy.
        leftovers = self.processes()
        for leftover in leftovers:
            try:
                os.kill(leftover, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while (any(_alive(p) for p in leftovers) and
               time.monotonic() < deadline):
            time.sleep(0.1)
        for point in sorted(mounts_below(self.base_dir), reverse=True):
            subprocess.run(['umount', '-l', point], check=False)
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m nova_zun_workshop.engine',
        description='Start or stop a private Docker engine.')
    parser.add_argument('action', choices=('start', 'stop', 'status'))
    parser.add_argument('--base-dir', default='/tmp/nova-zun-engine',
                        help='socket, data root, exec root, pid file and '
                             'log live here (default %(default)s)')
    args = parser.parse_args(argv)
    engine = PrivateEngine(args.base_dir)
    if args.action == 'start':
        try:
            print('DOCKER_HOST=%s' % engine.start())
        except EngineStartError as exc:
            print(exc, file=sys.stderr)
            return 1
    elif args.action == 'stop':
        engine.stop()
    else:
        running = bool(engine.pid and engine.ping())
        print('running' if running else 'stopped')
        return 0 if running else 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
