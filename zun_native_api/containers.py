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

"""``/v1/containers``: CRUD and power through Nova, everything only
containers can do through the runtime of the host that runs them.

A runtime operation finds the container by its labels on this host; a
container of another host is forwarded to that host's native API with the
caller's token (its host comes from the engine's host label, else from
Nova). Policy decides on the container's project label; a refusal is the
same 404 as a missing container, a 403 to a caller who may see it.
"""

import base64
import binascii
import contextlib
import functools
import ipaddress
import json
import shlex
import threading
import time
from urllib import parse as urlparse

import flask
import microversion_parse
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import uuidutils
import requests

from nova_zun import glance_layers
from nova_zun.runtime import exception as runtime_exception
from nova_zun.runtime import image_archive
from nova_zun.runtime import labels
from nova_zun.runtime import references
from nova_zun.runtime import types
from zun_native_api import auth
from zun_native_api import consoles
from zun_native_api import errors
from zun_native_api import glance
from zun_native_api import microversion
from zun_native_api import nova as nova_api
from zun_native_api import policy
from zun_native_api import validation
from zun_native_api import views

LOG = logging.getLogger(__name__)

blueprint = flask.Blueprint('containers', __name__)

# Server metadata the driver reads (nova_zun/container_spec.py).
META_STOP_TIMEOUT = 'zun_stop_timeout'
#: Seconds Zun's stop gives a container after SIGTERM unless told.
ZUN_STOP_TIMEOUT = '10'

#: Set on forwarded requests: the peer answers from its own engine and
#: never forwards again.
FORWARDED_HEADER = 'X-Nova-Zun-Forwarded-By'
STATE_KEY = 'NATIVE_API_STATE'

_ARCHIVE_BASE64 = microversion_parse.Version(1, 25)
_LAST_RENAME = microversion_parse.Version(1, 13)
_HEALTHCHECK = microversion_parse.Version(1, 22)
_EXPOSED_PORTS = microversion_parse.Version(1, 24)
# Zun's mounts with a type (bind: injected files).
_MOUNT_TYPES = microversion_parse.Version(1, 23)
#: Server metadata: where the driver finds the files to inject.
META_FILES = 'zun_files'
#: Nova's limit of user data (base64).
_USER_DATA_BYTES = 65535
# Zun's first microversions of network_detach, network_attach and
# network_list.
_NETWORK_DETACH = microversion_parse.Version(1, 6)
_NETWORK_ATTACH = microversion_parse.Version(1, 8)
_NETWORK_LIST = microversion_parse.Version(1, 13)
_DETACH_PORT = microversion_parse.Version(1, 17)
_NETWORK_LIST_FIXED_IPS = microversion_parse.Version(1, 18)
# How long a deleted container's security group waits for its server to
# go (its ports with it), and how often it looks.
_GROUP_WAIT_SECONDS = 300
_GROUP_POLL_SECONDS = 1
# What a streamed answer sends at a time; a multiple of 3, so that its
# base64 has no padding inside the stream.
_STREAM_CHUNK_BYTES = 48 * 1024
# Bytes a log line takes at the least, on average, for the newest lines
# asked of the engine to fill max_output_bytes (as the driver's console
# log assumes).
_LOG_LINE_BYTES = 16


class State:
    """What the handlers share.

    Configuration, runtime, policy, and the worker process's slots for archives
    held in memory.
    """

    def __init__(self, conf, runtime, enforcer):
        self.conf = conf
        self.runtime = runtime
        self.enforcer = enforcer
        self.archive_slots = threading.BoundedSemaphore(
            conf.native_api.archive_concurrency)


def _state():
    return flask.current_app.config[STATE_KEY]


def _context():
    return auth.request_context(flask.request.environ)


def _nova(context):
    state = _state()
    try:
        return nova_api.Nova(state.conf, context, flask.request.headers.get(
            'X-Service-Catalog'))
    except nova_api.NovaError as exc:
        raise errors.ApiError(exc.status, exc.message)


def authorized_nova(rule):
    """Nova as the caller, if the policy lets them do ``rule``; else 403.

    For what concerns no one container.
    """
    context = _context()
    if not policy.authorize(_state().enforcer, rule, context):
        raise errors.ApiError(403, 'Policy does not allow %s.' % rule)
    return _nova(context)


def nova_call(func, *args, **kwargs):
    """``func(*args, **kwargs)``, a failure of Nova as Zun's error."""
    try:
        return func(*args, **kwargs)
    except nova_api.NovaError as exc:
        raise errors.ApiError(exc.status, exc.message)


def _authorize(rule, context, project_id, ident):
    """Nothing if ``context`` may do ``rule`` on a container of ``project_id``.

    Else 403 to a caller who may see the container, to others the 404 of a
    missing one.
    """
    enforcer = _state().enforcer
    if policy.authorize(enforcer, rule, context, project_id):
        return
    if policy.authorize(enforcer, 'container:get_one', context, project_id):
        raise errors.ApiError(403, 'Policy does not allow %s.' % rule)
    raise errors.not_found(ident)


def _api_version():
    return flask.g.get('api_version') or microversion.MIN_VERSION


# -- locating a container ---------------------------------------------------

def _workloads(**selector):
    label_filter = {labels.ROLE: labels.ROLE_WORKLOAD}
    label_filter.update(selector)
    return _state().runtime.list_containers(label_filter)


