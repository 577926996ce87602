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

"""The Docker backend's runtime: the engine connection, sandboxes,
containers, exec, and what else works on containers (logs, attach, top,
stats, archives, commit). Images are its :class:`images.ImageService`.
"""

import logging
import os
import threading
import time
from urllib import parse

import docker
from docker import errors as docker_errors
import requests

from nova_zun.runtime import base
from nova_zun.runtime.docker import conversions
from nova_zun.runtime.docker import errors
from nova_zun.runtime.docker import images
from nova_zun.runtime.docker import streams
from nova_zun.runtime import exception
from nova_zun.runtime import file_archive
from nova_zun.runtime import labels as label_keys
from nova_zun.runtime import shims
from nova_zun.runtime import types

LOG = logging.getLogger(__name__)

_CPU_PERIOD_US = 100000
_NS_PER_S = 10 ** 9
# The sandbox's pause process needs next to nothing under runc. Runtimes
# that run a kernel of their own inside the container's cgroup need more:
# gVisor's sentry and gofer alone use ~40 threads and ~14 MB, and refuse to
# start under 16 pids ("cannot read client sync file").
_SANDBOX_LIMITS = {'pids_limit': 16, 'mem_limit': '16m'}
_SANDBOX_LIMITS_KERNEL = {'pids_limit': 256, 'mem_limit': '128m'}
_RUNC_RUNTIMES = (None, '', 'runc', 'io.containerd.runc.v2', 'crun')


