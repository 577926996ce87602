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

"""Engine-neutral value types of the container runtime layer."""

import dataclasses
import enum
from typing import Optional


class ContainerState(str, enum.Enum):
    """Lifecycle state of a container, as the engine reports it."""

    CREATED = 'created'
    RUNNING = 'running'
    PAUSED = 'paused'
    RESTARTING = 'restarting'
    EXITED = 'exited'
    DEAD = 'dead'
    REMOVING = 'removing'
    UNKNOWN = 'unknown'


@dataclasses.dataclass(frozen=True)
class Resources:
    """Resource limits of one container; None leaves a limit unset."""

    #: CPUs as a (possibly fractional) count; becomes a CFS quota.
    vcpus: Optional[float] = None
    #: Hard memory limit. Swap is capped at the same figure (no extra swap).
    memory_mb: Optional[int] = None
    #: Maximum number of processes and threads.
    pids_limit: Optional[int] = None
    #: Writable-layer size limit, where the storage driver supports it.
    disk_gb: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class OverlayLayers:
    """A container's root filesystem as the engine stacks it (overlayfs).

    Host directories: the read-only layers, top first, and the container's
    writable layer with overlayfs's work directory beside it.
    """

    lower_dirs: tuple
    upper_dir: str
    work_dir: str


@dataclasses.dataclass(frozen=True)
class Mount:
    """A host path exposed inside a container."""

    source: str
    target: str
    read_only: bool = False
    #: Mount propagation (e.g. 'rshared', 'rslave'); None keeps the default.
    propagation: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class SandboxSpec:
    """The long-lived container that owns a pod's network namespace."""

    name: str
    labels: dict
    #: The kernel's host and domain names (at most 64 bytes each) in the
    #: pod: its containers get them from the sandbox.
    hostname: Optional[str] = None
    domainname: Optional[str] = None
    #: OCI runtime name as the engine knows it; None is the engine default.
    runtime: Optional[str] = None
    mounts: tuple = ()
    #: Name servers the engine writes into the pod's /etc/resolv.conf (no
    #: search domains) each time the sandbox starts; () leaves the
    #: engine's default.
    dns_servers: tuple = ()
    #: ``(address, (name, ...))`` lines the engine adds to the pod's
    #: /etc/hosts, e.g. the pod's own names on its first address.
    hosts: tuple = ()


@dataclasses.dataclass(frozen=True)
class Sandbox:
    id: str
    name: str
    #: Path of the network namespace, for plugging interfaces into it.
    netns_path: Optional[str]
    labels: dict
    #: The spec's dns_servers: what /etc/resolv.conf holds after a start.
    dns_servers: tuple = ()


@dataclasses.dataclass(frozen=True)
class RestartPolicy:
    """When the engine starts a container again after its main process ended.

    ``name``: ``on-failure`` (a non-zero exit, at most
    ``maximum_retry_count`` times in a row; 0: no limit), ``always`` or
    ``unless-stopped`` (whatever the exit, until the container is stopped
    through the engine; ``always`` starts even a stopped one again when the
    engine restarts).
    """

    name: str
    maximum_retry_count: int = 0


@dataclasses.dataclass(frozen=True)
class Healthcheck:
    """A command the engine runs in the container to tell its health.

    Run with ``/bin/sh -c`` every ``interval_s`` seconds; ``retries``
    failures in a row (or runs longer than ``timeout_s``) make the container
    unhealthy. 0: the engine's default.
    """

    command: str
    interval_s: int = 0
    timeout_s: int = 0
    retries: int = 0


@dataclasses.dataclass(frozen=True)
class ContainerSpec:
    """What to run: everything needed to create one container."""

    name: str
    image: str
    labels: dict
    command: Optional[list] = None
    entrypoint: Optional[list] = None
    workdir: Optional[str] = None
    environment: dict = dataclasses.field(default_factory=dict)
    resources: Resources = Resources()
    #: OCI runtime (runc, runsc, kata, ...) as the engine names it.
    runtime: Optional[str] = None
    #: Sandbox id whose namespaces the container joins; None: no network.
    sandbox_id: Optional[str] = None
    hostname: Optional[str] = None
    mounts: tuple = ()
    tty: bool = False
    stdin_open: bool = False
    #: Linux capabilities added to the engine's default set.
    cap_add: tuple = ()
    #: Seconds the engine waits after the stop signal before killing.
    stop_timeout: Optional[int] = None
    #: None: never started again by the engine.
    restart_policy: Optional[RestartPolicy] = None
    healthcheck: Optional[Healthcheck] = None
    #: Every capability and device of the host, no seccomp or AppArmor
    #: profile.
    privileged: bool = False