def _locate(context, ident):
    """Find where a workload runs; raises 404.

    ``(status, None)`` for a workload on this host, ``(None, url)`` for one on
    another.
    """
    state = _state()
    me = state.conf.native_api.host
    server = None
    uuid = ident
    if not nova_api.is_uuid(ident):
        server = _server(context, ident)
        uuid = server['id']
    local = _workloads(**{labels.INSTANCE: uuid, labels.HOST: me})
    if local:
        return local[0], None
    if flask.request.headers.get(FORWARDED_HEADER):
        raise errors.not_found(ident)
    hosts = state.conf.native_api.hosts
    host = None
    if state.conf.native_api.engine_shared:
        # An engine serving several host names knows where it runs.
        host = next((c.labels.get(labels.HOST)
                     for c in _workloads(**{labels.INSTANCE: uuid})
                     if c.labels.get(labels.HOST) in hosts), None)
    if host is None and (server is not None or _nova_configured()):
        try:
            server = server or _server(context, uuid)
            host = _nova(context).host_of(server, hosts)
        except errors.ApiError as exc:
            if exc.status != 404:
                raise
    if host is None or host == me or host not in hosts:
        raise errors.not_found(ident)
    return None, hosts[host]


def _nova_configured():
    return bool(nova_api.compute_endpoint(
        _state().conf, flask.request.headers.get('X-Service-Catalog')))


def _server(context, ident, all_projects=False):
    try:
        return _nova(context).get(ident, all_projects=all_projects)
    except nova_api.NotFound:
        raise errors.not_found(ident)
    except nova_api.NovaError as exc:
        raise errors.ApiError(exc.status, exc.message)


def _forward(url):
    request = flask.request
    headers = {name: request.headers[name]
               for name in ('X-Auth-Token', microversion.HEADER,
                            'Content-Type')
               if name in request.headers}
    headers[FORWARDED_HEADER] = _state().conf.native_api.host
    target = url.rstrip('/') + request.full_path.rstrip('?')
    LOG.debug('Forwarding %s %s to %s', request.method, request.path, url)
    try:
        response = requests.request(
            request.method, target, headers=headers,
            data=request.get_data(cache=True), stream=True,
            timeout=_state().conf.native_api.forward_timeout)
    except requests.RequestException as exc:
        LOG.warning('Forwarding to %s failed: %s', url, exc)
        raise errors.ApiError(502, 'The host running this container did '
                                   'not answer.')
    # Passed on as it comes: an archive is not held here a second time.
    forwarded = flask.Response(
        response.iter_content(_STREAM_CHUNK_BYTES),
        status=response.status_code,
        content_type=response.headers.get('Content-Type'))
    forwarded.call_on_close(response.close)
    return forwarded


def runtime_operation(name, with_body=False):
    """Validate, locate (forward if remote), authorize, then run the handler.

    The handler gets the workload's status and the query parameters.
    """

    def decorator(func):
        @functools.wraps(func)
        def wrapper(container_ident):
            args = validation.query(name)
            if not with_body:
                validation.no_body()
            context = _context()
            status, remote = _locate(context, container_ident)
            if remote:
                return _forward(remote)
            _authorize('container:' + name, context,
                       status.labels.get(labels.PROJECT, ''),
                       container_ident)
            try:
                return func(status, args)
            except runtime_exception.ContainerRuntimeError as exc:
                if isinstance(exc, runtime_exception.NotFound):
                    raise errors.not_found(container_ident)
                raise errors.from_runtime(exc)
        return wrapper
    return decorator


def _accepted():
    return flask.Response(status=202)


# -- runtime operations -----------------------------------------------------

