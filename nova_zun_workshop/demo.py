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

"""A guided walk through the runtime layer on a private Docker engine.

``tools/demo`` runs this: it builds a busybox image locally, makes a pod (a
sandbox that owns the network namespace, a workload container with CPU and
memory limits in it), runs exec, logs, top, stats, pause, unpause and stop
through :mod:`nova_zun.runtime`, and removes everything again, also when a
step fails or the user presses Ctrl-C.
"""

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import uuid

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun.runtime import rootfs
from nova_zun.runtime import types
from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import images as test_images

IMAGE = 'nova-zun-demo/busybox:latest'
IMAGE_KIND_DEMO = 'demo'
# Says hello on stdout and stderr (for logs), then idles until SIGTERM.
WORKLOAD_COMMAND = [
    '/bin/sh', '-c',
    'echo "hello from the workload, pid $$"; echo "a line on stderr" >&2; '
    "trap 'echo got SIGTERM, exiting; exit 0' TERM; "
    'while true; do sleep 1; done']
VCPUS = 0.5
MEMORY_MB = 64
PIDS_LIMIT = 64
# What exec runs: the pod's view of itself (netlink, so the interfaces are
# the sandbox namespace's, only loopback before Neutron plugs a port), and
# an exit code that is not 0, to show that exit codes come back.
EXEC_COMMAND = [
    '/bin/sh', '-c',
    'echo "hostname: $(hostname)"; echo "interfaces:"; ip -o link; exit 3']


class _Interrupted(Exception):
    """SIGTERM, turned into an exception so cleanup runs as for Ctrl-C."""


def _on_sigterm(signum, frame):
    raise _Interrupted()


class Demo:

    def __init__(self, runtime, out):
        self.runtime = runtime
        self.out = out
        self.instance_id = str(uuid.uuid4())
        self.name = 'nova-zun-demo-%s' % self.instance_id[:8]
        self._created = []
        self._image_built = False

    def say(self, text=''):
        print(text, file=self.out, flush=True)

    def step(self, title):
        self.say()
        self.say('==> %s' % title)

    def detail(self, text):
        for line in str(text).splitlines() or ['']:
            self.say('    ' + line)

    def _labels(self, role):
        return {labels.INSTANCE: self.instance_id,
                labels.PROJECT: 'demo',
                labels.USER: 'demo',
                labels.HOST: 'demo',
                labels.ROLE: role}

    def run(self):
        self.show_engine()
        self.build_image()
        sandbox = self.create_sandbox()
        workload = self.create_workload(sandbox)
        self.exec_in(workload)
        self.show_logs(workload)
        self.show_top(workload)
        self.show_stats(workload)
        self.pause_unpause(workload)
        self.stop(workload)

    def show_engine(self):
        info = self.runtime.engine_info()
        self.step('Engine')
        self.detail('%s %s on %s, %d CPUs, %.1f GiB memory'
                    % (info.name, info.version, info.architecture, info.cpus,
                       info.memory_bytes / 2 ** 30))
        self.detail('storage driver %s, data root %s'
                    % (info.storage_driver, info.data_root))
        self.detail('OCI runtimes: %s (default %s)'
                    % (', '.join(info.runtimes), info.default_runtime))

    def build_image(self):
        self.step('Build image %s from %s (nothing is pulled)'
                  % (IMAGE, self.runtime.sandbox_binary))
        data = rootfs.busybox_rootfs(self.runtime.sandbox_binary,
                                     test_images.APPLETS)
        self._image_built = True
        image_id = self.runtime.import_rootfs(
            data, IMAGE, command=WORKLOAD_COMMAND,
            labels={labels.IMAGE_KIND: IMAGE_KIND_DEMO})
        info = self.runtime.inspect_image(image_id)
        self.detail('image %s, %.1f MiB'
                    % (info.id[:19], info.size_bytes / 2 ** 20))

    def create_sandbox(self):
        self.step('Create the pod sandbox (it owns the network namespace)')
        sandbox = self.runtime.create_sandbox(types.SandboxSpec(
            name=self.name + '-sandbox', labels=self._labels(
                labels.ROLE_SANDBOX), hostname=self.name))
        self._created.append(sandbox.id)
        self.detail('sandbox %s (%s)' % (sandbox.name, sandbox.id[:12]))
        self.detail('network namespace: %s' % sandbox.netns_path)
        self.detail('Neutron ports are plugged into that namespace before '
                    'the workload starts.')
        return sandbox

    def create_workload(self, sandbox):
        self.step('Create and start the workload in the sandbox '
                  '(%s vCPU, %d MiB, %d pids)'
                  % (VCPUS, MEMORY_MB, PIDS_LIMIT))
        container_id = self.runtime.create_container(types.ContainerSpec(
            name=self.name, image=IMAGE,
            labels=self._labels(labels.ROLE_WORKLOAD),
            resources=types.Resources(vcpus=VCPUS, memory_mb=MEMORY_MB,
                                      pids_limit=PIDS_LIMIT),
            sandbox_id=sandbox.id, stop_timeout=5))
        self._created.insert(0, container_id)
        self.runtime.start(container_id)
        status = self.runtime.status(container_id)
        host_config = status.details.get('HostConfig') or {}
        self.detail('workload %s (%s): %s, pid %s'
                    % (status.name, status.id[:12], status.state.value,
                       status.pid))
        self.detail('engine limits: CpuQuota %s / CpuPeriod %s, Memory %s, '
                    'MemorySwap %s, PidsLimit %s'
                    % (host_config.get('CpuQuota'),
                       host_config.get('CpuPeriod'),
                       host_config.get('Memory'),
                       host_config.get('MemorySwap'),
                       host_config.get('PidsLimit')))
        self.detail('network mode: %s' % host_config.get('NetworkMode'))
        return container_id

    def exec_in(self, container):
        self.step('Exec in the workload: %s' % EXEC_COMMAND[-1])
        result = self.runtime.exec(container, EXEC_COMMAND, timeout=30)
        self.detail(result.output.decode('utf-8', 'replace').rstrip())
        self.detail('exit code: %s' % result.exit_code)

    def show_logs(self, container):
        self.step('Logs (stdout and stderr of the workload)')
        self.detail(self.runtime.logs(container).decode(
            'utf-8', 'replace').rstrip())

    def show_top(self, container):
        self.step('Top (processes of the workload)')
        listing = self.runtime.top(container)
        rows = [listing.titles] + listing.processes
        widths = [max(len(str(row[i])) for row in rows)
                  for i in range(len(listing.titles) - 1)]
        for row in rows:
            cells = ['%-*s' % (w, c) for w, c in zip(widths, row)]
            self.detail('  '.join(cells + [str(row[-1])]))

    def show_stats(self, container):
        self.step('Stats (one sample)')
        stats = self.runtime.stats(container)
        self.detail('cpu %.1f%%, memory %.1f MiB of %.0f MiB (%.1f%%), '
                    'pids %d'
                    % (stats.cpu_percent, stats.memory_usage_bytes / 2 ** 20,
                       stats.memory_limit_bytes / 2 ** 20,
                       stats.memory_percent, stats.pids))

    def pause_unpause(self, container):
        self.step('Pause and unpause (cgroup freezer)')
        self.runtime.pause(container)
        self.detail('after pause: %s'
                    % self.runtime.status(container).state.value)
        self.runtime.unpause(container)
        self.detail('after unpause: %s'
                    % self.runtime.status(container).state.value)

    def stop(self, container):
        self.step('Stop the workload (SIGTERM, SIGKILL after 5 s)')
        self.runtime.stop(container, timeout=5)
        status = self.runtime.status(container)
        self.detail('state %s, exit code %s'
                    % (status.state.value, status.exit_code))
        self.detail('last log line: %s' % self.runtime.logs(
            container, tail=1).decode('utf-8', 'replace').strip())

    def cleanup(self):
        """Remove what the demo made, whatever the step it stopped at."""
        self.step('Clean up')
        for container in self._created:
            try:
                self.runtime.remove(container, force=True)
                self.detail('removed %s' % container[:12])
            except Exception as exc:
                self.detail('could not remove %s: %s' % (container[:12], exc))
        self._created = []
        if self._image_built:
            try:
                if self.runtime.image_exists(IMAGE):
                    self.runtime.remove_image(IMAGE, force=True)
                    self.detail('removed image %s' % IMAGE)
            except Exception as exc:
                self.detail('could not remove image %s: %s' % (IMAGE, exc))