class DockerRuntime(images.ImageService, base.ContainerRuntime):
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

    @errors.engine_call
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

    @staticmethod
    def _dns(servers):
        """The engine's DNS settings for a sandbox using ``servers``.

        The engine writes resolv.conf at every start of the sandbox (the
        workload bind-mounts the same file). Without explicit search domains
        and options it would copy the host's: ``.`` means none, ``ndots:1`` is
        the resolver's default.
        """
        if not servers:
            return {}
        return {'dns': list(servers), 'dns_search': ['.'],
                'dns_opt': ['ndots:1']}

    @errors.engine_call
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
            # The engine writes these lines after its own localhost ones;
            # it takes "NAMES:ADDRESS" and splits at the first colon.
            extra_hosts=['%s:%s' % (' '.join(names), address)
                         for address, names in spec.hosts] or None,
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
            return conversions.sandbox_from_inspect(
                self._api.inspect_container(created['Id']))
        try:
            return self.start_sandbox(created['Id'])
        except Exception:
            self._remove_quietly(created['Id'])
            raise

    @errors.engine_call
    def start_sandbox(self, sandbox):
        self.start(sandbox)
        return self.get_sandbox(sandbox)

    @errors.engine_call
    def get_sandbox(self, sandbox):
        return conversions.sandbox_from_inspect(
            self._api.inspect_container(sandbox))

    @errors.engine_call
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
            'privileged': spec.privileged,
            # Zun's privileged containers may gain privileges (setuid).
            'security_opt': None if spec.privileged else ['no-new-privileges'],
            'cap_add': list(spec.cap_add) or None,
            'pids_limit': res.pids_limit,
            'mounts': [self._mount(m) for m in spec.mounts] or None,
            'runtime': spec.runtime,
        }
        if spec.restart_policy:
            kwargs['restart_policy'] = {
                'Name': spec.restart_policy.name,
                'MaximumRetryCount': spec.restart_policy.maximum_retry_count}
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

    @staticmethod
    def _healthcheck(check):
        if check is None:
            return None
        return {'test': ['CMD-SHELL', check.command],
                'interval': check.interval_s * _NS_PER_S,
                'timeout': check.timeout_s * _NS_PER_S,
                'retries': check.retries}

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
            healthcheck=self._healthcheck(spec.healthcheck),
            host_config=self._host_config(spec, with_storage_limit),
            use_config_proxy=False)['Id']

    @errors.engine_call
    def create_container(self, spec):
        limit = (spec.resources.disk_gb and
                 self._storage_limit_supported is not False)
        try:
            return self._create(spec, limit)
        except docker_errors.APIError as exc:
            if not limit or 'storage-opt' not in errors.explanation(exc):
                raise
            # Only some graph drivers (overlay2 on xfs with pquota, btrfs,
            # zfs) can limit the writable layer: say so once, go on without.
            self._storage_limit_supported = False
            LOG.warning('The engine cannot limit container disk size (%s); '
                        'root disk sizes are not enforced on this host.',
                        errors.explanation(exc))
            return self._create(spec, False)

    @errors.engine_call
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

    @errors.engine_call
    def stop(self, container, timeout=None):
        self._api.stop(container, timeout=timeout)

    @errors.engine_call
    def restart(self, container, timeout=None):
        self._api.restart(container, timeout=timeout if timeout is not None
                          else 10)

    @errors.engine_call
    def kill(self, container, signal=None):
        self._api.kill(container, signal=signal)

    @errors.engine_call
    def pause(self, container):
        self._api.pause(container)

    @errors.engine_call
    def unpause(self, container):
        self._api.unpause(container)

    @errors.engine_call
    def remove(self, container, force=False):
        self._api.remove_container(container, force=force)

    @errors.engine_call
    def status(self, container):
        return conversions.status_from_inspect(
            self._api.inspect_container(container))

    @errors.engine_call
    def list_containers(self, labels=None):
        return [conversions.status_from_list(c) for c in self._api.containers(
            all=True, filters=conversions.labels_filter(labels))]

    @errors.engine_call
    def events(self, labels=None, since_ns=None):
        filters = dict(conversions.labels_filter(labels), type=['container'],
                       event=sorted(conversions.EVENT_TYPES))
        since = None
        if since_ns is not None:
            since = '%d.%09d' % divmod(since_ns, 10 ** 9)
        return conversions.EventStream(self._api.events(
            since=since, filters=filters, decode=True))

    @errors.engine_call
    def update_resources(self, container, resources):
        # The SDK's update_container knows no PidsLimit (API >= 1.40): the
        # body goes to the engine's endpoint through the SDK's session.
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
        response = api.post('%s/v%s/containers/%s/update' % (
            api.base_url, api.api_version, parse.quote(container, safe='')),
            json=body, timeout=api.timeout)
        try:
            response.raise_for_status()
        except requests.exceptions.HTTPError as exc:
            # Raises the SDK's error for the engine's answer (NotFound...).
            docker_errors.create_api_error_from_http_exception(exc)

    def _exec_create(self, container, command, tty, stdin, environment,
                     workdir, user=''):
        if not command:
            raise exception.InvalidRequest('empty command')
        return self._api.exec_create(
            container, command, stdout=True, stderr=True, stdin=stdin,
            tty=tty, environment=environment, workdir=workdir,
            user=user or '')['Id']

    @errors.engine_call
    def exec(self, container, command, *, timeout=None, max_output=None,
             environment=None, workdir=None, user=None):
        exec_id = self._exec_create(container, command, False, False,
                                    environment, workdir, user)
        deadline = time.monotonic() + timeout if timeout else None
        sock = streams.StreamSocket(self._api.exec_start(exec_id, socket=True))
        try:
            output, truncated = streams.read_output(sock, False, deadline,
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
        return types.StreamSession(id=exec_id, sock=streams.StreamSocket(sock),
                                   tty=tty)

    @errors.engine_call
    def exec_stream(self, container, command, *, tty=False, stdin=False,
                    environment=None, workdir=None):
        return self._exec_start_stream(
            self._exec_create(container, command, tty, stdin, environment,
                              workdir), tty)

    @errors.engine_call
    def create_exec(self, container, command, *, tty=False, stdin=False,
                    environment=None, workdir=None):
        return self._exec_create(container, command, tty, stdin,
                                 environment, workdir)

    @errors.engine_call
    def start_exec(self, exec_id):
        info = self._api.exec_inspect(exec_id)
        if info.get('Running') or info.get('ExitCode') is not None:
            raise exception.Conflict('exec %s was started before' % exec_id)
        return self._exec_start_stream(
            exec_id, bool((info.get('ProcessConfig') or {}).get('tty')))

    def stream_output(self, session):
        return streams.payloads(session)

    @errors.engine_call
    def exec_resize(self, exec_id, height, width):
        self._api.exec_resize(exec_id, height=height, width=width)

    @errors.engine_call
    def exec_status(self, exec_id):
        info = self._api.exec_inspect(exec_id)
        return bool(info.get('Running')), info.get('ExitCode')

    @errors.engine_call
    def exec_container(self, exec_id):
        return self._api.exec_inspect(exec_id)['ContainerID']

    @errors.engine_call
    def logs(self, container, *, stdout=True, stderr=True, tail=None,
             since=None, timestamps=False, follow=False, stream=False):
        stream = stream or follow
        result = self._api.logs(
            container, stdout=stdout, stderr=stderr,
            timestamps=timestamps, tail='all' if tail is None else tail,
            since=since, stream=stream, follow=follow)
        if stream:
            return errors.translated_chunks(result, 'logs')
        return result

    @errors.engine_call
    def attach(self, container, *, stdin=True, logs=False):
        tty = bool(self._api.inspect_container(container)['Config']['Tty'])
        sock = self._api.attach_socket(container, params={
            'stdin': int(stdin), 'stdout': 1, 'stderr': 1, 'stream': 1,
            'logs': int(logs)})
        return types.StreamSession(id=container,
                                   sock=streams.StreamSocket(sock), tty=tty)

    @errors.engine_call
    def resize(self, container, height, width):
        self._api.resize(container, height=height, width=width)

    @errors.engine_call
    def top(self, container, ps_args=None):
        result = self._api.top(container, ps_args=ps_args)
        return types.ProcessList(titles=result.get('Titles') or [],
                                 processes=result.get('Processes') or [])

    @errors.engine_call
    def stats(self, container):
        return conversions.stats(self._api.stats(container, stream=False))

    @errors.engine_call
    def get_archive(self, container, path):
        path = file_archive.container_path(path)
        chunks, stat = self._api.get_archive(container, path)
        return errors.translated_chunks(chunks, 'get_archive'), stat

    @errors.engine_call
    def put_archive(self, container, path, data):
        path = file_archive.container_path(path)
        file_archive.check(data)
        self._api.put_archive(container, path, data)

    @errors.engine_call
    def root_layers(self, container):
        graph = self._api.inspect_container(container).get('GraphDriver') or {}
        data = graph.get('Data') or {}
        if graph.get('Name') != 'overlay2' or not data.get('UpperDir'):
            raise exception.ConfigurationError(
                'the engine stores containers with storage driver %s, not '
                'overlay2: their root filesystems cannot be mounted'
                % graph.get('Name'))
        return types.OverlayLayers(
            lower_dirs=tuple(data['LowerDir'].split(':')),
            upper_dir=data['UpperDir'], work_dir=data['WorkDir'])

    @errors.engine_call
    def commit(self, container, message=None, author=None):
        return self._api.commit(container, message=message,
                                author=author)['Id']
