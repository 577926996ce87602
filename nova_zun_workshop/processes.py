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

"""Helpers shared by the tools that run services for tests and demos."""

import configparser
import contextlib
import shutil
import subprocess
import time

import psutil
import requests


def end(process, timeout):
    """Ask ``process`` (a Popen) to stop, kill it after ``timeout`` seconds.

    It is reaped either way.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(path, lines=20):
    """The last ``lines`` of a service's log, for error messages."""
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


def write_ini(path, sections):
    """Write ``sections`` as an INI file that oslo.config reads back unchanged.

    ``sections`` is ``{section: {option: value}}``. There is no interpolation,
    so a ``%`` is literal; a multi-line value becomes continuation lines.
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # option names as given
    parser.read_dict(sections)
    with open(path, 'w') as f:
        parser.write(f)


def write_wsgi_module(directory, name, import_line):
    """Write ``<directory>/<name>.py``: an ``application`` for gunicorn.

    OpenStack's WSGI entry points (Keystone's, Nova's) parse ``sys.argv``
    as their own command line, which under gunicorn holds gunicorn's
    options: the module trims it before ``import_line`` (which must bind
    ``application``) runs.
    """
    with open('%s/%s.py' % (directory, name), 'w') as f:
        f.write('import sys\nsys.argv = sys.argv[:1]\n%s\n' % import_line)


def running(pid):
    """True while ``pid`` runs: a zombie does not.

    Where PID 1 does not reap, as in a container's shell, a dead orphan stays
    one.
    """
    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_answering(process, url, name, log_text, error,
                         ready=lambda status: status < 500, timeout=60):
    """Poll ``GET url`` until ``ready(status)``.

    Raise ``error`` naming ``name`` and ``log_text()`` when ``process`` (a
    Popen) exits first or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise error('%s exited: %s' % (name, log_text()))
        try:
            if ready(requests.get(url, timeout=2).status_code):
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise error('%s did not answer on %s: %s' % (name, url, log_text()))


class ServiceProcess:
    """A test or demo service whose ``start()`` runs ``process`` (a Popen).

    It writes to ``log`` (an open file), all in ``base_dir``.
    """

    process = None
    log = None

    def stop(self):
        """End the process, close its log and remove ``base_dir``."""
        if self.process is not None:
            end(self.process, 30)
            self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None
        shutil.rmtree(self.base_dir, ignore_errors=True)

    @contextlib.contextmanager
    def running(self):
        """``start()``; ``stop()`` when the block ends or the start fails."""
        try:
            self.start()
            yield self
        finally:
            self.stop()