@contextlib.contextmanager
def _engine(engine_url, out):
    """The engine to use: ``engine_url``, or a private one for the run."""
    if engine_url:
        yield engine_url
        return
    base_dir = tempfile.mkdtemp(prefix='nova-zun-demo-', dir='/tmp')
    engine = engine_tool.PrivateEngine(base_dir)
    print('Starting a private Docker engine in %s' % base_dir, file=out,
          flush=True)
    try:
        yield engine.start()
    finally:
        print('Stopping the private engine and removing %s' % base_dir,
              file=out, flush=True)
        engine.stop()


def main(argv=None, out=None):
    out = out or sys.stdout
    parser = argparse.ArgumentParser(
        prog='demo', description='Walk through the nova-zun runtime layer '
        'on a private Docker engine (or on --engine-url).')
    parser.add_argument('--engine-url',
                        help='use this engine instead of starting one '
                             '(e.g. unix:///var/run/docker.sock)')
    args = parser.parse_args(argv)
    if os.geteuid() != 0 and not args.engine_url:
        print('demo: run as root (it starts a private dockerd)',
              file=sys.stderr)
        return 1
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with _engine(args.engine_url, out) as url:
            demo = Demo(docker_runtime.DockerRuntime(url, timeout=60), out)
            try:
                demo.run()
            finally:
                demo.cleanup()
    except (KeyboardInterrupt, _Interrupted):
        print('\ndemo: interrupted; everything it made is removed',
              file=sys.stderr)
        return 130
    except engine_tool.EngineStartError as exc:
        print('demo: the private engine did not start: %s' % exc,
              file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print('\nDemo finished: everything it made is removed.', file=out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
