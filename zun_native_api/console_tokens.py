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

"""Single-use tokens of console URLs (attach, interactive exec).

``GET /attach`` and ``POST /execute?interactive=true`` hand the caller a
WebSocket URL with a token in it, as Zun does; the WebSocket handshake
redeems it, once, within ``[native_api] console_token_ttl`` seconds. The
token stands for what it was issued for (the container, the exec, the
caller), recorded here, since the handshake carries no Keystone token.

The worker processes of one host share the tokens through files in
``[native_api] console_token_dir``: one file per token, named by the
token's hash; redeeming renames it away first (rename is atomic, so only
one redeemer wins). They count the open consoles there too
(:class:`ConsoleSlots`).
"""

import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import threading
import time

#: What :func:`secrets.token_urlsafe` gives for 32 bytes.
TOKEN_PATTERN = r'^[A-Za-z0-9_-]{43}$'
_NEW_PREFIX = '.new-'
_SLOT_PREFIX = 'console-slot-'


class ConsoleTokens:

    def __init__(self, directory, ttl):
        self.directory = directory
        self.ttl = ttl

    def _path(self, token):
        return os.path.join(self.directory,
                            hashlib.sha256(token.encode()).hexdigest())

    def issue(self, claims):
        """Record ``claims`` under a new token; return the token.

        ``claims`` is a JSON-able dict.
        """
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._sweep()
        token = secrets.token_urlsafe(32)
        record = dict(claims, expires=time.time() + self.ttl)
        fd, new = tempfile.mkstemp(dir=self.directory, prefix=_NEW_PREFIX)
        with os.fdopen(fd, 'w') as f:
            json.dump(record, f)
        os.rename(new, self._path(token))
        return token

    def redeem(self, token):
        """The claims of ``token``, or None if it is unknown, used or expired.

        A token is redeemed once.
        """
        path = self._path(token)
        claimed = '%s.%d-%d' % (path, os.getpid(), threading.get_ident())
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        try:
            with open(claimed) as f:
                record = json.load(f)
        finally:
            os.unlink(claimed)
        if record.pop('expires') < time.time():
            return None
        return record

    def _sweep(self):
        """Remove the tokens nobody redeemed in time."""
        stale = time.time() - self.ttl - 1
        for name in os.listdir(self.directory):
            if name.startswith(_SLOT_PREFIX):
                continue
            path = os.path.join(self.directory, name)
            try:
                if os.stat(path).st_mtime < stale:
                    os.unlink(path)
            except FileNotFoundError:
                pass


class ConsoleSlots:
    """At most ``count`` consoles open at once on the host.

    The limit holds whichever worker process opens them: one lock file per slot
    in ``directory``, held (flock) by the console that took it. A process that
    dies lets go of its slots with its file descriptors.
    """

    def __init__(self, directory, count):
        self.directory = directory
        self.count = count

    def take(self):
        """A free slot, now held, or None when all are taken.

        The slot is a file descriptor for :meth:`give_back`.
        """
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        for index in range(self.count):
            fd = os.open(os.path.join(self.directory,
                                      '%s%d' % (_SLOT_PREFIX, index)),
                         os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                # flock, not lockf: two threads of one process hold two
                # open files, and so exclude each other too.
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                os.close(fd)
        return None

    @staticmethod
    def give_back(slot):
        os.close(slot)
