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

"""``python -m benchmarks``: run every figure once, print them, write JSON.

Exits 0 when every figure was measured, 1 when any step failed (the
figures measured before the failure are still printed), 2 when the host
cannot run the benchmarks. Timings never fail a run.
"""

import argparse
import datetime
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

# Nova's functional framework applies eventlet's monkey patching when it
# is imported: before the docker SDK, requests or urllib3 are.
import nova.tests.functional  # noqa: F401,I100

import nova.conf  # noqa: I100
from nova import monkey_patch

from benchmarks import cloud_burst
from benchmarks import layers
from benchmarks import native_api
from benchmarks import raw as raw_engine
from benchmarks import scenarios
from benchmarks import stats
from nova_zun.runtime import docker as docker_runtime
from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop.functional import network_support
from nova_zun_workshop.functional import volume_support
from nova_zun_workshop import images as test_images

CONF = nova.conf.CONF

FULL = {'boots': 20, 'reboots': 10, 'burst': 30, 'density': 50,
        'glance_trials': 3, 'glance_mb': 64, 'execs': 50, 'log_trials': 5,
        'log_mb': 10, 'net_boots': 10, 'cloud_burst': 30,
        'layers_base_mb': 64, 'layers_images': 10, 'layers_trials': 3}
QUICK = {'boots': 2, 'reboots': 2, 'burst': 3, 'density': 4,
         'glance_trials': 1, 'glance_mb': 2, 'execs': 3, 'log_trials': 1,
         'log_mb': 10, 'net_boots': 2, 'cloud_burst': 0,
         'layers_base_mb': 8, 'layers_images': 2, 'layers_trials': 1}


def _parser():
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks',
        description='nova-zun figures against baselines measured in the '
                    'same run, on a private engine (root only).')
    parser.add_argument('--quick', action='store_true',
                        help='small counts, for CI: fails only on errors')
    parser.add_argument('--json', metavar='FILE',
                        help='also write figures, samples and metadata')
    parser.add_argument('--profile', metavar='FILE',
                        help='cProfile the driver spawns of the sequential '
                             'boots into FILE (python -m pstats FILE)')
    parser.add_argument('--profile-burst', metavar='FILE',
                        help='cProfile the whole process (API, scheduler, '
                             'conductor, compute) during the burst')
    parser.add_argument('--profile-native-api', metavar='FILE',
                        help='cProfile the native API application '
                             '(in-process, keystonemiddleware included) '
                             'answering the exec requests')
    for key in FULL:
        parser.add_argument('--' + key.replace('_', '-'), type=int,
                            metavar='N', help='override the count %s' % key)
    return parser


_MAIN = []


def _terminate(signum, frame):
    """End the run through its finally blocks.

    Servers, containers, images and the engine go. Under eventlet the handler
    runs in whichever green thread was running, where an exception would end
    only that thread: it is thrown into the main one.
    """
    exc = SystemExit(128 + signum)
    # Once: a second signal must not cut the clean-up short.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    if not monkey_patch.is_patched():
        raise exc
    from eventlet import hubs
    import greenlet
    main = _MAIN[0]
    if greenlet.getcurrent() is main:
        raise exc
    hubs.get_hub().schedule_call_global(0, main.throw, exc)


