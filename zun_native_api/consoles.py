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

"""Consoles: attach and interactive exec over a WebSocket.

As in Zun, ``GET /v1/containers/<c>/attach`` and ``POST .../execute?
interactive=true`` answer with a URL (``ws://<host>/console?token=...``)
that points at the native API of the host running the container, so the
WebSocket is never forwarded. The handshake redeems the URL's single-use
token (:mod:`zun_native_api.console_tokens`); from then on the socket
carries the process's terminal both ways in binary frames, as
python-zunclient's websocket client expects (it offers the subprotocols
``binary`` and ``base64``; ``binary`` is chosen).

The WebSocket runs on the WSGI server's own connection (simple-websocket
on gunicorn's socket), in the worker thread that took the request: so a
host opens at most ``[native_api] max_consoles`` at once, and closes one
that stays quiet for ``console_idle_timeout`` seconds.
"""

import socket
import threading
import time
from urllib import parse as urlparse

import flask
from oslo_log import log as logging
import simple_websocket

from nova_zun.runtime import exception as runtime_exception
from nova_zun.runtime import labels
from zun_native_api import console_tokens
from zun_native_api import errors
from zun_native_api import validation

LOG = logging.getLogger(__name__)

blueprint = flask.Blueprint('consoles', __name__)

PATH = '/console'
STATE_KEY = 'NATIVE_API_CONSOLES'
SUBPROTOCOLS = ['binary']
#: Largest message taken from the client: keystrokes and pasted text.
_MAX_MESSAGE_BYTES = 64 * 1024
_RECEIVE_POLL_SECONDS = 1
_CLOSE_WAIT_SECONDS = 2


class Consoles:
    """What console handlers share: runtime, tokens, host's console slots."""

    def __init__(self, conf, runtime):
        self.runtime = runtime
        self.tokens = console_tokens.ConsoleTokens(
            conf.native_api.console_token_dir,
            conf.native_api.console_token_ttl)
        self.slots = console_tokens.ConsoleSlots(
            conf.native_api.console_token_dir, conf.native_api.max_consoles)
        self.idle_timeout = conf.native_api.console_idle_timeout


def _state():
    return flask.current_app.config[STATE_KEY]


def _base_url(conf):
    opts = conf.native_api
    if opts.console_url:
        return opts.console_url.rstrip('/')
    http_url = opts.hosts.get(opts.host) or flask.request.host_url
    parts = urlparse.urlsplit(http_url)
    scheme = 'wss' if parts.scheme == 'https' else 'ws'
    return urlparse.urlunsplit((scheme, parts.netloc,
                                parts.path.rstrip('/'), '', ''))


def console_url(conf, context, status, kind, exec_id=None):
    """A single-use URL for a console on ``status`` (the workload).

    ``kind`` is ``attach`` (its main process) or ``exec`` (``exec_id``,
    prepared with a TTY and stdin).
    """
    instance = status.labels.get(labels.INSTANCE, '')
    token = _state().tokens.issue({
        'kind': kind, 'container': status.id, 'instance': instance,
        'exec_id': exec_id, 'user_id': context.user_id,
        'project_id': context.project_id})
    LOG.info('Console (%s) of %s issued to user %s of project %s',
             kind, instance, context.user_id, context.project_id)
    return '%s%s?%s' % (_base_url(conf), PATH, urlparse.urlencode(
        {'token': token, 'uuid': instance}))


class _Answered(flask.Response):
    """The response of a request whose connection became a WebSocket.

    Nothing more may be written to it. gunicorn's worker closes the connection
    on StopIteration (as Flask-Sock does it).
    """

    def __init__(self, mode):
        super().__init__()
        self.mode = mode

    def __call__(self, environ, start_response):
        if self.mode == 'gunicorn':
            raise StopIteration()
        return []


@blueprint.route(PATH, methods=['GET'], websocket=True)
def console():
    args = validation.query('console')
    claims = _state().tokens.redeem(args['token'])
    if claims is None or args.get('uuid', claims['instance']) != \
            claims['instance']:
        raise errors.ApiError(401, 'This console URL is unknown, used or '
                                   'expired: ask for a new one (attach, '
                                   'exec -i).')
    consoles = _state()
    slot = consoles.slots.take()
    if slot is None:
        raise errors.ApiError(429, 'This host has %d consoles open '
                                   '([native_api] max_consoles): close one '
                                   'or try again later.'
                              % consoles.slots.count)
    try:
        return _open(consoles, claims)
    finally:
        consoles.slots.give_back(slot)


def _open(consoles, claims):
    """Start the process's stream, answer the handshake and relay.

    The relay goes on until the console ends.
    """
    runtime = consoles.runtime
    try:
        if claims['kind'] == 'exec':
            session = runtime.start_exec(claims['exec_id'])
        else:
            session = runtime.attach(claims['container'], stdin=True)
    except runtime_exception.NotFound:
        raise errors.not_found(claims['instance'])
    except runtime_exception.ContainerRuntimeError as exc:
        raise errors.from_runtime(exc)
    try:
        ws = simple_websocket.Server(flask.request.environ,
                                     subprotocols=SUBPROTOCOLS,
                                     max_message_size=_MAX_MESSAGE_BYTES)
    except Exception:
        session.close()
        raise
    LOG.info('Console (%s) of %s opened by user %s', claims['kind'],
             claims['instance'], claims['user_id'])
    idle = _relay(runtime, session, ws, consoles.idle_timeout)
    LOG.info('Console (%s) of %s closed%s', claims['kind'],
             claims['instance'],
             ' after %d s idle' % consoles.idle_timeout if idle else '')
    return _Answered(ws.mode)


def _relay(runtime, session, ws, idle_timeout):
    """Copy between the process and the WebSocket until either side ends.

    The process's output goes to the WebSocket (from a thread of its own), the
    WebSocket's messages to its stdin. It also ends, and returns True, when
    nothing passes for ``idle_timeout`` seconds.
    """
    last_traffic = [time.monotonic()]

    def copy_output():
        try:
            for chunk in runtime.stream_output(session):
                last_traffic[0] = time.monotonic()
                ws.send(chunk)
        except (simple_websocket.ConnectionClosed, OSError):
            pass
        finally:
            try:
                ws.close()
            except simple_websocket.ConnectionClosed:
                pass

    output = threading.Thread(target=copy_output, name='console-output',
                              daemon=True)
    output.start()
    idle = False
    try:
        while ws.connected:
            data = ws.receive(timeout=_RECEIVE_POLL_SECONDS)
            if data:
                last_traffic[0] = time.monotonic()
                session.sock.sendall(data.encode('utf-8')
                                     if isinstance(data, str) else data)
            elif time.monotonic() - last_traffic[0] > idle_timeout:
                idle = True
                ws.close(message='idle for %d s' % idle_timeout)
    except (simple_websocket.ConnectionClosed, OSError):
        pass
    finally:
        # The process's stdin ends (an exec shell exits, an attached
        # workload goes on); the output copy sees the end of its stream.
        session.close()
        output.join(_CLOSE_WAIT_SECONDS)
        # Wake simple-websocket's reader if the client never answered
        # the close.
        ws.thread.join(_CLOSE_WAIT_SECONDS)
        if ws.thread.is_alive():
            try:
                ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    return idle
