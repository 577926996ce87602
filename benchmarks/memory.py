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

"""Host memory of containers, from /proc.

A container costs the processes in its cgroup plus the containerd shim
that holds it (``containerd-shim-runc-v2 ... -id <container id>``). RSS
counts shared pages (the shims' text) in full for each process; PSS
divides them among the processes that share them, so the PSS of N
containers adds up to what they cost the host together.
"""

import os

MIB = 1024 * 1024


def _read(path, mode='r'):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def _processes():
    """``{pid: (cgroup text, cmdline argv)}`` of every process."""
    table = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        cgroup = _read('/proc/%s/cgroup' % entry)
        cmdline = _read('/proc/%s/cmdline' % entry, 'rb')
        if cgroup is None or cmdline is None:
            continue
        table[int(entry)] = (cgroup, cmdline.decode(
            'utf-8', 'replace').split('\0'))
    return table


def _usage(pid):
    """``(rss, pss)`` bytes of one process, None if it is gone."""
    text = _read('/proc/%d/smaps_rollup' % pid)
    if not text:
        return None
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ('Rss:', 'Pss:'):
            values[parts[0][:-1]] = int(parts[1]) * 1024
    return values.get('Rss', 0), values.get('Pss', 0)


def container_processes(container_ids, table=None):
    """The processes of each container: its cgroup members and its shim.

    Returns ``{container id: [pids]}``.
    """
    table = table if table is not None else _processes()
    found = {cid: [] for cid in container_ids}
    for pid, (cgroup, argv) in table.items():
        for cid in container_ids:
            in_cgroup = cid in cgroup
            is_shim = ('-id' in argv and
                       argv.index('-id') + 1 < len(argv) and
                       argv[argv.index('-id') + 1] == cid)
            if in_cgroup or is_shim:
                found[cid].append(pid)
    return found


def measure(groups):
    """Memory of each group of containers.

    A group is a server (its sandbox and workload) or a bare container
    (itself).

    ``groups`` is a list of lists of container ids. Returns a list of dicts
    with ``rss``, ``pss`` (bytes) and ``processes`` per group.
    """
    ids = [cid for group in groups for cid in group]
    procs = container_processes(ids)
    results = []
    for group in groups:
        rss = pss = count = 0
        for cid in group:
            if not procs[cid]:
                raise RuntimeError('no process found for container %s'
                                   % cid)
            for pid in procs[cid]:
                usage = _usage(pid)
                if usage is None:
                    continue
                rss += usage[0]
                pss += usage[1]
                count += 1
        results.append({'rss': rss, 'pss': pss, 'processes': count})
    return results


def engine_usage(pids):
    """``(rss, pss)`` bytes of the engine daemons (dockerd, containerd)."""
    rss = pss = 0
    for pid in pids:
        usage = _usage(pid)
        if usage:
            rss += usage[0]
            pss += usage[1]
    return rss, pss