def _git_revision():
    try:
        return subprocess.run(
            ['git', 'describe', '--always', '--dirty'],
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _network(bench, result, report):
    # Only one userspace Open vSwitch runs on a host: --net-boots 0 leaves
    # it to whoever holds it.
    scenarios.progress('network: starting a private Open vSwitch')
    switch = network_support.start_private_ovs()
    try:
        scenarios.NetworkBenchmarkCase(bench, switch).run(result)
    finally:
        bridges = network_support.stop_private_ovs(switch)
        if bridges:
            report.errors.append('bridges left on the switch: %s' % bridges)


def run(args, report):
    counts = dict(QUICK if args.quick else FULL)
    for key in FULL:
        value = getattr(args, key)
        if value is not None:
            counts[key] = value
    report.meta.update(counts=counts, quick=args.quick,
                       started=datetime.datetime.utcnow().isoformat(),
                       load_average=os.getloadavg(),
                       cpus=os.cpu_count(), revision=_git_revision())
    # The engine and the driver's volume mount directory (no volume is
    # attached here), each removed by its own clean-up, then this.
    run_dir = tempfile.mkdtemp(prefix='nova-zun-bench-', dir='/tmp')
    engine = engine_tool.PrivateEngine(os.path.join(run_dir, 'engine'))
    volume_dirs = volume_support.VolumeDirs.create(run_dir)
    runtime = raw = refs = None
    report.meta['engine_dir'] = engine.base_dir
    try:
        scenarios.progress('starting a private engine in %s'
                           % engine.base_dir)
        engine.start()
        runtime = docker_runtime.DockerRuntime(engine.url)
        refs = test_images.build(runtime)
        raw = raw_engine.RawEngine(
            engine.url, memory_mb=64, vcpus=1,
            pids_limit=CONF.zun.pids_limit,
            stop_timeout=CONF.zun.stop_timeout)
        report.meta['engine'] = runtime.engine_info().version
        bench = scenarios.Benchmark(counts, engine, volume_dirs, runtime,
                                    refs, raw, report, profile=args.profile,
                                    profile_burst=args.profile_burst)
        result = unittest.TestResult()
        scenarios.BenchmarkCase(bench).run(result)
        report.meta['max_concurrent_builds'] = CONF.max_concurrent_builds
        if counts['net_boots']:
            _network(bench, result, report)
        for _, text in result.errors + result.failures:
            report.errors.append(text)
        scenarios.progress('native API: exec and logs vs the docker SDK')
        native_api.run(report, engine, refs['sleeper'], counts,
                       profile=args.profile_native_api)
        scenarios.progress('layered Glance images vs whole archives')
        layers.run(report, engine, refs['sleeper'], counts)
        if counts['cloud_burst']:
            scenarios.progress('cloud burst: %d boots on the all-in-one '
                               'cloud' % counts['cloud_burst'])
            cloud_burst.run(report, counts['cloud_burst'])
    except Exception:
        report.errors.append(traceback.format_exc())
    finally:
        scenarios.progress('cleaning up')
        try:
            if raw is not None:
                raw.remove_all()
            if refs is not None:
                test_images.remove(runtime)
        except Exception:
            report.errors.append(traceback.format_exc())
        engine.stop()
        leftovers = engine.processes()
        if leftovers:
            report.errors.append('engine processes left running: %s'
                                 % leftovers)
        report.errors.extend(volume_dirs.leftovers_removed())
        try:
            os.rmdir(run_dir)
        except OSError as exc:
            report.errors.append('%s not removed: %s' % (run_dir, exc))


def _logs_to_stderr():
    """nova.test logs to stdout: stdout carries the figures only."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, 'stream', None) is sys.stdout:
            handler.setStream(sys.stderr)


def main(argv=None):
    args = _parser().parse_args(argv)
    _logs_to_stderr()
    if os.geteuid() != 0:
        print('the benchmarks start a private dockerd: run them as root',
              file=sys.stderr)
        return 2
    if monkey_patch.is_patched():
        import greenlet
        _MAIN[:] = [greenlet.getcurrent()]
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    report = stats.Report()
    start = time.monotonic()
    try:
        run(args, report)
    except SystemExit as exc:
        report.errors.append('interrupted (exit status %s)' % exc.code)
        raise
    finally:
        report.meta['seconds'] = time.monotonic() - start
        report.meta['load_average_end'] = os.getloadavg()
        for line in report.lines():
            print(line)
        sys.stdout.flush()
        if args.json:
            with open(args.json, 'w') as f:
                f.write(report.to_json())
        for error in report.errors:
            print('ERROR: %s' % error, file=sys.stderr)
    return 1 if report.errors else 0
