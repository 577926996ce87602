"""Docker Engine backend of the container runtime (docker SDK).

Also serves Podman through its Docker-compatible socket. The OCI runtime
(runc, runsc, kata) is a per-container option of the same engine.
"""

import datetime
import functools
import itertools
import json
import logging
import os
import select
import socket
import struct
import threading
import time

import docker
from docker import errors as docker_errors
import requests

from nova_zun.runtime import archive_stream
from nova_zun.runtime import base
from nova_zun.runtime import exception
from nova_zun.runtime import file_archive
from nova_zun.runtime import labels as label_keys
from nova_zun.runtime import sandbox_image
from nova_zun.runtime import shims
from nova_zun.runtime import types

LOG = logging.getLogger(__name__)

_STATES = {s.value: s for s in types.ContainerState}
_CPU_PERIOD_US = 100000
# The sandbox's pause process needs next to nothing under runc. Runtimes
# that run a kernel of their own inside the container's cgroup need more:
# gVisor's sentry and gofer alone use ~40 threads and ~14 MB, and refuse to
# start under 16 pids ("cannot read client sync file").
_SANDBOX_LIMITS = {'pids_limit': 16, 'mem_limit': '16m'}
_SANDBOX_LIMITS_KERNEL = {'pids_limit': 256, 'mem_limit': '128m'}
_RUNC_RUNTIMES = (None, '', 'runc', 'io.containerd.runc.v2', 'crun')

# Errors the engine reports with a bare 500 although the request, not the
# engine, is at fault: (substring of the message, exception class).
_MESSAGE_CLASSES = (
    ('is not paused', exception.Conflict),
    ('is not running', exception.Conflict),
    ('is already paused', exception.Conflict),
    ('is paused', exception.Conflict),
    ('is restarting', exception.Conflict),
    ('invalid reference format', exception.InvalidRequest),
    ('Error processing tar file', exception.InvalidRequest),
)
# What a failed pull means, by words of the engine's message: the
# registry's error codes (UNAUTHORIZED, DENIED, MANIFEST_UNKNOWN,
# NAME_UNKNOWN, as Docker Hub and registries word them) and Go's network
# errors. Docker Hub says "pull access denied ... does not exist or may
# require 'docker login'" for both: access comes first.
_PULL_ERRORS = (
    (exception.PermissionDenied,
     ('unauthorized', 'denied', 'authentication required',
      'no basic auth credentials', 'forbidden')),
    (exception.NotFound,
     ('manifest unknown', 'name unknown', 'not found')),
    (exception.RegistryUnavailable,
     ('dial tcp', 'connection refused', 'no such host', 'timeout',
      'no route to host', 'network is unreachable', 'connection reset',
      'tls:', 'x509:', 'http response to https client')),
)
# The formats the engine's image load reads: a docker-archive's
# manifest.json (Docker's graph-driver image store reads nothing else; an
# OCI index beside it, as Docker 25 and later save, goes on without its
# names).
_LOAD_FORMATS = (archive_stream.DOCKER_ARCHIVE,)
_LOADED_ID = 'Loaded image ID: '
# Errors the docker SDK raises itself, before talking to the engine, for
# arguments it refuses.
_SDK_ARGUMENT_ERRORS = (docker_errors.NullResource,
                        docker_errors.InvalidArgument,
                        docker_errors.InvalidRepository,
                        docker_errors.InvalidVersion)


def _error_message(exc):
    return getattr(exc, 'explanation', None) or str(exc)


def _translate(exc, what):
    """Map a docker SDK or transport error to a runtime exception."""
    if isinstance(exc, exception.ContainerRuntimeError):
        return exc
    if isinstance(exc, docker_errors.NotFound):
        return exception.NotFound('%s: not found (%s)'
                                  % (what, _error_message(exc)),
                                  reason=_error_message(exc))
    if isinstance(exc, docker_errors.APIError):
        msg = _error_message(exc)
        code = exc.status_code
        if code == 409:
            cls = exception.Conflict
        elif code == 400:
            cls = exception.InvalidRequest
        else:
            cls = next((c for text, c in _MESSAGE_CLASSES if text in msg),
                       exception.ContainerRuntimeError)
        return cls('%s: %s' % (what, msg), reason=msg)
    if isinstance(exc, _SDK_ARGUMENT_ERRORS):
        return exception.InvalidRequest('%s: %s' % (what, exc),
                                        reason=str(exc))
    if isinstance(exc, requests.exceptions.Timeout):
        return exception.OperationTimeout('%s: the engine did not answer in '
                                          'time' % what, reason=str(exc))
    if isinstance(exc, (requests.exceptions.ConnectionError,
                        docker_errors.DockerException, ConnectionError)):
        return exception.EngineUnavailable(
            '%s: container engine unavailable (%s)' % (what, exc),
            reason=str(exc))
    return None