@dataclasses.dataclass(frozen=True)
class ContainerStatus:
    """A container as the engine sees it now."""

    id: str
    name: str
    state: ContainerState
    labels: dict
    image: Optional[str] = None
    exit_code: Optional[int] = None
    #: The engine's own message for a failed start or a dead container.
    error: Optional[str] = None
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    pid: Optional[int] = None
    runtime: Optional[str] = None
    oom_killed: bool = False
    #: Whether the main process has a TTY and an open stdin (attach can
    #: write to it); None where the engine did not say (listings).
    tty: Optional[bool] = None
    stdin_open: Optional[bool] = None
    #: The limit of its writable layer the engine enforces, None if none
    #: (a limit only the container's creation can set).
    disk_limit_gb: Optional[int] = None
    #: Everything else the engine reports, for views that want details
    #: (limits, mounts, network mode). Keys are the engine's own.
    details: dict = dataclasses.field(default_factory=dict, repr=False)


class ContainerEventType(str, enum.Enum):
    """State changes that the engine announces as they happen."""

    STARTED = 'started'
    #: The main process ended (exit, kill, stop, out of memory).
    STOPPED = 'stopped'
    PAUSED = 'paused'
    UNPAUSED = 'unpaused'


@dataclasses.dataclass(frozen=True)
class ContainerEvent:
    container_id: str
    type: ContainerEventType
    labels: dict
    #: When the engine saw it, in nanoseconds since the epoch.
    time_ns: int


@dataclasses.dataclass(frozen=True)
class ExecResult:
    exit_code: int
    #: stdout and stderr interleaved as the process wrote them.
    output: bytes
    exec_id: str
    #: True when the output was cut at the caller's limit.
    truncated: bool = False


@dataclasses.dataclass
class StreamSession:
    """A live, bidirectional stream to a process (exec or attach).

    ``sock`` is a plain socket-like object: reads give the process output
    (raw when the session has a TTY, else in the engine's multiplexed
    framing), writes go to its stdin.
    """

    id: str
    sock: object
    tty: bool

    def close(self):
        close = getattr(self.sock, 'close', None)
        if close:
            close()


@dataclasses.dataclass(frozen=True)
class ProcessList:
    titles: list
    processes: list


@dataclasses.dataclass(frozen=True)
class BlockDeviceStats:
    """The I/O of one container on one block device of the host."""

    major: int
    minor: int
    read_bytes: int = 0
    write_bytes: int = 0
    read_requests: int = 0
    write_requests: int = 0


@dataclasses.dataclass(frozen=True)
class ContainerStats:
    """A point-in-time usage sample of one container."""

    cpu_percent: float
    memory_usage_bytes: int
    memory_limit_bytes: int
    block_read_bytes: int
    block_write_bytes: int
    net_rx_bytes: int
    net_tx_bytes: int
    pids: int
    #: CPU time used since the container started, in nanoseconds.
    cpu_time_ns: int = 0
    #: BlockDeviceStats for each device the container did I/O on.
    block_devices: tuple = ()

    @property
    def memory_percent(self):
        if not self.memory_limit_bytes:
            return 0.0
        return 100.0 * self.memory_usage_bytes / self.memory_limit_bytes


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple
    size_bytes: int
    labels: dict
    command: Optional[list] = None
    entrypoint: Optional[list] = None
    workdir: Optional[str] = None
    environment: tuple = ()
    created: Optional[str] = None
    #: When a name was last given to the image (RFC 3339), None if never:
    #: tagging an image again marks it used.
    last_tagged: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ImageTransfer:
    """What loading or pulling one image brought into the engine."""

    #: References the archive held (load), or the image id (pull).
    references: tuple
    #: Layers the engine did not have and stored now.
    layers_stored: int = 0
    #: Layers it had already (shared with other images, not stored again).
    layers_present: int = 0
    #: Bytes of the layers stored now (uncompressed for a load, as the
    #: registry sent them for a pull).
    bytes_stored: int = 0


@dataclasses.dataclass(frozen=True)
class EngineInfo:
    """Facts about the engine and its host, for capacity and capabilities."""

    name: str
    version: str
    #: CPU architecture as the kernel names it (x86_64, aarch64, ...).
    architecture: str
    cpus: int
    memory_bytes: int
    data_root: str
    storage_driver: str
    #: OCI runtimes the engine can start containers with.
    runtimes: tuple
    default_runtime: str
    #: Size and free space of the filesystem holding the data root.
    disk_total_bytes: int
    disk_free_bytes: int
    #: Whether containers keep running while the engine stops or restarts.
    live_restore: bool = False
