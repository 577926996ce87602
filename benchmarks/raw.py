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

"""Baselines: the same work done on the engine directly (docker SDK), with
no Nova and no nova-zun code in the way."""

import concurrent.futures
import time

import docker

LABEL = 'org.openstack.nova-zun.benchmark'
CPU_PERIOD_US = 100000
# Connections to the engine kept for concurrent runs (the SDK keeps 10: a
# burst of 30 threads overflowed it, and urllib3 then failed a request
# on its pool closed meanwhile: AttributeError 'NoneType' ... 'qsize').
MAX_CONNECTIONS = 64


class RawEngine:

    def __init__(self, url, memory_mb, vcpus, pids_limit, stop_timeout):
        self.api = docker.APIClient(base_url=url, version='auto',
                                    timeout=120,
                                    max_pool_size=MAX_CONNECTIONS)
        self.memory_mb = memory_mb
        self.vcpus = vcpus
        self.pids_limit = pids_limit
        self.stop_timeout = stop_timeout

    def _host_config(self, **extra):
        # What ZunDriver gives a workload of the benchmark's flavor.
        return self.api.create_host_config(
            mem_limit='%dm' % self.memory_mb,
            memswap_limit='%dm' % self.memory_mb,
            cpu_period=CPU_PERIOD_US,
            cpu_quota=int(self.vcpus * CPU_PERIOD_US),
            pids_limit=self.pids_limit,
            security_opt=['no-new-privileges'],
            **extra)

    def run(self, image):
        """Create and start a container as ZunDriver's workload is.

        It has the same image, limits and security options. Returns ``(id,
        seconds)``.
        """
        start = time.monotonic()
        cid = self.api.create_container(
            image, labels={LABEL: 'raw'},
            host_config=self._host_config(network_mode='none'))['Id']
        self.api.start(cid)
        return cid, time.monotonic() - start

    def run_pod(self, image, sandbox_image, overlap=False, warm=False):
        """Run a sandbox and a workload joining its namespaces.

        Both are made as ZunDriver makes them, with the docker SDK; returns
        ``(ids, seconds)``. With ``overlap``, the workload is created while the
        sandbox starts (the engine accepts joining a created, not yet running,
        container): the most a spawn could gain by reordering its requests.
        With ``warm``, the sandbox is started before the clock starts: what
        a spawn drawing from a pool of started sandboxes would cost at best.
        """
        def create_sandbox():
            return self.api.create_container(
                sandbox_image, labels={LABEL: 'raw-pod'},
                stop_signal='SIGKILL',
                host_config=self.api.create_host_config(
                    network_mode='none', ipc_mode='shareable',
                    security_opt=['no-new-privileges'], pids_limit=16,
                    mem_limit='16m'))['Id']

        def create_workload():
            return self.api.create_container(
                image, labels={LABEL: 'raw-pod'},
                host_config=self._host_config(
                    network_mode='container:%s' % sandbox,
                    ipc_mode='container:%s' % sandbox))['Id']
        if warm:
            sandbox = create_sandbox()
            self.api.start(sandbox)
        start = time.monotonic()
        if warm:
            workload = create_workload()
        elif overlap:
            sandbox = create_sandbox()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                created = pool.submit(create_workload)
                self.api.start(sandbox)
                workload = created.result()
        else:
            sandbox = create_sandbox()
            self.api.start(sandbox)
            workload = create_workload()
        self.api.start(workload)
        return [sandbox, workload], time.monotonic() - start

    def restart(self, cid):
        start = time.monotonic()
        self.api.restart(cid, timeout=self.stop_timeout)
        return time.monotonic() - start

    def burst(self, image, count):
        """``count`` concurrent runs; return ``(ids, wall seconds)``."""
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            results = list(pool.map(lambda _: self.run(image),
                                    range(count)))
        return [cid for cid, _ in results], time.monotonic() - start

    def load(self, chunks):
        """Load an image archive (an iterator of chunks).

        Returns the references it held.
        """
        loaded = []
        for item in self.api.load_image(chunks, quiet=False):
            stream = item.get('stream', '') if isinstance(item, dict) else ''
            for prefix in ('Loaded image: ', 'Loaded image ID: '):
                if stream.startswith(prefix):
                    loaded.append(stream[len(prefix):].strip())
        return loaded

    def remove(self, cids):
        for cid in cids:
            try:
                self.api.remove_container(cid, force=True)
            except docker.errors.NotFound:
                pass

    def remove_all(self):
        """Every container a baseline made (also after a failure)."""
        self.remove([c['Id'] for c in self.api.containers(
            all=True, filters={'label': [LABEL]})])
