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

"""One temporary directory per test session, named after the pid of the
pytest process that owns it (``nova-zun-session-<pid>-*``).

The session removes its own at the end. A session killed before its
teardown cannot: the next session removes the directories of dead owners,
but only those nothing uses any more (no mount below, no loop device on a
file in it, no live process naming it, such as a private dockerd, which
outlives the session by design). Other sessions run concurrently on the
same machine: a directory whose owner runs is never touched.
"""

import glob
import os
import subprocess
import tempfile
import warnings

import psutil

from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop import processes

PREFIX = 'nova-zun-session-'


def create(parent='/tmp'):
    return tempfile.mkdtemp(prefix='%s%d-' % (PREFIX, os.getpid()),
                            dir=parent)


def remove(path):
    # Never across a mount point someone left below it.
    subprocess.run(['rm', '-rf', '--one-file-system', path], check=False)


def owner(path):
    """The pid in a session directory's name (None if it has none)."""
    pid = os.path.basename(path)[len(PREFIX):].partition('-')[0]
    return int(pid) if pid.isdigit() else None


def _loop_backing_files():
    listed = subprocess.run(
        ['losetup', '--list', '--noheadings', '--raw', '--output',
         'BACK-FILE'], capture_output=True, text=True, check=False).stdout
    return listed.split()


def _process_cmdlines():
    for proc in psutil.process_iter(['cmdline']):
        yield ' '.join(proc.info['cmdline'] or ())


def still_used(path):
    """What still uses ``path`` (empty when nothing does)."""
    inside = path.rstrip('/') + '/'
    uses = ['mount %s' % point
            for point in engine_tool.mounts_below(path)]
    uses += ['loop device on %s' % back for back in _loop_backing_files()
             if back.startswith(inside)]
    uses += ['process %r' % cmdline for cmdline in _process_cmdlines()
             if inside in cmdline + '/']
    return uses


def remove_dead(parent='/tmp'):
    """Remove the dead session directories below ``parent``.

    A directory is dead when its owner has exited and nothing uses it; those
    still used are warned about.
    """
    for path in glob.glob(os.path.join(parent, PREFIX + '*')):
        pid = owner(path)
        # A pid reused since keeps its directory: never one of a live
        # session by mistake.
        if pid is None or processes.running(pid):
            continue
        uses = still_used(path)
        if uses:
            warnings.warn('%s of an exited test session is still in use, '
                          'left alone: %s' % (path, '; '.join(uses)))
        else:
            remove(path)