def _engine_call(func):
    """Run a backend method and translate the engine's errors."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        try:
            return func(self, *args, **kwargs)
        except Exception as exc:
            translated = _translate(exc, func.__name__)
            if translated is None or translated is exc:
                raise
            raise translated from exc
    return wrapper


def _translated_chunks(chunks, what):
    """Iterate an engine stream, translating errors met while reading."""
    try:
        yield from chunks
    except Exception as exc:
        translated = _translate(exc, what)
        if translated is None or translated is exc:
            raise
        raise translated from exc


class _StreamSocket:
    """A hijacked engine connection (exec, attach) as a socket-like object.

    The HTTP client reads the response headers through a buffer that can
    already hold the first bytes of the stream (often, with attach
    ``logs=True``); the docker SDK hands out the socket under it and those
    bytes would be lost. They are kept here and served first by ``recv``
    and ``read``; ``pending()`` says how many wait, for callers that
    ``select()`` on ``fileno()``. ``close()`` really closes the connection
    (closing the SDK's socket object alone leaves it open, so the process
    never sees the end of its stdin).
    """

    def __init__(self, sock):
        self._io = sock
        self._sock = getattr(sock, '_sock', sock)
        self._prefix = self._read_ahead(sock)

    def _read_ahead(self, sock):
        try:
            fp = sock._response.raw._fp.fp
        except AttributeError:
            return b''
        peek = getattr(fp, 'peek', None)
        if peek is None:
            return b''
        saved = self._sock.gettimeout()
        self._sock.settimeout(0)
        try:
            # Without blocking: what the buffer holds (plus what the
            # kernel has ready, which is as good).
            data = peek()
            fp.read(len(data))
            return bytes(data)
        except (OSError, ValueError):
            return b''
        finally:
            self._sock.settimeout(saved)

    def pending(self):
        return len(self._prefix)

    def recv(self, bufsize, flags=0):
        if self._prefix:
            data = self._prefix[:bufsize]
            self._prefix = self._prefix[bufsize:]
            return data
        return self._sock.recv(bufsize, flags)

    def read(self, size=-1):
        return self.recv(size if size and size > 0 else 65536)

    def send(self, data, flags=0):
        return self._sock.send(data, flags)

    def sendall(self, data, flags=0):
        self._sock.sendall(data, flags)

    def write(self, data):
        self._sock.sendall(data)
        return len(data)

    def fileno(self):
        return self._sock.fileno()

    def settimeout(self, timeout):
        self._sock.settimeout(timeout)

    def gettimeout(self):
        return self._sock.gettimeout()

    def setblocking(self, flag):
        self._sock.setblocking(flag)

    def shutdown(self, how):
        self._sock.shutdown(how)

    def close(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        for obj in (self._io, getattr(self._io, '_response', None),
                    self._sock):
            close = getattr(obj, 'close', None)
            if close:
                try:
                    close()
                except Exception:
                    pass


class _Demuxer:
    """Joins the payloads of the engine's multiplexed stream (frames of an
    8-byte header: stream, 3 pad, length), fed in chunks split anywhere."""

    def __init__(self):
        self._pending = bytearray()
        self._frame_left = 0

    def feed(self, chunk):
        self._pending += chunk
        payload = bytearray()
        while self._pending:
            if self._frame_left == 0:
                if len(self._pending) < 8:
                    break
                _, self._frame_left = struct.unpack('>BxxxL',
                                                    self._pending[:8])
                del self._pending[:8]
                continue
            take = self._pending[:self._frame_left]
            del self._pending[:len(take)]
            self._frame_left -= len(take)
            payload += take
        return bytes(payload)


def _read_output(sock, tty, deadline=None, limit=None):
    """Read an attached stream (a _StreamSocket) to its end within
    ``deadline``.

    Returns ``(output, truncated)``. Without a TTY the engine multiplexes
    stdout and stderr into frames; the payloads are joined in order.
    """
    demuxer = None if tty else _Demuxer()
    out = bytearray()
    truncated = False
    while True:
        if not sock.pending():
            timeout = None
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    raise exception.OperationTimeout('no end of output in '
                                                     'time')
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                raise exception.OperationTimeout('no end of output in time')
        chunk = sock.recv(65536)
        if not chunk:
            break
        payload = chunk if demuxer is None else demuxer.feed(chunk)
        if limit is not None and len(out) + len(payload) > limit:
            out += payload[:max(0, limit - len(out))]
            truncated = True
        else:
            out += payload
    return bytes(out), truncated


def _status_from_inspect(info):
    state = info.get('State') or {}
    config = info.get('Config') or {}
    host_config = info.get('HostConfig') or {}
    return types.ContainerStatus(
        id=info['Id'],
        name=info.get('Name', '').lstrip('/'),
        state=_STATES.get(state.get('Status'), types.ContainerState.UNKNOWN),
        labels=config.get('Labels') or {},
        image=config.get('Image'),
        exit_code=state.get('ExitCode'),
        error=state.get('Error') or None,
        started_at=state.get('StartedAt'),
        finished_at=state.get('FinishedAt'),
        pid=state.get('Pid') or None,
        runtime=host_config.get('Runtime'),
        oom_killed=bool(state.get('OOMKilled')),
        tty=bool(config.get('Tty')),
        stdin_open=bool(config.get('OpenStdin')),
        details=info)


def _status_from_list(item):
    return types.ContainerStatus(
        id=item['Id'],
        name=(item.get('Names') or ['/'])[0].lstrip('/'),
        state=_STATES.get(item.get('State'), types.ContainerState.UNKNOWN),
        labels=item.get('Labels') or {},
        image=item.get('Image'))


def _image_info(info):
    config = info.get('Config') or {}
    return types.ImageInfo(
        id=info['Id'],
        tags=tuple(info.get('RepoTags') or ()),
        size_bytes=info.get('Size') or 0,
        labels=config.get('Labels') or {},
        command=config.get('Cmd'),
        entrypoint=config.get('Entrypoint'),
        workdir=config.get('WorkingDir') or None,
        environment=tuple(config.get('Env') or ()),
        created=info.get('Created'),
        last_tagged=_last_tagged(info))


def _last_tagged(info):
    when = (info.get('Metadata') or {}).get('LastTagTime') or ''
    # The engine gives the zero time for an image never tagged.
    return None if not when or when.startswith('0001-') else when


def _stats(s):
    cpu = s.get('cpu_stats') or {}
    precpu = s.get('precpu_stats') or {}
    cpu_delta = ((cpu.get('cpu_usage') or {}).get('total_usage', 0) -
                 (precpu.get('cpu_usage') or {}).get('total_usage', 0))
    system_delta = (cpu.get('system_cpu_usage', 0) -
                    precpu.get('system_cpu_usage', 0))
    online = (cpu.get('online_cpus') or
              len((cpu.get('cpu_usage') or {}).get('percpu_usage') or ())
              or 1)
    cpu_percent = 0.0
    if cpu_delta > 0 and system_delta > 0:
        cpu_percent = 100.0 * cpu_delta / system_delta * online
    mem = s.get('memory_stats') or {}
    mem_detail = mem.get('stats') or {}
    # Page cache that can be dropped is not usage (as `docker stats`).
    inactive = mem_detail.get('total_inactive_file',
                              mem_detail.get('inactive_file', 0))
    usage = max(0, mem.get('usage', 0) - inactive)
    read = write = 0
    for entry in ((s.get('blkio_stats') or {})
                  .get('io_service_bytes_recursive') or ()):
        op = entry.get('op', '').lower()
        if op == 'read':
            read += entry.get('value', 0)
        elif op == 'write':
            write += entry.get('value', 0)
    networks = (s.get('networks') or {}).values()
    return types.ContainerStats(
        cpu_percent=cpu_percent,
        memory_usage_bytes=usage,
        memory_limit_bytes=mem.get('limit', 0),
        block_read_bytes=read,
        block_write_bytes=write,
        net_rx_bytes=sum(n.get('rx_bytes', 0) for n in networks),
        net_tx_bytes=sum(n.get('tx_bytes', 0) for n in networks),
        pids=(s.get('pids_stats') or {}).get('current', 0))


_EVENT_TYPES = {
    'start': types.ContainerEventType.STARTED,
    'die': types.ContainerEventType.STOPPED,
    'pause': types.ContainerEventType.PAUSED,
    'unpause': types.ContainerEventType.UNPAUSED,
}


class _EventStream:
    """The engine's event stream as ContainerEvents; closable from another
    thread."""

    def __init__(self, stream):
        self._stream = stream

    def __iter__(self):
        for item in _translated_chunks(self._stream, 'events'):
            actor = item.get('Actor') or {}
            event_type = _EVENT_TYPES.get(item.get('Action'))
            if event_type is None:
                continue
            yield types.ContainerEvent(
                container_id=actor.get('ID') or item.get('id'),
                type=event_type,
                # The engine lists the container's labels among the
                # event's attributes, beside name, image and exit code.
                labels=actor.get('Attributes') or {},
                time_ns=item.get('timeNano') or 0)

    def close(self):
        self._stream.close()


def _labels_filter(labels):
    return {'label': ['%s=%s' % kv for kv in (labels or {}).items()]}


class DockerRuntime(base.ContainerRuntime):
    """The runtime on a Docker Engine API endpoint.

    :param base_url: engine endpoint, e.g. ``unix:///var/run/docker.sock``.
    :param timeout: seconds to wait for the engine on each call.
    :param sandbox_binary: statically linked busybox for the pod sandbox
        image, built on first use.
    :param reap_shims: called with the full id of a container whose start
        failed and that does not run, to reap what the OCI runtime left
        behind (:func:`nova_zun.runtime.shims.reap`, in this process by
        default; a service that is not root passes a privileged one).
    """

    name = 'docker'

    def __init__(self, base_url, timeout=60, sandbox_binary='/bin/busybox',
                 reap_shims=shims.reap):
        self.base_url = base_url
        self.timeout = timeout
        self.sandbox_binary = sandbox_binary
        self._reap_shims = reap_shims
        self._client = None
        self._lock = threading.Lock()
        self._sandbox_image = None
        # None until the engine first accepts or refuses a storage limit.
        self._storage_limit_supported = None

    @property
    def _api(self):
        # Connected on first use, so a service can start before its engine
        # and recover when the engine comes back.
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = docker.APIClient(
                        base_url=self.base_url, version='auto',
                        timeout=self.timeout)
        return self._client

    # -- engine -------------------------------------------------------------

    @_engine_call
    def engine_info(self):
        info = self._api.info()
        data_root = info.get('DockerRootDir', '')
        try:
            fs = os.statvfs(data_root)
            total, free = fs.f_frsize * fs.f_blocks, fs.f_frsize * fs.f_bavail
        except OSError:
            # The data root is not visible from here (an engine in another
            # mount namespace): no disk to report.
            total = free = 0
        return types.EngineInfo(
            name=self.name,
            version=info.get('ServerVersion', ''),
            architecture=info.get('Architecture', ''),
            cpus=info.get('NCPU', 0),
            memory_bytes=info.get('MemTotal', 0),
            data_root=data_root,
            storage_driver=info.get('Driver', ''),
            runtimes=tuple(sorted(info.get('Runtimes') or {})),
            default_runtime=info.get('DefaultRuntime', ''),
            disk_total_bytes=total,
            disk_free_bytes=free,
            live_restore=bool(info.get('LiveRestoreEnabled')))

    # -- sandboxes ----------------------------------------------------------

    def _ensure_sandbox_image(self):
        """The id of the pod sandbox image, loaded if the engine lacks it:
        pinned by id, never found by a name or label (see
        :mod:`nova_zun.runtime.sandbox_image`)."""
        if self._sandbox_image:
            return self._sandbox_image
        image_id, archive = sandbox_image.build(self.sandbox_binary)
        if not self.image_exists(image_id):
            LOG.info('Loading pod sandbox image %s, made from %s', image_id,
                     self.sandbox_binary)
            loaded = self.load_image_report([archive]).references
            if loaded != (image_id,):
                raise exception.ContainerRuntimeError(
                    'the pod sandbox image loaded as %s, not as %s: the '
                    'engine computes image ids differently'
                    % (loaded, image_id))
        self._sandbox_image = image_id
        return image_id

    def _sandbox(self, info):
        netns = (info.get('NetworkSettings') or {}).get('SandboxKey')
        if not netns:
            pid = (info.get('State') or {}).get('Pid')
            netns = '/proc/%d/ns/net' % pid if pid else None
        return types.Sandbox(
            id=info['Id'], name=info['Name'].lstrip('/'), netns_path=netns,
            labels=info['Config'].get('Labels') or {},
            dns_servers=tuple(info['HostConfig'].get('Dns') or ()))

    @staticmethod
    def _dns(servers):
        """The engine writes resolv.conf at every start of the sandbox
        (the workload bind-mounts the same file). Without explicit search
        domains and options it would copy the host's: ``.`` means none,
        ``ndots:1`` is the resolver's default."""
        if not servers:
            return {}
        return {'dns': list(servers), 'dns_search': ['.'],
                'dns_opt': ['ndots:1']}

    @_engine_call
    def create_sandbox(self, spec, start=True):
        labels = dict(spec.labels)
        labels[label_keys.ROLE] = label_keys.ROLE_SANDBOX
        limits = (_SANDBOX_LIMITS if spec.runtime in _RUNC_RUNTIMES
                  else _SANDBOX_LIMITS_KERNEL)
        host_config = self._api.create_host_config(
            network_mode='none',
            ipc_mode='shareable',
            mounts=[self._mount(m) for m in spec.mounts] or None,
            security_opt=['no-new-privileges'],
            runtime=spec.runtime,
            **self._dns(spec.dns_servers),
            **limits)

        def create():
            return self._api.create_container(
                self._ensure_sandbox_image(), name=spec.name,
                hostname=spec.hostname, domainname=spec.domainname,
                labels=labels,
                host_config=host_config, stop_signal='SIGKILL',
                use_config_proxy=False)

        try:
            created = create()
        except docker_errors.ImageNotFound:
            # Removed behind our back (an image prune while no sandbox
            # used it): build it again.
            self._sandbox_image = None
            created = create()
        if not start:
            return self._sandbox(self._api.inspect_container(created['Id']))
        try:
            return self.start_sandbox(created['Id'])
        except Exception:
            self._remove_quietly(created['Id'])
            raise

    @_engine_call
    def start_sandbox(self, sandbox):
        self.start(sandbox)
        return self.get_sandbox(sandbox)

    @_engine_call
    def get_sandbox(self, sandbox):
        return self._sandbox(self._api.inspect_container(sandbox))

    @_engine_call
    def remove_sandbox(self, sandbox):
        self._api.remove_container(sandbox, force=True)

    def _remove_quietly(self, container):
        try:
            self._api.remove_container(container, force=True)
        except docker_errors.NotFound:
            pass
        except Exception:
            LOG.exception('Could not remove container %s', container)

    # -- containers ---------------------------------------------------------

    @staticmethod
    def _mount(mount):
        return docker.types.Mount(
            target=mount.target, source=mount.source, type='bind',
            read_only=mount.read_only, propagation=mount.propagation)

    def _host_config(self, spec, with_storage_limit):
        res = spec.resources
        kwargs = {
            'privileged': False,
            'security_opt': ['no-new-privileges'],
            'cap_add': list(spec.cap_add) or None,
            'pids_limit': res.pids_limit,
            'mounts': [self._mount(m) for m in spec.mounts] or None,
            'runtime': spec.runtime,
        }
        if res.memory_mb:
            kwargs['mem_limit'] = '%dm' % res.memory_mb
            kwargs['memswap_limit'] = '%dm' % res.memory_mb
        if res.vcpus:
            kwargs['cpu_period'] = _CPU_PERIOD_US
            kwargs['cpu_quota'] = int(res.vcpus * _CPU_PERIOD_US)
        if spec.sandbox_id:
            kwargs['network_mode'] = 'container:%s' % spec.sandbox_id
            kwargs['ipc_mode'] = 'container:%s' % spec.sandbox_id
        else:
            kwargs['network_mode'] = 'none'
        if res.disk_gb and with_storage_limit:
            kwargs['storage_opt'] = {'size': '%dG' % res.disk_gb}
        return self._api.create_host_config(**kwargs)

    def _create(self, spec, with_storage_limit):
        return self._api.create_container(
            spec.image,
            command=spec.command,
            entrypoint=spec.entrypoint,
            working_dir=spec.workdir,
            environment=spec.environment or None,
            name=spec.name,
            labels=spec.labels,
            hostname=None if spec.sandbox_id else spec.hostname,
            tty=spec.tty,
            stdin_open=spec.stdin_open,
            stop_timeout=spec.stop_timeout,
            host_config=self._host_config(spec, with_storage_limit),
            use_config_proxy=False)['Id']

    @_engine_call
    def create_container(self, spec):
        limit = (spec.resources.disk_gb and
                 self._storage_limit_supported is not False)
        try:
            return self._create(spec, limit)
        except docker_errors.APIError as exc:
            if not limit or 'storage-opt' not in _error_message(exc):
                raise
            # Only some graph drivers (overlay2 on xfs with pquota, btrfs,
            # zfs) can limit the writable layer: say so once, go on without.
            self._storage_limit_supported = False
            LOG.warning('The engine cannot limit container disk size (%s); '
                        'root disk sizes are not enforced on this host.',
                        _error_message(exc))
            return self._create(spec, False)

    @_engine_call
    def start(self, container):
        try:
            self._api.start(container)
        except docker_errors.APIError:
            self._reap_failed_start(container)
            raise

    def _reap_failed_start(self, container):
        # A runtime with a sandbox of its own (runsc) can leave its shim,
        # sandbox processes and state behind when a start fails: see
        # nova_zun.runtime.shims. Only a container that is not running
        # (nor paused) is reaped, so a refused start never kills one.
        try:
            info = self._api.inspect_container(container)
            state = info.get('State') or {}
            if not (state.get('Running') or state.get('Paused')):
                self._reap_shims(info['Id'])
        except Exception:
            LOG.exception('Could not clean up after the failed start of %s',
                          container)

    @_engine_call
    def stop(self, container, timeout=None):
        self._api.stop(container, timeout=timeout)

    @_engine_call
    def restart(self, container, timeout=None):
        self._api.restart(container, timeout=timeout if timeout is not None
                          else 10)

    @_engine_call
    def kill(self, container, signal=None):
        self._api.kill(container, signal=signal)

    @_engine_call
    def pause(self, container):
        self._api.pause(container)

    @_engine_call
    def unpause(self, container):
        self._api.unpause(container)

    @_engine_call
    def remove(self, container, force=False):
        self._api.remove_container(container, force=force)

    @_engine_call
    def status(self, container):
        return _status_from_inspect(self._api.inspect_container(container))

    @_engine_call
    def list_containers(self, labels=None):
        return [_status_from_list(c) for c in self._api.containers(
            all=True, filters=_labels_filter(labels))]

    @_engine_call
    def events(self, labels=None, since_ns=None):
        filters = dict(_labels_filter(labels), type=['container'],
                       event=sorted(_EVENT_TYPES))
        since = None
        if since_ns is not None:
            since = '%d.%09d' % divmod(since_ns, 10 ** 9)
        return _EventStream(self._api.events(since=since, filters=filters,
                                             decode=True))

    @_engine_call
    def update_resources(self, container, resources):
        # The SDK's update_container knows no PidsLimit (API >= 1.40):
        # post the update body ourselves.
        body = {}
        if resources.memory_mb:
            body['Memory'] = body['MemorySwap'] = resources.memory_mb << 20
        if resources.vcpus:
            body['CpuPeriod'] = _CPU_PERIOD_US
            body['CpuQuota'] = int(resources.vcpus * _CPU_PERIOD_US)
        if resources.pids_limit:
            body['PidsLimit'] = resources.pids_limit
        if not body:
            raise exception.InvalidRequest('no resource to update')
        api = self._api
        api._result(api._post_json(
            api._url('/containers/{0}/update', container), data=body), True)

    def _exec_create(self, container, command, tty, stdin, environment,
                     workdir, user=''):
        if not command:
            raise exception.InvalidRequest('empty command')
        return self._api.exec_create(
            container, command, stdout=True, stderr=True, stdin=stdin,
            tty=tty, environment=environment, workdir=workdir,
            user=user or '')['Id']

    @_engine_call
    def exec(self, container, command, *, timeout=None, max_output=None,
             environment=None, workdir=None, user=None):
        exec_id = self._exec_create(container, command, False, False,
                                    environment, workdir, user)
        deadline = time.monotonic() + timeout if timeout else None
        sock = _StreamSocket(self._api.exec_start(exec_id, socket=True))
        try:
            output, truncated = _read_output(sock, False, deadline,
                                             max_output)
        except exception.OperationTimeout as exc:
            raise exception.OperationTimeout(
                'exec: %s did not finish within %ss (it goes on running)'
                % (command, timeout), reason=exc.message)
        finally:
            sock.close()
        # The stream can end a moment before the engine records the exit
        # (longer on a loaded host), or well before it when the command
        # closed its output and goes on: wait, within the caller's
        # timeout, rather than report an exit code of None.
        recorded_by = deadline or time.monotonic() + self.timeout
        while True:
            info = self._api.exec_inspect(exec_id)
            if not info.get('Running'):
                break
            if time.monotonic() > recorded_by:
                raise exception.OperationTimeout(
                    'exec: %s closed its output but did not finish within '
                    '%ss (it goes on running)'
                    % (command, timeout or self.timeout))
            time.sleep(0.01)
        return types.ExecResult(exit_code=info.get('ExitCode'),
                                output=output, exec_id=exec_id,
                                truncated=truncated)

    def _exec_start_stream(self, exec_id, tty):
        sock = self._api.exec_start(exec_id, socket=True, tty=tty)
        return types.StreamSession(id=exec_id, sock=_StreamSocket(sock),
                                   tty=tty)

    @_engine_call
    def exec_stream(self, container, command, *, tty=False, stdin=False,
                    environment=None, workdir=None):
        return self._exec_start_stream(
            self._exec_create(container, command, tty, stdin, environment,
                              workdir), tty)

    @_engine_call
    def create_exec(self, container, command, *, tty=False, stdin=False,
                    environment=None, workdir=None):
        return self._exec_create(container, command, tty, stdin,
                                 environment, workdir)

    @_engine_call
    def start_exec(self, exec_id):
        info = self._api.exec_inspect(exec_id)
        if info.get('Running') or info.get('ExitCode') is not None:
            raise exception.Conflict('exec %s was started before' % exec_id)
        return self._exec_start_stream(
            exec_id, bool((info.get('ProcessConfig') or {}).get('tty')))

    def stream_output(self, session):
        demuxer = None if session.tty else _Demuxer()
        while True:
            try:
                chunk = session.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            payload = chunk if demuxer is None else demuxer.feed(chunk)
            if payload:
                yield payload

    @_engine_call
    def exec_resize(self, exec_id, height, width):
        self._api.exec_resize(exec_id, height=height, width=width)

    @_engine_call
    def exec_status(self, exec_id):
        info = self._api.exec_inspect(exec_id)
        return bool(info.get('Running')), info.get('ExitCode')

    @_engine_call
    def exec_container(self, exec_id):
        return self._api.exec_inspect(exec_id)['ContainerID']

    @_engine_call
    def logs(self, container, *, stdout=True, stderr=True, tail=None,
             since=None, timestamps=False, follow=False, stream=False):
        stream = stream or follow
        result = self._api.logs(
            container, stdout=stdout, stderr=stderr,
            timestamps=timestamps, tail='all' if tail is None else tail,
            since=since, stream=stream, follow=follow)
        if stream:
            return _translated_chunks(result, 'logs')
        return result

    @_engine_call
    def attach(self, container, *, stdin=True, logs=False):
        tty = bool(self._api.inspect_container(container)['Config']['Tty'])
        sock = self._api.attach_socket(container, params={
            'stdin': int(stdin), 'stdout': 1, 'stderr': 1, 'stream': 1,
            'logs': int(logs)})
        return types.StreamSession(id=container, sock=_StreamSocket(sock),
                                   tty=tty)

    @_engine_call
    def resize(self, container, height, width):
        self._api.resize(container, height=height, width=width)

    @_engine_call
    def top(self, container, ps_args=None):
        result = self._api.top(container, ps_args=ps_args)
        return types.ProcessList(titles=result.get('Titles') or [],
                                 processes=result.get('Processes') or [])

    @_engine_call
    def stats(self, container):
        return _stats(self._api.stats(container, stream=False))

    @_engine_call
    def get_archive(self, container, path):
        path = file_archive.container_path(path)
        chunks, stat = self._api.get_archive(container, path)
        return _translated_chunks(chunks, 'get_archive'), stat

    @_engine_call
    def put_archive(self, container, path, data):
        path = file_archive.container_path(path)
        file_archive.check(data)
        self._api.put_archive(container, path, data)

    @_engine_call
    def commit(self, container, message=None, author=None):
        return self._api.commit(container, message=message,
                                author=author)['Id']

    # -- images -------------------------------------------------------------

    @_engine_call
    def load_image(self, data):
        return list(self.load_image_report(data).references)

    @_engine_call
    def load_image_report(self, data):
        loaded = []
        # Not quiet: the engine then reports each layer it stores (and is
        # silent about layers it has already).
        stored = {}
        # The engine would give the image the names inside the archive as
        # it loads it: it gets the archive without them, and says the id.
        archive = archive_stream.without_names(data, _LOAD_FORMATS)
        try:
            progress = list(self._api.load_image(archive, quiet=False))
        except docker_errors.APIError as exc:
            raise exception.InvalidRequest(
                'image archive refused: %s' % _error_message(exc),
                reason=_error_message(exc))
        for line in progress:
            for item in _json_lines(line):
                if item.get('error'):
                    raise exception.InvalidRequest(
                        'image archive refused: %s' % item['error'],
                        reason=item['error'])
                if item.get('status') == 'Loading layer' and item.get('id'):
                    total = (item.get('progressDetail') or {}).get('total')
                    stored[item['id']] = max(stored.get(item['id'], 0),
                                             total or 0)
                for text in item.get('stream', '').splitlines():
                    if text.startswith(_LOADED_ID):
                        loaded.append(text[len(_LOADED_ID):].strip())
        if len(loaded) != 1:
            raise exception.InvalidRequest(
                'the engine loaded %d images from an archive of one'
                % len(loaded))
        layers = set()
        for name in loaded:
            layers.update(self._api.inspect_image(name)['RootFS']['Layers'])
        return types.ImageTransfer(
            references=tuple(loaded), layers_stored=len(stored),
            layers_present=max(0, len(layers) - len(stored)),
            bytes_stored=sum(stored.values()))

    @_engine_call
    def import_rootfs(self, data, reference, *, command=None, labels=None):
        changes = []
        if command:
            changes.append('CMD ' + json.dumps(command))
        for key, value in (labels or {}).items():
            changes.append('LABEL %s=%s' % (key, json.dumps(value)))
        # Not rpartition(':'): 'registry:5000/name' has no tag, and a
        # reference without one means ':latest'.
        repository, tag = docker.utils.parse_repository_tag(reference)
        result = self._api.import_image_from_data(
            data, repository=repository, tag=tag or 'latest',
            changes=changes)
        for item in _json_lines(result):
            if item.get('error'):
                raise exception.InvalidRequest(item['error'])
        return self._api.inspect_image(reference)['Id']

    @_engine_call
    def pull_image(self, reference, auth=None):
        return self.pull_image_report(reference, auth=auth).references[0]

    @_engine_call
    def pull_image_report(self, reference, auth=None):
        repository, tag = docker.utils.parse_repository_tag(reference)
        sizes, stored, present = {}, set(), set()
        try:
            for item in self._api.pull(repository, tag=tag or 'latest',
                                       auth_config=auth, stream=True,
                                       decode=True):
                if item.get('error'):
                    raise _pull_error(reference, item['error'])
                layer, status = item.get('id'), item.get('status', '')
                if status == 'Downloading':
                    total = (item.get('progressDetail') or {}).get('total')
                    sizes[layer] = max(sizes.get(layer, 0), total or 0)
                elif status == 'Pull complete':
                    stored.add(layer)
                elif status == 'Already exists':
                    present.add(layer)
        except docker_errors.APIError as exc:
            if exc.status_code == 400:
                raise  # the reference itself
            raise _pull_error(reference, _error_message(exc),
                              exc.status_code) from exc
        return types.ImageTransfer(
            references=(self._api.inspect_image(reference)['Id'],),
            layers_stored=len(stored), layers_present=len(present),
            bytes_stored=sum(sizes.get(layer, 0) for layer in stored))

    @_engine_call
    def push_image(self, reference, auth=None):
        repository, tag = docker.utils.parse_repository_tag(reference)
        for item in self._api.push(repository, tag=tag or 'latest',
                                   auth_config=auth, stream=True,
                                   decode=True):
            if item.get('error'):
                raise exception.ContainerRuntimeError(
                    'push of %s failed: %s' % (reference, item['error']),
                    reason=item['error'])

    @_engine_call
    def save_image(self, image):
        chunks = self._api.get_image(image)
        # The SDK checks the engine's answer on the first read: read it
        # now, so that a missing image raises NotFound here.
        first = next(chunks, b'')
        return _translated_chunks(itertools.chain([first], chunks),
                                  'save_image')

    @_engine_call
    def tag_image(self, image, repository, tag):
        self._api.tag(image, repository, tag=tag, force=True)

    @_engine_call
    def remove_image(self, image, force=False):
        self._api.remove_image(image, force=force)

    @_engine_call
    def image_exists(self, image):
        try:
            self._api.inspect_image(image)
            return True
        except docker_errors.NotFound:
            return False

    @_engine_call
    def inspect_image(self, image):
        return _image_info(self._api.inspect_image(image))

    @_engine_call
    def list_images(self, labels=None):
        return [types.ImageInfo(id=i['Id'],
                                tags=tuple(i.get('RepoTags') or ()),
                                size_bytes=i.get('Size') or 0,
                                labels=i.get('Labels') or {},
                                created=_iso_time(i.get('Created')))
                for i in self._api.images(filters=_labels_filter(labels))]


def _iso_time(epoch):
    """The engine lists images with an epoch and inspects them with RFC
    3339 text: give both as text."""
    if not isinstance(epoch, (int, float)):
        return epoch
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _pull_error(reference, message, status_code=None):
    """The runtime exception that says what made a pull fail, from the
    engine's words (which pass on the registry's error codes and the
    network's errors) and its HTTP status."""
    lowered = message.lower()
    cls = next((cls for cls, words in _PULL_ERRORS
                if any(word in lowered for word in words)), None)
    if cls is None:
        cls = (exception.NotFound if status_code == 404
               else exception.ContainerRuntimeError)
    return cls('pull of %s failed: %s' % (reference, message),
               reason=message)


def _json_lines(data):
    """Decode the engine's progress output: JSON objects, one per line,
    given as bytes, str, or an already-decoded dict."""
    if isinstance(data, dict):
        yield data
        return
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    for line in data.splitlines():
        line = line.strip()
        if line:
            try:
                yield json.loads(line)
            except ValueError:
                yield {'stream': line}
