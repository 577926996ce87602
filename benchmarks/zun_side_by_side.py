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

"""Zun 18 side by side with our native API (issue 22).

``python -m benchmarks.zun_side_by_side [--quick]`` brings up Zun
(``nova_zun_workshop.zun_side``: zun-api and zun-compute from PyPI in a
virtualenv of their own, Keystone, MariaDB, RabbitMQ, Placement, a
stand-in Neutron, a private engine) and runs the same requests through
Zun's API and ours, over HTTP with a token on one keep-alive session:

* create-to-Running: ``POST /v1/containers?run=true``, then ``GET`` every
  50 ms until ``Running``; p50 and p95;
* exec round trip: ``POST /execute?run=true`` of ``echo hi``;
* logs: ``GET /logs`` of a container that wrote ``--log-kb`` KiB;
* memory per idle container: PSS of its processes and shims
  (``benchmarks.memory``), ``--density`` idle containers.

Ours is measured through an all-in-one cloud's native API when
``--cloud-base-dir`` names a running one (``tools/cloud up``; hold
``/tmp/nova-zun-ovs.lock`` around the cloud's whole life): a container
there is a Nova server, a pod (sandbox and workload). Without a cloud,
ours is the native API served as the native API benchmark serves it, on
workloads started on its engine as the driver labels them: exec and logs
only (a create needs Nova). Figures are ours vs Zun's ratios
(``zun_side/<figure>_ours_vs_zun``, below 1 is ours faster or smaller)
and both sides' values; timings never fail.
"""

import argparse
import json
import sys
import tempfile
import time

import requests

from benchmarks import memory
from benchmarks import stats
from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun_workshop import images as test_images
from nova_zun_workshop import native_api_server as server_tool
from nova_zun_workshop import native_api_setup as support
from nova_zun_workshop import zun_side

HEADER = 'OpenStack-API-Version'
VERSION = 'container 1.40'
SLEEPER = ['/bin/sh', '-c', "trap 'exit 0' TERM; sleep 2147483647 & wait"]
LOG_LINE = 'x' * 63
POLL = 0.05
COUNTS = {'quick': {'creates': 3, 'execs': 5, 'log_trials': 3,
                    'log_kb': 64, 'density': 3},
          'full': {'creates': 20, 'execs': 30, 'log_trials': 10,
                   'log_kb': 1024, 'density': 10}}


def progress(message):
    sys.stderr.write('[zun-side-by-side] %s\n' % message)
    sys.stderr.flush()


def logger_command(kib):
    return ['/bin/sh', '-c', 'yes %s | head -c %d; '
            "trap 'exit 0' TERM; sleep 2147483647 & wait"
            % (LOG_LINE, kib * 1024)]


