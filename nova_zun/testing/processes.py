"""Helpers shared by the tools that run services for tests and demos."""

import subprocess


def end(process, timeout):
    """Ask ``process`` (a Popen) to stop, kill it after ``timeout`` seconds,
    and reap it."""
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


def write_wsgi_module(directory, name, import_line):
    """Write ``<directory>/<name>.py``: an ``application`` for gunicorn.

    OpenStack's WSGI entry points (Keystone's, Nova's) parse ``sys.argv``
    as their own command line, which under gunicorn holds gunicorn's
    options: the module trims it before ``import_line`` (which must bind
    ``application``) runs."""
    with open('%s/%s.py' % (directory, name), 'w') as f:
        f.write('import sys\nsys.argv = sys.argv[:1]\n%s\n' % import_line)
