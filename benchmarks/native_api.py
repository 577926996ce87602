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

"""Native API figures: exec and logs over real HTTP vs the docker SDK.

The native API runs as deployed: the ``zun-native-api`` console script
(gunicorn) with keystonemiddleware validating the caller's token against
a private Keystone (the native API tests' setup,
``nova_zun_workshop/native_api_setup.py``), on the benchmark's engine.
The caller is a project member with a token, over one keep-alive HTTP
connection, as a client session holds it. The baselines are the same
operations on the same container through the docker SDK.

The measuring runs in a process of its own (``python -m
benchmarks.native_api``, started by :func:`run`): the benchmark's main
process carries Nova's eventlet monkey patching, which would slow both
the HTTP client and the SDK's sockets (the child runs with
``OS_NOVA_DISABLE_EVENTLET_PATCHING=1``, and refuses to measure with
patched sockets).
"""

import argparse
import cProfile
import sys
import tempfile
import time

import requests
import werkzeug.test

from benchmarks import child
from benchmarks import raw as raw_engine
from benchmarks import stats
from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun_workshop import native_api_server as server_tool
from nova_zun_workshop import native_api_setup as support
from zun_native_api import wsgi

SHORT_COMMAND = ['echo', 'hi']
LOG_LINE = 'x' * 63  # 64 bytes with its newline: 10 MiB is whole lines
LOG_DONE = 'logs-written'
MIB = 1024 * 1024
WARM_UP = 4


def progress(message):
    sys.stderr.write('[benchmarks] %s\n' % message)
    sys.stderr.flush()


def run(report, engine, image, counts, profile=None):
    """Measure in a child process and add the figures to ``report``."""
    args = ['--engine-url', engine.url, '--image', image,
            '--base-dir', engine.base_dir,
            '--execs', str(counts['execs']),
            '--log-trials', str(counts['log_trials']),
            '--log-mb', str(counts['log_mb'])]
    if profile:
        args += ['--profile', profile]
    samples = child.measure(report, 'native_api', 'benchmarks.native_api',
                            args, 'the native API benchmark')
    report.compare('native_api/exec_vs_sdk', samples['exec_api'],
                   samples['exec_sdk'], ('exec_api', 'exec_sdk'))
    report.ratio('native_api/exec_vs_sdk_with_inspect_p50',
                 stats.percentile(samples['exec_api'], 50),
                 stats.percentile(samples['exec_sdk_with_inspect'], 50))
    report.ratio('native_api/logs_%dmb_vs_sdk' % counts['log_mb'],
                 stats.percentile(samples['logs_api'], 50),
                 stats.percentile(samples['logs_sdk'], 50))
    for name in ('logs_api', 'logs_sdk'):
        report.add('native_api/%s_p50' % name,
                   stats.percentile(samples[name], 50), 's')


