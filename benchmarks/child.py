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

"""Scenarios measured in a process of their own (``python -m
benchmarks.<scenario>``), which prints its findings as JSON."""

import json
import os
import signal
import subprocess
import sys

from nova_zun_workshop import keystone as keystone_tool
from nova_zun_workshop import processes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(module, args, env, what, stop_timeout):
    """Run ``python -m module args`` from the source tree; return its JSON.

    The child prints its findings as JSON; what it printed is returned parsed.
    If this process is interrupted, the child gets SIGTERM (it cleans up on it)
    and ``stop_timeout`` seconds.
    """
    child = keystone_tool.popen([sys.executable, '-m', module] + args,
                                cwd=ROOT, env=env, stdout=subprocess.PIPE)
    try:
        out, _ = child.communicate()
    finally:
        processes.end(child, stop_timeout)
    if child.returncode:
        raise RuntimeError('%s failed (exit status %s): see its output '
                           'above' % (what, child.returncode))
    return json.loads(out)


def measure(report, group, module, args, what):
    """Run a scenario's child with Nova's eventlet patching off.

    Its samples are kept in ``report`` as ``group/<name>``, its metadata as
    ``report.meta[group]``; the samples are returned.
    """
    # Off should anything the child imports apply it (nova.tests.functional
    # does): it would slow the child's HTTP clients and sockets.
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING='1')
    found = run_json(module, args, env, what, 60)
    for name, values in found['samples'].items():
        report.keep('%s/%s' % (group, name), values)
    report.meta[group] = found['meta']
    return found['samples']


def serve(bench):
    """The child's side: measure with ``bench``, print the findings as JSON.

    ``bench`` has ``setup()``, ``measure()`` (returning samples and
    metadata) and ``teardown()``, which runs also on failure and on SIGTERM.
    """
    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)
    try:
        bench.setup()
        samples, meta = bench.measure()
    finally:
        bench.teardown()
    json.dump({'samples': samples, 'meta': meta}, sys.stdout)
    return 0