class ApiSide:
    """One Zun v1 API: create, exec, logs and delete over HTTP."""

    def __init__(self, name, url, token, image, engine_url, extra=None):
        self.name = name
        self.url = url.rstrip('/')
        self.image = image
        self.extra = extra or {}
        self.runtime = docker_runtime.DockerRuntime(engine_url)
        self.http = requests.Session()
        self.http.headers.update({'X-Auth-Token': token, HEADER: VERSION})
        self.made = []

    def _path(self, uuid, action=''):
        return '%s/containers/%s%s' % (self.url, uuid, action)

    def create(self, command, wait=True):
        """Create and run a container; seconds to Running and its uuid."""
        body = dict(self.extra, image=self.image, command=command,
                    name='side-%d' % len(self.made))
        start = time.monotonic()
        response = self.http.post(self.url + '/containers',
                                  params={'run': 'true'}, json=body,
                                  timeout=120)
        if response.status_code != 202:
            raise RuntimeError('%s: create answered %s: %s' % (
                self.name, response.status_code, response.text[:500]))
        uuid = response.json()['uuid']
        self.made.append(uuid)
        if wait:
            self.wait_running(uuid)
        return time.monotonic() - start, uuid

    def wait_running(self, uuid, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.http.get(self._path(uuid), timeout=60).json()
            if found.get('status') == 'Running':
                return
            if found.get('status') == 'Error':
                raise RuntimeError('%s: %s in Error: %s' % (
                    self.name, uuid, found.get('status_reason')))
            time.sleep(POLL)
        raise RuntimeError('%s: %s not Running in %d s' % (
            self.name, uuid, timeout))

    def execute(self, uuid):
        start = time.monotonic()
        response = self.http.post(self._path(uuid, '/execute'), params={
            'command': '"echo" "hi"', 'run': 'true'}, timeout=60)
        secs = time.monotonic() - start
        response.raise_for_status()
        body = response.json()
        if body['exit_code'] != 0 or body['output'].strip() != 'hi':
            raise RuntimeError('%s: unexpected exec answer %s'
                               % (self.name, body))
        return secs

    def logs(self, uuid):
        start = time.monotonic()
        response = self.http.get(self._path(uuid, '/logs'), timeout=120)
        data = response.content
        secs = time.monotonic() - start
        response.raise_for_status()
        return secs, len(data)

    def delete_all(self):
        for uuid in self.made:
            self.http.delete(self._path(uuid), params={'force': 'true'},
                             timeout=120)
        deadline = time.monotonic() + 120
        while self.made and time.monotonic() < deadline:
            self.made = [u for u in self.made if self.http.get(
                self._path(u), timeout=60).status_code != 404]
            time.sleep(0.2)

    def engine_ids(self, uuid):
        """The engine's container ids of one container (a pod: several)."""
        raise NotImplementedError


class ZunApi(ApiSide):

    def engine_ids(self, uuid):
        return [self.runtime.status('zun-%s' % uuid).id]


class OurApi(ApiSide):

    def engine_ids(self, uuid):
        return [c.id for c in self.runtime.list_containers(
            {labels.INSTANCE: uuid})]


class Bench:

    def __init__(self, args):
        self.args = args
        self.counts = COUNTS['quick' if args.quick else 'full']
        self.report = stats.Report()
        self.zun = self.ours = None
        self.cleanup = []

    # -- the two sides --------------------------------------------------------

    def start_zun(self):
        args = self.args
        self.side = zun_side.ZunSide(args.base_dir, args.port_base,
                                     zun_venv=args.zun_venv,
                                     out=sys.stderr)
        self.cleanup.append(self.side.clean if not args.keep
                            else self.side.stop)
        progress('starting Zun in %s' % args.base_dir)
        self.side.up()
        session = self.side.keystone.admin_session()
        self.zun = ZunApi('zun', self.side.urls['container'],
                          session.get_token(),
                          test_images.reference('sleeper'),
                          self.side.zun_engine.url,
                          extra={'image_pull_policy': 'ifnotpresent'})

    def start_ours_cloud(self):
        from nova_zun_workshop.allinone import cloud as aio
        args = self.args
        cloud = aio.Cloud(args.cloud_base_dir, args.cloud_port_base,
                          out=sys.stderr)
        session = cloud.keystone.admin_session()
        self.ours = OurApi('ours', cloud.urls['container'],
                           session.get_token(), aio.IMAGE,
                           cloud.engine.url)
        self.report.meta['ours'] = 'all-in-one native API (Nova servers)'

    def start_ours_standalone(self):
        """The native API on workloads of its own engine (no create)."""
        from nova_zun_workshop import engine as engine_tool
        base = tempfile.mkdtemp(prefix='nova-zun-side-ours-')
        engine = engine_tool.PrivateEngine(base, runsc=False)
        self.cleanup.append(lambda: engine.stop(remove=True))
        engine.start()
        runtime = docker_runtime.DockerRuntime(engine.url)
        image = test_images.build(runtime, commands={
            'sleeper': test_images.COMMANDS['sleeper']})['sleeper']
        keystone = support.start_keystone(tempfile.mkdtemp(
            prefix='keystone-', dir=base))
        self.cleanup.append(keystone.stop)
        server = server_tool.NativeApiServer(
            'bench', engine.url, keystone.url, *support.SERVICE_USER)
        server.set('DEFAULT', debug='false')
        # The logs pass whole (the default cap is 1 MiB).
        server.set('native_api', max_output_bytes=str(
            2 * self.counts['log_kb'] * 1024))
        server.start()
        self.cleanup.append(server.stop)
        password, project, _ = support.USERS['alice']
        session = keystone.session('alice', password, project)
        project_id = session.get_project_id()
        self.ours = OurApi('ours', server.url + '/v1', session.get_token(),
                           image, engine.url)
        self.ours_workloads = {
            'exec': support.start_workload(runtime, image, project_id,
                                           host='bench'),
            'logs': support.start_workload(
                runtime, image, project_id, host='bench',
                command=logger_command(self.counts['log_kb']))}
        self.report.meta['ours'] = ('standalone native API on labelled '
                                    'workloads (no Nova: no create)')

    # -- measuring ------------------------------------------------------------

    def creates(self, side):
        samples = []
        progress('%s: %d creates to Running'
                 % (side.name, self.counts['creates']))
        for _ in range(self.counts['creates']):
            secs, _ = side.create(SLEEPER)
            samples.append(secs)
        return samples

    def execs(self, side, uuid):
        side.execute(uuid)  # the token's first check
        return [side.execute(uuid) for _ in range(self.counts['execs'])]

    def logs(self, side, uuid):
        want = self.counts['log_kb'] * 1024
        deadline = time.monotonic() + 60
        while side.logs(uuid)[1] < want and time.monotonic() < deadline:
            time.sleep(0.2)
        trials = [side.logs(uuid) for _ in range(self.counts['log_trials'])]
        self.report.meta['logs_bytes_%s' % side.name] = trials[-1][1]
        return [secs for secs, _ in trials]

    def density(self, side):
        progress('%s: %d idle containers' % (side.name,
                                             self.counts['density']))
        uuids = [side.create(SLEEPER)[1]
                 for _ in range(self.counts['density'])]
        time.sleep(2)
        groups = memory.measure([side.engine_ids(u) for u in uuids])
        return [g['pss'] / float(memory.MIB) for g in groups]

    def measure_side(self, side, created=True):
        found = {}
        if created:
            found['create'] = self.creates(side)
            exec_uuid = side.made[0]
            _, logs_uuid = side.create(logger_command(self.counts['log_kb']))
        else:
            exec_uuid = self.ours_workloads['exec']
            logs_uuid = self.ours_workloads['logs']
        progress('%s: %d execs' % (side.name, self.counts['execs']))
        found['exec'] = self.execs(side, exec_uuid)
        progress('%s: logs of %d KiB' % (side.name, self.counts['log_kb']))
        found['logs'] = self.logs(side, logs_uuid)
        if created:
            found['idle_pss_mib'] = self.density(side)
        for name, values in found.items():
            self.report.keep('zun_side/%s_%s' % (side.name, name), values)
        return found

    def run(self):
        try:
            self.start_zun()
            if self.args.cloud_base_dir:
                self.start_ours_cloud()
            else:
                self.start_ours_standalone()
            zun = self.measure_side(self.zun)
            ours = self.measure_side(self.ours,
                                     created=bool(self.args.cloud_base_dir))
            self.figures(zun, ours)
        finally:
            for side in (self.zun, self.ours):
                if side is not None:
                    side.delete_all()
            for step in reversed(self.cleanup):
                try:
                    step()
                except Exception as exc:  # keep cleaning up
                    self.report.errors.append('cleanup: %s' % exc)
        return self.report

    def figures(self, zun, ours):
        report = self.report
        for name in ('create', 'exec', 'logs'):
            if name not in ours:
                report.meta['%s_ours' % name] = 'not measured (no Nova)'
                for pct in (50, 95):
                    report.add('zun_side/%s_zun_p%d' % (name, pct),
                               stats.percentile(zun[name], pct), 's')
                continue
            report.compare('zun_side/%s_ours_vs_zun' % name, ours[name],
                           zun[name], ('%s_ours' % name, '%s_zun' % name))
        if 'idle_pss_mib' in ours:
            report.ratio('zun_side/idle_pss_ours_vs_zun',
                         stats.percentile(ours['idle_pss_mib'], 50),
                         stats.percentile(zun['idle_pss_mib'], 50))
        for side, found in (('zun', zun), ('ours', ours)):
            if 'idle_pss_mib' in found:
                report.add('zun_side/idle_pss_%s_p50' % side,
                           stats.percentile(found['idle_pss_mib'], 50),
                           'MiB')


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.'
                                     'zun_side_by_side',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='small counts (%s)' % COUNTS['quick'])
    parser.add_argument('--base-dir', default='/tmp/nova-zun-zun-side',
                        help="Zun's state (removed at the end)")
    parser.add_argument('--port-base', type=int, default=32400)
    parser.add_argument('--zun-venv', help="Zun's virtualenv (default: "
                        'BASE_DIR/zun-venv, made on first use)')
    parser.add_argument('--keep', action='store_true',
                        help='stop Zun at the end but keep its state')
    parser.add_argument('--cloud-base-dir', help='a running all-in-one '
                        "whose native API is ours (else: no create)")
    parser.add_argument('--cloud-port-base', type=int,
                        default=zun_side.aio.DEFAULT_PORT_BASE)
    parser.add_argument('--json', metavar='FILE')
    args = parser.parse_args(argv)
    report = Bench(args).run()
    for line in report.lines():
        print(line)
    for error in report.errors:
        print('error: %s' % error)
    print(json.dumps(report.meta, sort_keys=True, default=str))
    if args.json:
        with open(args.json, 'w') as f:
            f.write(report.to_json())
    return 0


if __name__ == '__main__':
    sys.exit(main())
