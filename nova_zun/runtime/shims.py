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

"""Reap what a failed container start leaves behind in containerd.

When an OCI runtime that boots a sandbox of its own (runsc) fails to start
a container, the engine gives up on the containerd task while it is still
in its "created" state: the task cannot be deleted yet, the engine forgets
it, and the containerd shim (with runsc's sandbox and gofer under it) and
runsc's state under the runtime root stay behind for good, even after the
container is removed. Killing the shim makes containerd clean up after a
dead shim, which runs the runtime's ``delete`` and removes that state.

Only processes of this host are seen; for an engine elsewhere this finds
nothing and does nothing. It signals root's processes: nova-compute runs it
in a privsep daemon (``nova_zun.privileged.reap_shims``), which it lets
name a container and nothing else, so only root's containerd shims serving
exactly that container, and what runs under them, are ever signalled.
"""

import logging
import os
import re
import shutil
import signal
import subprocess
import time

import psutil

LOG = logging.getLogger(__name__)

_CONTAINER_ID = re.compile(r'[0-9a-f]{64}')


def _cmdline(proc):
    try:
        return proc.cmdline()
    except psutil.Error:
        return []  # gone meanwhile, or a zombie


def _option(argv, name):
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + '='):
            return arg[len(name) + 1:]
    return None


def _owner(proc):
    try:
        return proc.uids().real
    except psutil.Error:
        return None


def find(container_id):
    """Return the containerd shims of root serving ``container_id``.

    Each is ``(pid, address, namespace)``; ``container_id`` is a full id.
    """
    found = []
    for proc in psutil.process_iter():
        argv = _cmdline(proc)
        if (argv and 'containerd-shim' in os.path.basename(argv[0]) and
                _option(argv, '-id') == container_id and _owner(proc) == 0):
            found.append((proc.pid, _option(argv, '-address'),
                          _option(argv, '-namespace')))
    return found


def _descendants(pid):
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reap(container_id, timeout=10.0):
    """Kill the shims of ``container_id`` and everything under them.

    Then wait for containerd to clean up after them and drop its container
    record. Return how many shims there were. ``container_id`` must be a full
    container id (64 hex digits), else ValueError.
    """
    if not isinstance(container_id, str) or \
            not _CONTAINER_ID.fullmatch(container_id):
        raise ValueError('not a full container id: %r' % (container_id,))
    shims = find(container_id)
    bundles = []
    for pid, address, namespace in shims:
        try:
            # The shim runs in the task's bundle, which containerd removes
            # last when it cleans up after the dead shim.
            bundles.append(os.readlink('/proc/%d/cwd' % pid))
        except OSError:
            pass
        LOG.warning('Reaping containerd shim %s left behind by the failed '
                    'start of container %s', pid, container_id)
        victims = _descendants(pid) + [pid]
        for victim in victims:
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
    # containerd then runs the shim's cleanup (``shim delete``, which runs
    # the runtime's ``delete``): wait until nothing of the container runs.
    deadline = time.monotonic() + timeout
    while ((any(os.path.exists(b) for b in bundles) or
            _mentioning(container_id)) and time.monotonic() < deadline):
        time.sleep(0.05)
    for pid, address, namespace in shims:
        _delete_record(container_id, address, namespace, deadline)
    return len(shims)


def _mentioning(container_id):
    return [proc.pid for proc in psutil.process_iter()
            if any(container_id in a for a in _cmdline(proc)) and
            _alive(proc.pid)]


def _delete_record(container_id, address, namespace, deadline):
    """Delete containerd's metadata record of the container with ``ctr``.

    containerd keeps the record, which the engine no longer deletes. It is
    deleted where containerd's client is installed (once containerd has removed
    the dead shim's task).
    """
    if address:
        # The engine's own stdio directory of the task, beside the socket
        # of a containerd it manages; removed only when empty.
        try:
            os.rmdir(os.path.join(os.path.dirname(address), container_id))
        except OSError:
            pass
    ctr = shutil.which('ctr')
    if not (ctr and address and namespace):
        return
    cmd = [ctr, '--address', address, '--namespace', namespace,
           'containers', 'delete', container_id]
    while True:
        result = subprocess.run(cmd, capture_output=True, text=True,
                                check=False)
        if (result.returncode == 0 or 'not found' in result.stderr or
                time.monotonic() >= deadline):
            break
        time.sleep(0.1)
    if result.returncode and 'not found' not in result.stderr:
        LOG.warning('Could not delete containerd record of %s: %s',
                    container_id, result.stderr.strip())