class Bench:

    def __init__(self, args):
        self.args = args
        self.keystone = self.server = None
        self.workloads = []

    def setup(self):
        args = self.args
        self.runtime = docker_runtime.DockerRuntime(args.engine_url)
        self.raw = raw_engine.RawEngine(args.engine_url, memory_mb=64,
                                        vcpus=1, pids_limit=None,
                                        stop_timeout=None)
        progress('native API: starting a private Keystone')
        self.keystone = support.start_keystone(
            tempfile.mkdtemp(prefix='keystone-', dir=args.base_dir))
        self.server = server_tool.NativeApiServer(
            'bench', args.engine_url, self.keystone.url,
            *support.SERVICE_USER)
        # Logs larger than the default cap (1 MiB) pass whole.
        self.max_output = 2 * args.log_mb * MIB
        self.server.set('native_api', max_output_bytes=str(self.max_output))
        self.server.set('DEFAULT', debug='false')
        progress('native API: starting zun-native-api')
        self.server.start()
        password, project, _ = support.USERS['alice']
        session = self.keystone.session('alice', password, project)
        self.token = session.get_token()
        project_id = session.get_project_id()
        extra = {raw_engine.LABEL: 'native-api'}
        self.exec_instance = self._workload(project_id, None, extra)
        self.logs_instance = self._workload(
            project_id,
            ['/bin/sh', '-c', 'yes %s | head -c %d; echo %s; '
             "trap 'exit 0' TERM; sleep 2147483647 & wait"
             % (LOG_LINE, args.log_mb * MIB, LOG_DONE)], extra)
        self.http = requests.Session()
        self.http.headers.update({
            'X-Auth-Token': self.token,
            support.HEADER: 'container 1.40'})

    def _workload(self, project_id, command, extra):
        instance = support.start_workload(
            self.runtime, self.args.image, project_id, host='bench',
            command=command, extra_labels=extra)
        self.workloads.append(instance)
        return instance

    def _cid(self, instance):
        return self.runtime.status('nova-%s' % instance).id

    def teardown(self):
        try:
            for instance in self.workloads:
                self.raw.remove([c.id for c in self.runtime.list_containers(
                    {labels.INSTANCE: instance})])
        finally:
            if self.server is not None:
                self.server.stop()
            if self.keystone is not None:
                self.keystone.stop()

    # -- one sample of each -------------------------------------------------

    def api_exec(self):
        start = time.monotonic()
        response = self.http.post(
            '%s/v1/containers/%s/execute' % (self.server.url,
                                             self.exec_instance),
            params={'command': ' '.join('"%s"' % a for a in SHORT_COMMAND),
                    'run': 'true'}, timeout=60)
        secs = time.monotonic() - start
        response.raise_for_status()
        body = response.json()
        if body['exit_code'] != 0 or body['output'].strip() != 'hi':
            raise RuntimeError('unexpected exec answer: %s' % body)
        return secs

    def sdk_exec(self, cid, inspect=False):
        api = self.raw.api
        start = time.monotonic()
        exec_id = api.exec_create(cid, SHORT_COMMAND)['Id']
        output = api.exec_start(exec_id)
        if inspect:
            exit_code = api.exec_inspect(exec_id)['ExitCode']
        secs = time.monotonic() - start
        if output.strip() != b'hi' or (inspect and exit_code != 0):
            raise RuntimeError('unexpected SDK exec output: %r' % output)
        return secs

    def api_logs(self):
        start = time.monotonic()
        response = self.http.get(
            '%s/v1/containers/%s/logs' % (self.server.url,
                                          self.logs_instance), timeout=120)
        body = response.content
        secs = time.monotonic() - start
        response.raise_for_status()
        return secs, len(body)

    def sdk_logs(self, cid):
        start = time.monotonic()
        data = self.raw.api.logs(cid)
        return time.monotonic() - start, len(data)

    def _wait_logs_written(self, cid):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.raw.api.logs(cid, tail=1).strip() == LOG_DONE.encode():
                return
            time.sleep(0.1)
        raise RuntimeError('the logging workload did not write its logs')

    def measure(self):
        args = self.args
        samples = {'exec_api': [], 'exec_sdk': [],
                   'exec_sdk_with_inspect': [], 'logs_api': [],
                   'logs_sdk': []}
        meta = {}
        exec_cid = self._cid(self.exec_instance)
        progress('native API: exec, %d warm-up + %d of each'
                 % (WARM_UP, args.execs))
        # The first requests of each gunicorn worker validate the token
        # against Keystone; keystonemiddleware caches the answer.
        meta['exec_warm_up_s'] = [self.api_exec() for _ in range(WARM_UP)]
        self.sdk_exec(exec_cid)
        profiler = cProfile.Profile() if args.profile else None
        for _ in range(args.execs):
            samples['exec_api'].append(self.api_exec())
            samples['exec_sdk'].append(self.sdk_exec(exec_cid))
            samples['exec_sdk_with_inspect'].append(
                self.sdk_exec(exec_cid, inspect=True))
        if profiler is not None:
            self.profile_in_process(profiler)
        logs_cid = self._cid(self.logs_instance)
        self._wait_logs_written(logs_cid)
        progress('native API: logs of %d MiB, %d of each'
                 % (args.log_mb, args.log_trials))
        for _ in range(args.log_trials):
            secs, api_bytes = self.api_logs()
            samples['logs_api'].append(secs)
            secs, sdk_bytes = self.sdk_logs(logs_cid)
            samples['logs_sdk'].append(secs)
        if sdk_bytes < args.log_mb * MIB or api_bytes < sdk_bytes:
            raise RuntimeError('logs: the API returned %d bytes, the SDK %d'
                               % (api_bytes, sdk_bytes))
        meta.update(logs_api_response_bytes=api_bytes,
                    logs_sdk_bytes=sdk_bytes,
                    max_output_bytes=self.max_output,
                    gunicorn_workers=self.server.sections['native_api'][
                        'workers'])
        return samples, meta

    def profile_in_process(self, profiler):
        """cProfile the application answering the same exec in this process.

        keystonemiddleware is included, the HTTP server not.
        """
        _, app = wsgi.init_application(
            ['--config-file', self.server.conf_file])
        client = werkzeug.test.Client(app)
        path = '/v1/containers/%s/execute' % self.exec_instance
        headers = dict(self.http.headers)
        query = {'command': '"echo" "hi"', 'run': 'true'}
        client.post(path, query_string=query, headers=headers)
        profiler.enable()
        for _ in range(self.args.execs):
            response = client.post(path, query_string=query,
                                   headers=headers)
        profiler.disable()
        if response.status_code != 200:
            raise RuntimeError('in-process exec: %s' % response.data)
        profiler.dump_stats(self.args.profile)
        progress('native API exec profile written to %s' % self.args.profile)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.native_api')
    parser.add_argument('--engine-url', required=True)
    parser.add_argument('--image', required=True,
                        help='a test image whose command keeps running')
    parser.add_argument('--base-dir', required=True,
                        help='Keystone lives below this directory')
    parser.add_argument('--execs', type=int, default=20)
    parser.add_argument('--log-trials', type=int, default=5)
    parser.add_argument('--log-mb', type=int, default=10)
    parser.add_argument('--profile', metavar='FILE')
    args = parser.parse_args(argv)
    patcher = sys.modules.get('eventlet.patcher')
    if patcher is not None and patcher.is_monkey_patched('socket'):
        parser.error('eventlet patched the sockets: run with '
                     'OS_NOVA_DISABLE_EVENTLET_PATCHING=1')
    return child.serve(Bench(args))


if __name__ == '__main__':
    sys.exit(main())