@blueprint.route('/v1/containers/<container_ident>/logs', methods=['GET'])
@runtime_operation('logs')
def logs(status, args):
    """The newest max_output_bytes of the output.

    The engine reads no more lines than can fill them, and they are read as a
    stream, keeping at most twice the cap.
    """
    limit = _state().conf.native_api.max_output_bytes
    tail = max(100, limit // _LOG_LINE_BYTES)
    if args.get('tail') not in (None, 'all'):
        tail = min(int(args['tail']), tail)
    since = args.get('since')
    chunks = _state().runtime.logs(
        status.id,
        stdout=validation.boolean(args.get('stdout'), True),
        stderr=validation.boolean(args.get('stderr'), True),
        timestamps=validation.boolean(args.get('timestamps')), tail=tail,
        since=int(float(since)) if since else None, stream=True)
    newest = bytearray()
    for chunk in chunks:
        newest += chunk
        if len(newest) > 2 * limit:
            del newest[:-limit]
    return flask.jsonify(bytes(newest[-limit:]).decode('utf-8', 'replace'))


@blueprint.route('/v1/containers/<container_ident>/execute',
                 methods=['POST'])
@runtime_operation('execute', with_body=True)
def execute(status, args):
    args = _execute_args(args)
    try:
        command = shlex.split(args['command'])
    except ValueError as exc:
        raise errors.ApiError(400, 'Invalid command %r: %s'
                              % (args['command'], exc))
    if not command:
        raise errors.ApiError(400, 'Empty command')
    if validation.boolean(args.get('interactive')):
        return _interactive_exec(status, command)
    conf = _state().conf.native_api
    try:
        result = _state().runtime.exec(status.id, command,
                                       timeout=conf.exec_timeout,
                                       max_output=conf.max_output_bytes)
    except runtime_exception.OperationTimeout:
        raise errors.ApiError(504, 'The command did not finish within %ss '
                                   '(it goes on running).'
                              % conf.exec_timeout)
    except runtime_exception.Conflict as exc:
        raise errors.ApiError(409, 'Container is not running: %s'
                              % exc.message)
    return flask.jsonify({'output': result.output.decode('utf-8',
                                                         'replace'),
                          'exit_code': result.exit_code,
                          'exec_id': result.exec_id,
                          'proxy_url': None,
                          'truncated': result.truncated})


def _execute_args(query):
    """command, run and interactive: the query's, or the JSON body's."""
    if flask.request.get_data(cache=True).strip():
        body = validation.body('execute')
        if query:
            raise validation.ValidationError(
                'Give command, run and interactive in the query or in the '
                'body, not both')
        query = {key: str(value).lower() if isinstance(value, bool)
                 else value for key, value in body.items()}
    if 'command' not in query:
        raise validation.ValidationError("'command' is a required property")
    return query


def _interactive_exec(status, command):
    """Prepare ``command`` with a TTY and stdin.

    Answer, as Zun does, with its exec id and the console URL that starts it.
    """
    context = _context()
    _authorize('container:execute_interactive', context,
               status.labels.get(labels.PROJECT, ''),
               flask.request.view_args['container_ident'])
    exec_id = _state().runtime.create_exec(status.id, command, tty=True,
                                           stdin=True)
    url = consoles.console_url(_state().conf, context, status, 'exec',
                               exec_id=exec_id)
    return flask.jsonify({'output': None, 'exit_code': None,
                          'exec_id': exec_id, 'proxy_url': url,
                          'truncated': False})


def _terminal_size(args):
    return {'height': int(args['h']), 'width': int(args['w'])}


@blueprint.route('/v1/containers/<container_ident>/execute_resize',
                 methods=['POST'])
@runtime_operation('execute_resize')
def execute_resize(status, args):
    runtime = _state().runtime
    try:
        ours = runtime.exec_container(args['exec_id']) == status.id
    except runtime_exception.NotFound:
        ours = False
    if not ours:
        raise errors.ApiError(404, 'Exec %s of container %s could not be '
                                   'found.' % (args['exec_id'], flask.request
                                               .view_args['container_ident']))
    # The engine waits 10 s for an exec to start, then fails: an exec
    # runs only once its console is open, and stops with its command.
    running, exit_code = runtime.exec_status(args['exec_id'])
    if not running:
        raise errors.ApiError(409, 'Exec %s %s.' % (
            args['exec_id'], 'has ended' if exit_code is not None else
            'has not started: its console is not open yet'))
    runtime.exec_resize(args['exec_id'], **_terminal_size(args))
    return flask.Response(status=200)


def _running_with(status, capability, lacking, what):
    """The workload's full status, if it runs and has ``capability``.

    409 unless it runs, 400 (the container ``lacking`` it) unless its
    ``capability`` field is true.
    """
    status = _state().runtime.status(status.id)
    if status.state != types.ContainerState.RUNNING:
        raise errors.ApiError(409, 'Container is %s: %s.'
                              % (status.state.value, what))
    if not getattr(status, capability):
        raise errors.ApiError(400, 'Container %s %s: %s.' % (
            flask.request.view_args['container_ident'], lacking, what))
    return status


@blueprint.route('/v1/containers/<container_ident>/attach',
                 methods=['GET'])
@runtime_operation('attach')
def attach(status, args):
    status = _running_with(status, 'stdin_open',
                           'was not created interactive (its stdin is '
                           'closed)', 'nothing to attach to')
    return flask.jsonify(consoles.console_url(_state().conf, _context(),
                                              status, 'attach'))


@blueprint.route('/v1/containers/<container_ident>/resize',
                 methods=['POST'])
@runtime_operation('resize')
def resize(status, args):
    status = _running_with(status, 'tty', 'has no TTY',
                           'no terminal to resize')
    _state().runtime.resize(status.id, **_terminal_size(args))
    return flask.Response(status=200)


@blueprint.route('/v1/containers/<container_ident>/top', methods=['GET'])
@runtime_operation('top')
def top(status, args):
    ps_args = args.get('ps_args') or None
    try:
        processes = _state().runtime.top(status.id, ps_args=ps_args)
    except runtime_exception.ContainerRuntimeError as exc:
        # The engine runs ps with the caller's arguments; ps refusing them
        # is the engine's failure of the plain kind.
        if ps_args and type(exc) is runtime_exception.ContainerRuntimeError:
            raise errors.ApiError(400, 'ps does not take %r: %s'
                                  % (ps_args, exc.message))
        raise
    return flask.jsonify(views.top(processes))


@blueprint.route('/v1/containers/<container_ident>/stats', methods=['GET'])
@runtime_operation('stats')
def stats(status, args):
    return flask.jsonify(views.stats(status.labels.get(labels.INSTANCE),
                                     _state().runtime.stats(status.id)))


@blueprint.route('/v1/containers/<container_ident>/get_archive',
                 methods=['GET'])
@runtime_operation('get_archive')
def get_archive(status, args):
    """Answer Zun's ``{"data", "stat"}`` of the archive at the query's path.

    The archive is read whole first (413 past max_archive_bytes) and held in
    one of the worker's archive slots until its caller has read the answer; the
    JSON is made as it is sent.
    """
    state = _state()
    slots = state.archive_slots
    if not slots.acquire(blocking=False):
        raise errors.ApiError(429, 'This worker process is sending %d '
                                   'archives already ([native_api] '
                                   'archive_concurrency): try again.'
                              % state.conf.native_api.archive_concurrency)
    try:
        chunks, stat = state.runtime.get_archive(status.id, args['path'])
        data = _archive(chunks, args['path'],
                        state.conf.native_api.max_archive_bytes)
        response = flask.Response(
            _archive_json(data, stat, _api_version() >= _ARCHIVE_BASE64),
            mimetype='application/json')
    except BaseException:
        slots.release()
        raise
    response.call_on_close(slots.release)
    return response


def _archive(chunks, path, limit):
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit:
            close = getattr(chunks, 'close', None)
            if close:
                close()
            raise errors.ApiError(413, 'The archive of %s is larger than %d '
                                       'bytes.' % (path, limit))
    return data


def _archive_json(data, stat, as_base64):
    """Zun's get_archive body, piece by piece.

    ``data`` in base64 (API 1.25 and later) or as a string of its bytes
    (latin-1), then ``stat``.
    """
    yield b'{"data": "'
    view = memoryview(data)
    for start in range(0, len(view), _STREAM_CHUNK_BYTES):
        piece = view[start:start + _STREAM_CHUNK_BYTES]
        if as_base64:
            yield base64.b64encode(piece)
        else:
            yield json.dumps(bytes(piece).decode('latin-1'))[1:-1].encode()
    yield b'", "stat": %s}' % json.dumps(stat).encode()


@blueprint.route('/v1/containers/<container_ident>/put_archive',
                 methods=['POST'])
@runtime_operation('put_archive', with_body=True)
def put_archive(status, args):
    body = validation.body('put_archive')
    if _api_version() >= _ARCHIVE_BASE64:
        try:
            data = base64.b64decode(body['data'], validate=True)
        except (binascii.Error, ValueError):
            raise errors.ApiError(400, 'data must be base64 (API 1.25 and '
                                       'later).')
    else:
        data = body['data'].encode('latin-1', 'replace')
    _state().runtime.put_archive(status.id, args['path'], data)
    return flask.Response(status=200)


@blueprint.route('/v1/containers/<container_ident>/commit',
                 methods=['POST'])
@runtime_operation('commit')
def commit(status, args):
    """Commit the workload's filesystem and upload it to Glance as the caller.

    The filesystem is frozen for the commit. A container of a layered image
    gives a layered image: Glance gets only the layers it does not hold for
    the caller, then the manifest; of any other image, the ``docker save``
    archive. Answer Zun's ``{"uuid": <Glance image id>}``. The engine keeps
    no copy.
    """
    try:
        image_service = glance.Glance(
            _state().conf, _context(),
            flask.request.headers.get('X-Service-Catalog'))
    except glance.GlanceError as exc:
        raise errors.ApiError(exc.status, exc.message)
    runtime = _state().runtime
    instance = status.labels.get(labels.INSTANCE, '')
    base_id = glance_layers.image_id_of(status.image)
    layered, base = image_service.layered_base(base_id) if base_id else (
        False, None)
    # Unnamed, saved and removed by id: no name in the engine at any time.
    committed, _ = image_archive.commit_frozen(
        runtime, status.id,
        'nova-zun commit of container %s as %s' % (instance,
                                                   args['repository']))
    try:
        if layered:
            image_id, uploader = image_service.upload_layered(
                args['repository'], runtime, committed, base,
                tag=args.get('tag'))
            sent = uploader.bytes
        else:
            reader = image_archive.ChunkReader(runtime.save_image(committed))
            image_id = image_service.upload(args['repository'], reader,
                                            tag=args.get('tag'))
            sent = reader.count
    except glance.GlanceError as exc:
        raise errors.ApiError(exc.status, exc.message)
    finally:
        try:
            runtime.remove_image(committed, force=True)
        except runtime_exception.ContainerRuntimeError:
            LOG.exception('Could not remove the committed image %s',
                          committed)
    LOG.info('Committed container %s to Glance image %s (%d bytes%s)',
             instance, image_id, sent, ' of new layers' if layered else '')
    return flask.jsonify({'uuid': image_id}), 202


@blueprint.route('/v1/containers/<container_ident>/kill', methods=['POST'])
@runtime_operation('kill')
def kill(status, args):
    _state().runtime.kill(status.id, signal=args.get('signal') or None)
    return _accepted()


@blueprint.route('/v1/containers/<container_ident>/pause', methods=['POST'])
@runtime_operation('pause')
def pause(status, args):
    _state().runtime.pause(status.id)
    return _accepted()


@blueprint.route('/v1/containers/<container_ident>/unpause',
                 methods=['POST'])
@runtime_operation('unpause')
def unpause(status, args):
    _state().runtime.unpause(status.id)
    return _accepted()


# -- through Nova -----------------------------------------------------------

@blueprint.route('/v1/containers', methods=['GET'], strict_slashes=False)
def get_all():
    args = validation.query('get_all')
    all_projects = validation.boolean(args.get('all_projects'))
    nova = authorized_nova('container:get_all_all_projects' if all_projects
                           else 'container:get_all')
    limit = _state().conf.native_api.max_limit
    if args.get('limit'):
        limit = min(int(args['limit']), limit)
    servers = nova.list(all_projects=all_projects, name=args.get('name'),
                        marker=args.get('marker'))
    containers, more = nova_call(_first_containers, servers, limit,
                                 args.get('status'))
    ports = nova.ports_of(c['uuid'] for c in containers) or {}
    for container in containers:
        views.with_ports(container, ports.get(container['uuid']))
    following = None
    if more:
        following = '%sv1/containers?%s' % (
            flask.request.host_url, urlparse.urlencode(
                dict(args, limit=limit, marker=containers[-1]['uuid'])))
    return flask.jsonify({'containers': containers, 'next': following})


def _first_containers(servers, limit, status=None):
    """Views of the first ``limit`` of ``servers``, and whether more follow.

    ``servers`` are read from Nova as needed; only those in Zun status
    ``status`` count if it is given.
    """
    containers = []
    for server in servers:
        container = views.container(server)
        if status and container['status'].lower() != status.lower():
            continue
        if len(containers) == limit:
            return containers, True
        containers.append(container)
    return containers, False


def _server_for(rule, ident, args):
    context = _context()
    server = _server(context, ident,
                     all_projects=validation.boolean(
                         args.get('all_projects')))
    _authorize(rule, context, server.get('tenant_id'), ident)
    return context, server


@blueprint.route('/v1/containers/<container_ident>', methods=['GET'])
def get_one(container_ident):
    args = validation.query('get_one')
    context, server = _server_for('container:get_one', container_ident,
                                  args)
    ports = _nova(context).ports_of([server['id']]) or {}
    return flask.jsonify(views.with_ports(views.container(server),
                                          ports.get(server['id'])))


@blueprint.route('/v1/containers/<container_ident>', methods=['DELETE'])
def delete(container_ident):
    args = validation.query('delete')
    context, server = _server_for('container:delete', container_ident, args)
    nova = _nova(context)
    nova_call(nova.delete, server['id'],
              force=validation.boolean(args.get('force')))
    if views.exposed_ports(server.get('metadata') or {}):
        _remove_group_when_gone(nova, server['id'])
    return flask.Response(status=204)


def _group_name(server_id):
    # Zun's name for a container's group of exposed ports.
    return 'zun-' + server_id


def _remove_group_when_gone(nova, server_id):
    """Delete the container's group of exposed ports once its server is gone.

    Nova deletes the server's ports before the server: the group is free
    then. In a thread of its own, with the caller's token; a group left
    (the wait ran out) is removed by the caller's next create or delete of
    a container with exposed ports.
    """
    def remove():
        deadline = time.monotonic() + _GROUP_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                nova.get(server_id)
            except nova_api.NotFound:
                if _delete_groups(nova, _group_name(server_id)):
                    return
            except nova_api.NovaError as exc:
                LOG.warning('Security group of container %s: %s',
                            server_id, exc.message)
                return
            time.sleep(_GROUP_POLL_SECONDS)
        LOG.warning('Security group %s left: container %s not gone after '
                    '%ss', _group_name(server_id), server_id,
                    _GROUP_WAIT_SECONDS)
    threading.Thread(target=remove, daemon=True,
                     name='group-of-%s' % server_id).start()


def _delete_groups(nova, name=None):
    """Delete the caller's exposed ports groups of gone containers.

    Those named ``name`` only, if given. True if none is left.
    """
    left = False
    try:
        for group in nova.exposed_ports_groups(name):
            server_id = group['name'][len('zun-'):]
            if not group['name'].startswith('zun-') or \
                    not nova_api.is_uuid(server_id):
                continue
            try:
                nova.get(server_id)
                continue
            except nova_api.NotFound:
                pass
            left = not nova.delete_security_group(group['id']) or left
    except nova_api.NovaError as exc:
        LOG.warning('Exposed ports groups of project %s: %s',
                    nova.context.project_id, exc.message)
        return False
    return not left


@blueprint.route('/v1/containers/<container_ident>', methods=['PATCH'])
def update(container_ident):
    """Rename (Nova) and change CPU and memory limits live.

    The limits change in the runtime of the owning host; Nova's flavor stays as
    it is.
    """
    validation.query('update')
    body = validation.body('update')
    context, server = _server_for('container:update', container_ident, {})
    limits = _limits_metadata(body)
    if limits:
        resources = types.Resources(
            vcpus=float(body['cpu']) if 'cpu' in body else None,
            memory_mb=_megabytes(body.get('memory')))
        _check_within_flavor(context, server, resources)
        status, remote = _locate(context, server['id'])
        if remote:
            return _forward(remote)
        try:
            _state().runtime.update_resources(status.id, resources)
        except runtime_exception.ContainerRuntimeError as exc:
            raise errors.from_runtime(exc)
        # What the container shows, and the limits it gets again when
        # the driver makes its workload anew.
        nova_call(_nova(context).set_metadata, server['id'], limits)
    if 'auto_heal' in body:
        nova_call(_nova(context).set_metadata, server['id'], {
            views.META_AUTO_HEAL: 'true' if body['auto_heal'] else None})
    if 'name' in body:
        nova_call(_nova(context).rename, server['id'], body['name'])
    return flask.jsonify(views.container(_server(context, server['id'])))


def _limits_metadata(body):
    """The server metadata of the cpu and memory ``body`` asks for."""
    limits = {}
    if body.get('memory') is not None:
        limits[views.META_MEMORY] = str(_megabytes(body['memory']))
    if body.get('cpu') is not None:
        limits[views.META_CPU] = str(float(body['cpu']))
    return limits


def _check_within_flavor(context, server, resources):
    """409 unless ``resources`` stay within the server's flavor.

    The flavor is what Placement allocated; the 409 names the Nova resize that
    would allow them.
    """
    flavor = server.get('flavor') or {}
    vcpus, ram = flavor.get('vcpus', 0), flavor.get('ram', 0)
    cpu, memory = resources.vcpus or 0, resources.memory_mb or 0
    if cpu <= vcpus and memory <= ram:
        return
    detail = '%s vCPU and %s MiB exceed the flavor of container %s (%s ' \
             'vCPU, %s MiB): ' % (
                 cpu or vcpus, memory or ram, server['id'], vcpus, ram)
    try:
        bigger = _nova(context).flavor_for(
            max(cpu, vcpus), max(memory, ram), flavor.get('disk'),
            (flavor.get('extra_specs') or {}).get('zun:runtime'))
        detail += ('resize it with Nova first: openstack server resize '
                   '--flavor %s %s' % (bigger['name'], server['id']))
    except nova_api.NovaError as exc:
        detail += 'a Nova resize to a bigger container flavor would ' \
                  'allow them (%s).' % exc.message
    raise errors.ApiError(409, detail)


@blueprint.route('/v1/containers/<container_ident>/rename',
                 methods=['POST'])
def rename(container_ident):
    """Zun's rename of microversions 1.1 to 1.13: the Nova server's name.

    Later microversions PATCH the name.
    """
    if _api_version() > _LAST_RENAME:
        raise errors.ApiError(406, 'rename is offered up to microversion '
                                   '%s; later ones rename with PATCH.'
                              % (_LAST_RENAME,))
    args = validation.query('rename')
    validation.no_body()
    context, server = _server_for('container:rename', container_ident, {})
    nova_call(_nova(context).rename, server['id'], args['name'])
    return flask.jsonify(views.container(_server(context, server['id'])))


def _power(rule, action, body=None, metadata=None):
    """A handler of Nova's ``action``.

    ``action`` may be a function of the server giving the action and its
    body. ``metadata(args)``, if given, is the server metadata set first
    (what the driver reads when it acts).
    """
    def handler(container_ident):
        args = validation.query(rule)
        validation.no_body()
        context, server = _server_for('container:' + rule, container_ident,
                                      args)
        nova = _nova(context)
        before = server.get('metadata') or {}
        changed = {key: value for key, value in
                   (metadata(args) if metadata else {}).items()
                   if before.get(key) != value}
        if changed:
            nova_call(nova.set_metadata, server['id'], changed)
        name, action_body = (action(server) if callable(action)
                             else (action, body))
        try:
            nova_call(nova.action, server['id'], name, action_body)
        except errors.ApiError:
            # A refused action changes nothing.
            if changed:
                nova_call(nova.set_metadata, server['id'],
                          {key: before.get(key) for key in changed})
            raise
        return _accepted()
    handler.__name__ = rule
    return handler


def _stop_timeout(args):
    # The driver gives the workload this long after SIGTERM, within
    # Nova's own shutdown timeout.
    return {META_STOP_TIMEOUT: args.get('timeout') or ZUN_STOP_TIMEOUT}


def _start_action(server):
    # A Created container's server is ACTIVE (Nova refuses os-start): its
    # hard reboot makes the pod whole and starts the workload.
    if views.created(server):
        return 'reboot', {'type': 'HARD'}
    return 'os-start', None


blueprint.add_url_rule('/v1/containers/<container_ident>/start',
                       view_func=_power('start', _start_action),
                       methods=['POST'])
blueprint.add_url_rule('/v1/containers/<container_ident>/stop',
                       view_func=_power('stop', 'os-stop',
                                        metadata=_stop_timeout),
                       methods=['POST'])
blueprint.add_url_rule('/v1/containers/<container_ident>/reboot',
                       view_func=_power('reboot', 'reboot',
                                        {'type': 'SOFT'}),
                       methods=['POST'])


@blueprint.route('/v1/containers/<container_ident>/rebuild',
                 methods=['POST'])
def rebuild(container_ident):
    """Nova's rebuild: a new workload from ``image`` in the same pod.

    Without ``image``, the container's own. Nova keeps the server's power
    state (a stopped container stays stopped) and its metadata.
    """
    args = validation.query('rebuild')
    validation.no_body()
    context, server = _server_for('container:rebuild', container_ident, {})
    nova = _nova(context)
    if args.get('image'):
        with _image(nova, args['image'], args.get('image_driver')) as image:
            nova_call(nova.action, server['id'], 'rebuild',
                      {'imageRef': image})
    else:
        nova_call(nova.action, server['id'], 'rebuild',
                  {'imageRef': (server.get('image') or {}).get('id')})
    return _accepted()


def _since(version, what):
    """406 below ``version``, as Zun answers an operation not offered yet."""
    if _api_version() < version:
        raise errors.ApiError(406, '%s is offered from microversion %s'
                              % (what, version))


@blueprint.route('/v1/containers/<container_ident>/network_attach',
                 methods=['POST'])
def network_attach(container_ident):
    """Nova's interface attach of ``port``, or of a port on ``network``.

    ``fixed_ip`` is the new port's address on ``network``.

    The driver plugs it into the running pod. As in Zun, a network the
    container is on already is 400.
    """
    _since(_NETWORK_ATTACH, 'network_attach')
    args = validation.query('network_attach')
    validation.no_body()
    if args.get('fixed_ip'):
        try:
            ipaddress.ip_address(args['fixed_ip'])
        except ValueError:
            raise errors.ApiError(400, 'Invalid fixed_ip %s'
                                  % args['fixed_ip'])
    context, server = _server_for('container:network_attach',
                                  container_ident, {})
    nova = _nova(context)
    attached = nova_call(nova.interfaces, server['id'])
    if args.get('port'):
        if any(i['port_id'] == args['port'] for i in attached):
            raise errors.ApiError(400, 'Port %s is attached to container %s '
                                       'already.' % (args['port'],
                                                     container_ident))
        nova_call(nova.attach_interface, server['id'], port_id=args['port'])
    else:
        net_id = nova_call(nova.network_id, args['network'])
        if any(i['net_id'] == net_id for i in attached):
            raise errors.ApiError(400, "Network '%s' is already connected "
                                       "to container '%s'." % (
                                           args['network'], container_ident))
        nova_call(nova.attach_interface, server['id'], net_id=net_id,
                  fixed_ip=args.get('fixed_ip'))
    return flask.Response(status=200)


@blueprint.route('/v1/containers/<container_ident>/network_detach',
                 methods=['POST'])
def network_detach(container_ident):
    """Nova's interface detach of ``port``, or of the ports on ``network``."""
    _since(_NETWORK_DETACH, 'network_detach')
    args = validation.query('network_detach')
    validation.no_body()
    if args.get('port'):
        _since(_DETACH_PORT, 'network_detach of a port')
    context, server = _server_for('container:network_detach',
                                  container_ident, {})
    nova = _nova(context)
    attached = nova_call(nova.interfaces, server['id'])
    if args.get('port'):
        ports = [i['port_id'] for i in attached
                 if i['port_id'] == args['port']]
        what = "Port '%s'" % args['port']
    else:
        net_id = nova_call(nova.network_id, args['network'])
        ports = [i['port_id'] for i in attached if i['net_id'] == net_id]
        what = "Network '%s'" % args['network']
    if not ports:
        raise errors.ApiError(400, '%s is not attached to container '
                                   "'%s'." % (what, container_ident))
    for port in ports:
        nova_call(nova.detach_interface, server['id'], port)
    return _accepted()


@blueprint.route('/v1/containers/<container_ident>/network_list',
                 methods=['GET'])
def network_list(container_ident):
    """The container's ports (Nova's interfaces) in Zun's shape."""
    _since(_NETWORK_LIST, 'network_list')
    validation.query('network_list')
    context, server = _server_for('container:network_list',
                                  container_ident, {})
    interfaces = nova_call(_nova(context).interfaces, server['id'])
    return flask.jsonify({'networks': views.networks(
        interfaces, _api_version() >= _NETWORK_LIST_FIXED_IPS)})


@contextlib.contextmanager
def _image(nova, image, driver):
    """The Glance image to boot for Zun's ``image`` and ``image_driver``.

    glance: a Glance image's UUID or name. docker: a registry reference,
    booted through the caller's Glance image naming it (made if need be:
    deleted again when what uses it fails, so a refused request makes
    nothing).
    """
    conf = _state().conf
    if (driver or conf.native_api.default_image_driver) == 'glance':
        yield nova_call(nova.image_id, image)
        return
    ref = references.normalized(image)
    if ref is None:
        raise errors.ApiError(400, 'Image %s is not a registry reference '
                                   '([registry/]name[:tag])' % image)
    registry = references.registry_of(ref)
    if conf.zun.allowed_registries and \
            registry not in conf.zun.allowed_registries:
        raise errors.ApiError(400, 'Image %s: registry %s is not allowed '
                                   'here' % (image, registry))
    try:
        images = glance.Glance(conf, _context(),
                               flask.request.headers.get('X-Service-Catalog'))
        image_id, made = images.registry_image(
            conf.zun.registry_reference_property, ref)
    except glance.GlanceError as exc:
        raise errors.ApiError(exc.status, exc.message)
    try:
        yield image_id
    except Exception:
        with excutils.save_and_reraise_exception():
            if made:
                try:
                    images.delete(image_id)
                except glance.GlanceError:
                    LOG.exception('Could not delete Glance image %s',
                                  image_id)


@contextlib.contextmanager
def _exposing(nova, ports):
    """``[id]`` of a new security group opening ``ports``, [] for none.

    As Zun does: the container's only group. It is named for the container
    once Nova made the server, and deleted again if what uses it fails.
    Groups of the caller's containers gone meanwhile go first.
    """
    if not ports:
        yield []
        return
    _delete_groups(nova)
    group = nova_call(nova.expose_ports,
                      'zun-new-' + uuidutils.generate_uuid(), ports)
    try:
        yield [group]
    except Exception:
        with excutils.save_and_reraise_exception():
            try:
                nova.delete_security_group(group)
            except nova_api.NovaError:
                LOG.exception('Could not delete security group %s', group)


def _megabytes(memory):
    if memory is None:
        return None
    # JSON Schema's integers include 64.0.
    if isinstance(memory, (int, float)):
        return int(memory)
    value = memory.lower()
    if value.endswith('g'):
        return int(value[:-1]) * 1024
    return int(value.rstrip('m'))


@blueprint.route('/v1/containers', methods=['POST'], strict_slashes=False)
def create():
    args = validation.query('create')
    body = validation.body('create')
    validation.check_supported(body)
    nova = authorized_nova('container:create')
    if body.get('privileged'):
        authorized_nova('container:create:privileged')
    flavor = nova_call(nova.flavor_for,
                       float(body['cpu']) if body.get('cpu') else None,
                       _megabytes(body.get('memory')),
                       body.get('disk'), body.get('runtime'),
                       bool(body.get('privileged')))
    metadata = {}
    command = body.get('command')
    if command:
        if isinstance(command, str):
            try:
                command = shlex.split(command)
            except ValueError as exc:
                raise errors.ApiError(400, 'Invalid command: %s' % exc)
        metadata['zun_command'] = json.dumps(command)
    entrypoint = body.get('entrypoint')
    if entrypoint:
        if isinstance(entrypoint, str):
            entrypoint = shlex.split(entrypoint)
        metadata['zun_entrypoint'] = json.dumps(entrypoint)
    if body.get('environment'):
        metadata['zun_environment'] = json.dumps(body['environment'])
    if body.get('workdir'):
        metadata['zun_workdir'] = body['workdir']
    metadata.update(_limits_metadata(body))
    if body.get('labels'):
        metadata[views.META_LABELS] = json.dumps(body['labels'],
                                                 sort_keys=True)
    if body.get('healthcheck'):
        if _api_version() < _HEALTHCHECK:
            raise errors.ApiError(406, 'healthcheck is offered from '
                                       'microversion %s' % (_HEALTHCHECK,))
        metadata[views.META_HEALTHCHECK] = json.dumps(
            {k: v for k, v in body['healthcheck'].items() if v is not None},
            sort_keys=True)
    exposed = validation.exposed_ports(body.get('exposed_ports'))
    if exposed:
        if _api_version() < _EXPOSED_PORTS:
            raise errors.ApiError(406, 'exposed_ports is offered from '
                                       'microversion %s' % (_EXPOSED_PORTS,))
        metadata[views.META_EXPOSED_PORTS] = json.dumps(exposed)
    user_data = None
    files = validation.injected_files(body.get('mounts'))
    if files:
        if _api_version() < _MOUNT_TYPES:
            raise errors.ApiError(406, 'mounts of type bind are offered '
                                       'from microversion %s'
                                  % (_MOUNT_TYPES,))
        # Nova's user data (the driver writes them into the workload
        # before it starts, whenever it makes it).
        metadata[META_FILES] = 'user_data'
        user_data = base64.b64encode(json.dumps(
            {'files': files}).encode()).decode()
        if len(user_data) > _USER_DATA_BYTES:
            raise errors.ApiError(400, 'Injected files take %d bytes in '
                                       'Nova\'s user data, at most %d'
                                  % (len(user_data), _USER_DATA_BYTES))
    restart_policy = views.restart_policy_metadata(body.get('restart_policy'))
    if restart_policy:
        metadata[views.META_RESTART_POLICY] = restart_policy
    metadata[META_STOP_TIMEOUT] = ZUN_STOP_TIMEOUT
    if not validation.boolean(args.get('run')):
        # Zun's create: the workload is made, not started.
        metadata[views.META_RUN] = 'false'
    # The driver's server metadata for a main process one can attach to,
    # and for a server deleted when its workload stops by itself.
    for field, key in (('interactive', 'zun_interactive'), ('tty', 'zun_tty'),
                       ('auto_remove', views.META_AUTO_REMOVE),
                       ('auto_heal', views.META_AUTO_HEAL)):
        if body.get(field):
            metadata[key] = 'true'
    for key, value in metadata.items():
        if len(value) > 255:
            raise errors.ApiError(400, '%s is longer than Nova\'s 255 '
                                       'characters of server metadata'
                                  % key.replace('zun_', ''))
    nets = body.get('nets')
    if nets:
        networks = [{k: v for k, v in (('uuid', n.get('network')),
                                       ('port', n.get('port')),
                                       ('fixed_ip', n.get('v4-fixed-ip') or
                                        n.get('v6-fixed-ip')))
                     if v} for n in nets]
    else:
        networks = _state().conf.native_api.default_networks
        if networks == 'project':
            network = nova_call(nova.project_network)
            networks = [{'uuid': network}] if network else 'auto'
    name = body.get('name') or 'zun-container'
    zone = body.get('availability_zone')
    if body.get('host'):
        # Nova's own way to ask for a host (admins only, by its policy).
        zone = '%s:%s' % (zone or 'nova', body['host'])
    with _image(nova, body['image'], body.get('image_driver')) as image, \
            _exposing(nova, exposed) as groups:
        server = nova_call(nova.create, name, image, flavor['id'], metadata,
                           networks, zone,
                           groups or body.get('security_groups'),
                           body.get('hostname'), body.get('hints'),
                           user_data)
        if groups:
            nova_call(nova.rename_security_group, groups[0],
                      _group_name(server['id']))
    server.setdefault('flavor', {}).update(
        {'ram': flavor['ram'], 'vcpus': flavor['vcpus'],
         'disk': flavor.get('disk'),
         'extra_specs': flavor.get('extra_specs') or {}})
    view = views.container(server)
    view['status'] = 'Creating'
    return flask.jsonify(view), 202
