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

"""The engine's JSON (inspect, list, stats, events) as runtime types."""

import datetime

from nova_zun.runtime.docker import errors
from nova_zun.runtime import types

_STATES = {s.value: s for s in types.ContainerState}


def status_from_inspect(info):
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
        disk_limit_gb=_size_gb((host_config.get('StorageOpt') or {})
                               .get('size')),
        details=info)


def _size_gb(size):
    """GiB of a size the backend set as ``<n>G``; None for anything else."""
    if size and size.endswith('G') and size[:-1].isdigit():
        return int(size[:-1])
    return None


def status_from_list(item):
    return types.ContainerStatus(
        id=item['Id'],
        name=(item.get('Names') or ['/'])[0].lstrip('/'),
        state=_STATES.get(item.get('State'), types.ContainerState.UNKNOWN),
        labels=item.get('Labels') or {},
        image=item.get('Image'))


def image_info(info):
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
        last_tagged=last_tagged(info))


def image_info_from_list(item):
    return types.ImageInfo(id=item['Id'],
                           tags=tuple(item.get('RepoTags') or ()),
                           size_bytes=item.get('Size') or 0,
                           labels=item.get('Labels') or {},
                           created=_iso_time(item.get('Created')))


def last_tagged(info):
    when = (info.get('Metadata') or {}).get('LastTagTime') or ''
    # The engine gives the zero time for an image never tagged.
    return None if not when or when.startswith('0001-') else when


def sandbox_from_inspect(info):
    netns = (info.get('NetworkSettings') or {}).get('SandboxKey')
    if not netns:
        pid = (info.get('State') or {}).get('Pid')
        netns = '/proc/%d/ns/net' % pid if pid else None
    return types.Sandbox(
        id=info['Id'], name=info['Name'].lstrip('/'), netns_path=netns,
        labels=info['Config'].get('Labels') or {},
        dns_servers=tuple(info['HostConfig'].get('Dns') or ()))


def stats(s):
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
    devices = _block_devices(s.get('blkio_stats') or {})
    networks = (s.get('networks') or {}).values()
    return types.ContainerStats(
        cpu_percent=cpu_percent,
        memory_usage_bytes=usage,
        memory_limit_bytes=mem.get('limit', 0),
        block_read_bytes=sum(d.read_bytes for d in devices),
        block_write_bytes=sum(d.write_bytes for d in devices),
        net_rx_bytes=sum(n.get('rx_bytes', 0) for n in networks),
        net_tx_bytes=sum(n.get('tx_bytes', 0) for n in networks),
        pids=(s.get('pids_stats') or {}).get('current', 0),
        cpu_time_ns=(cpu.get('cpu_usage') or {}).get('total_usage', 0),
        block_devices=devices)


# The engine's blkio lists (cgroup v1 and v2) and the fields they fill.
_BLKIO_FIELDS = {
    ('io_service_bytes_recursive', 'read'): 'read_bytes',
    ('io_service_bytes_recursive', 'write'): 'write_bytes',
    ('io_serviced_recursive', 'read'): 'read_requests',
    ('io_serviced_recursive', 'write'): 'write_requests',
}


def _block_devices(blkio):
    """BlockDeviceStats by device, from the engine's blkio_stats."""
    by_device = {}
    for (key, op), field in _BLKIO_FIELDS.items():
        for entry in blkio.get(key) or ():
            if entry.get('op', '').lower() != op:
                continue
            device = by_device.setdefault(
                (entry.get('major', 0), entry.get('minor', 0)), {})
            device[field] = device.get(field, 0) + entry.get('value', 0)
    return tuple(types.BlockDeviceStats(major, minor, **fields)
                 for (major, minor), fields in sorted(by_device.items()))


EVENT_TYPES = {
    'start': types.ContainerEventType.STARTED,
    'die': types.ContainerEventType.STOPPED,
    'pause': types.ContainerEventType.PAUSED,
    'unpause': types.ContainerEventType.UNPAUSED,
}


class EventStream:
    """The engine's event stream as ContainerEvents.

    It can be closed from another thread.
    """

    def __init__(self, stream):
        self._stream = stream

    def __iter__(self):
        for item in errors.translated_chunks(self._stream, 'events'):
            actor = item.get('Actor') or {}
            event_type = EVENT_TYPES.get(item.get('Action'))
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


def labels_filter(labels):
    return {'label': ['%s=%s' % kv for kv in (labels or {}).items()]}


def _iso_time(epoch):
    """An image time of the engine as RFC 3339 text.

    The engine lists images with an epoch and inspects them with RFC 3339 text:
    both are given as text.
    """
    if not isinstance(epoch, (int, float)):
        return epoch
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
