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

"""Zun-v1-shaped JSON: containers (from Nova servers), stats, top."""

import json
import re

import flask
from oslo_utils import strutils

#: Server metadata of the labels given at create: shown, never the
#: engine's (whose labels say who owns a container).
META_LABELS = 'zun_labels'
#: Server metadata of the memory (MiB) and CPUs asked for (the driver
#: limits the workload to them, within the flavor).
META_MEMORY = 'zun_memory'
META_CPU = 'zun_cpu'
#: Server metadata of the restart policy: ``<Name>[:<MaximumRetryCount>]``
#: as the engine's command line spells it.
META_RESTART_POLICY = 'zun_restart_policy'

# Nova server status -> Zun container status (zun/common/consts.py).
_STATUS = {
    'BUILD': 'Creating',
    'ACTIVE': 'Running',
    'SHUTOFF': 'Stopped',
    'STOPPED': 'Stopped',
    'SUSPENDED': 'Stopped',
    'SHELVED': 'Stopped',
    'SHELVED_OFFLOADED': 'Stopped',
    'PAUSED': 'Paused',
    'REBOOT': 'Restarting',
    'HARD_REBOOT': 'Restarting',
    'REBUILD': 'Rebuilding',
    'DELETED': 'Deleted',
    'SOFT_DELETED': 'Deleted',
    'ERROR': 'Error',
}

# Runtime state (nova_zun.runtime.types.ContainerState) -> Zun status.
RUNTIME_STATUS = {
    'created': 'Created',
    'running': 'Running',
    'paused': 'Paused',
    'restarting': 'Restarting',
    'exited': 'Stopped',
    'dead': 'Dead',
    'removing': 'Deleting',
    'unknown': 'Unknown',
}


# Nova power state (nova/compute/power_state.py) of an ACTIVE server ->
# Zun status: the workload paused or stopped in the engine (the native
# API pauses there, a process may exit), which Nova keeps ACTIVE.
_ACTIVE_POWER_STATE = {3: 'Paused', 4: 'Stopped', 6: 'Stopped'}
#: Nova's power state NOSTATE ("pending"): the driver's for a workload that
#: never started.
_NOSTATE = 0
#: Server metadata: ``false`` when create did not ask to run the container
#: (the driver then creates the workload without starting it).
META_RUN = 'zun_run'
#: Server metadata: ``true`` when the server goes as its workload stops by
#: itself.
META_AUTO_REMOVE = 'zun_auto_remove'
#: Server metadata: ``true`` when a workload removed outside Nova is made
#: anew (the driver hard reboots the server).
META_AUTO_HEAL = 'zun_auto_heal'
#: Server metadata of the health check as create took it (JSON).
META_HEALTHCHECK = 'zun_healthcheck'
#: The ports opened by the container's own security group
#: (``["80/tcp"]``); nothing the driver reads.
META_EXPOSED_PORTS = 'zun_exposed_ports'


def created(server):
    """Whether the server's workload was made at create and never started.

    Zun's Created: ACTIVE, power state NOSTATE, created without ``run``.
    """
    return (server.get('status') == 'ACTIVE' and
            server.get('OS-EXT-STS:power_state') == _NOSTATE and
            (server.get('metadata') or {}).get(META_RUN) == 'false')


def status(server):
    if server.get('OS-EXT-STS:task_state') == 'deleting':
        return 'Deleting'
    if created(server):
        return 'Created'
    if server.get('status') == 'ACTIVE':
        return _ACTIVE_POWER_STATE.get(
            server.get('OS-EXT-STS:power_state'), 'Running')
    return _STATUS.get(server.get('status'), 'Unknown')


def _addresses(server):
    out = {}
    for net, addrs in (server.get('addresses') or {}).items():
        out[net] = [{'addr': a.get('addr'), 'version': a.get('version'),
                     'port': None, 'subnet_id': None,
                     'preserve_on_delete': False}
                    for a in addrs]
    return out


def with_ports(view, ports):
    """``view`` with Zun's addresses and groups from its Neutron ports.

    Zun keys addresses by network id and gives each its port and subnet,
    and names the groups of the container's ports by id. ``ports`` are the
    server's (``Nova.ports_of``); a server without any keeps what Nova
    says.
    """
    if not ports:
        return view
    addresses = {}
    groups = set()
    for port in ports:
        groups.update(port.get('security_groups') or ())
        for fixed in port.get('fixed_ips') or ():
            addr = fixed.get('ip_address') or ''
            addresses.setdefault(port['network_id'], []).append({
                'addr': addr, 'version': 6 if ':' in addr else 4,
                'port': port['id'], 'subnet_id': fixed.get('subnet_id'),
                'preserve_on_delete': False})
    view['addresses'] = addresses
    view['security_groups'] = sorted(groups)
    return view


def exposed_ports(metadata):
    """The ``<port>/<protocol>`` the server metadata says are exposed."""
    ports = _json_metadata(metadata, META_EXPOSED_PORTS)
    return [p for p in ports if isinstance(p, str) and
            re.match(r'^[0-9]{1,5}/(tcp|udp)$', p)] \
        if isinstance(ports, list) else []


def _json_metadata(metadata, key):
    value = metadata.get(key)
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _limit(metadata, key, kind, allocated):
    """What Zun's create or update asked (server metadata ``key``).

    Within ``allocated`` (the flavor's), as the driver applies it.
    """
    try:
        asked = kind(metadata[key])
    except (KeyError, ValueError):
        return allocated
    return min(asked, allocated) if asked > 0 else allocated


def _labels(metadata):
    # Server metadata anyone may set through Nova: only a JSON object of
    # strings is labels.
    given = _json_metadata(metadata, META_LABELS)
    if isinstance(given, dict) and all(isinstance(v, str)
                                       for v in given.values()):
        return given
    return {}


def restart_policy_metadata(policy):
    """The server metadata value of Zun's ``restart_policy``, or None."""
    if not policy or policy.get('Name', 'no') == 'no':
        return None
    count = int(policy.get('MaximumRetryCount') or 0)
    return policy['Name'] + (':%d' % count if count else '')


def _restart_policy(metadata):
    """Zun's view of the restart policy (the count a string, as Zun's)."""
    name, _, count = (metadata.get(META_RESTART_POLICY) or 'no').partition(
        ':')
    return {'Name': name, 'MaximumRetryCount': count or '0'}


def _healthcheck(metadata):
    """Zun's view of the health check: its command is ``test``."""
    check = _json_metadata(metadata, META_HEALTHCHECK)
    if not isinstance(check, dict):
        return {}
    view = {k: check.get(k) for k in ('interval', 'retries', 'timeout')}
    view['test'] = check.get('cmd')
    return view


def container(server, include_runtime_state=None):
    """A Nova server as a Zun container (flat JSON, Zun's field names)."""
    flavor = server.get('flavor') or {}
    extra_specs = flavor.get('extra_specs') or {}
    metadata = server.get('metadata') or {}
    image = server.get('image') or {}
    fault = server.get('fault') or {}
    command = _json_metadata(metadata, 'zun_command')
    entrypoint = _json_metadata(metadata, 'zun_entrypoint')
    exposed = exposed_ports(metadata)
    uuid = server['id']
    href = flask.request.host_url + 'v1/containers/' + uuid
    view = {
        'uuid': uuid,
        'links': [{'href': href, 'rel': 'self'},
                  {'href': href, 'rel': 'bookmark'}],
        'name': server.get('name'),
        'project_id': server.get('tenant_id'),
        'user_id': server.get('user_id'),
        'image': image.get('id') if isinstance(image, dict) else None,
        'image_driver': 'glance',
        'status': status(server),
        'status_reason': fault.get('message'),
        'status_detail': None,
        'task_state': server.get('OS-EXT-STS:task_state'),
        'addresses': _addresses(server),
        'ports': sorted({int(p.split('/')[0]) for p in exposed}),
        'exposed_ports': {p: {} for p in exposed},
        'memory': (str(_limit(metadata, META_MEMORY, int, flavor['ram']))
                   if flavor.get('ram') is not None else None),
        'cpu': (_limit(metadata, META_CPU, float, float(flavor['vcpus']))
                if flavor.get('vcpus') is not None else None),
        'disk': flavor.get('disk') or 0,
        'host': server.get('OS-EXT-SRV-ATTR:host'),
        'runtime': extra_specs.get('zun:runtime'),
        'command': command,
        'entrypoint': entrypoint,
        'workdir': metadata.get('zun_workdir'),
        'environment': _json_metadata(metadata, 'zun_environment') or {},
        'labels': _labels(metadata),
        'hostname': server.get('OS-EXT-SRV-ATTR:hostname'),
        'created_at': server.get('created'),
        'updated_at': server.get('updated'),
        'restart_policy': _restart_policy(metadata),
        'security_groups': [g.get('name')
                            for g in server.get('security_groups') or ()],
        # What create asked (the driver's server metadata): zun-ui offers
        # a container's console only when it is interactive.
        'interactive': strutils.bool_from_string(
            metadata.get('zun_interactive')),
        'tty': strutils.bool_from_string(metadata.get('zun_tty')),
        'auto_remove': metadata.get(META_AUTO_REMOVE) == 'true',
        'auto_heal': metadata.get(META_AUTO_HEAL) == 'true',
        'privileged': extra_specs.get('zun:privileged') == 'true',
        'healthcheck': _healthcheck(metadata),
        'cpu_policy': 'shared',
        'registry_id': None,
    }
    if include_runtime_state:
        view['status'] = RUNTIME_STATUS.get(include_runtime_state,
                                            view['status'])
    return view


def stats(container, sample):
    """Zun's flat stats dict (zun/container/docker/driver.py stats).

    ``CONTAINER`` is the container's UUID where Zun gives its name: the
    name lives in Nova, and stats answers from the engine alone.
    """
    mib = 1024.0 * 1024.0
    return {
        'CONTAINER': container,
        'CPU %': round(sample.cpu_percent, 3),
        'MEM USAGE(MiB)': round(sample.memory_usage_bytes / mib, 3),
        'MEM LIMIT(MiB)': round(sample.memory_limit_bytes / mib, 3),
        'MEM %': round(sample.memory_percent, 3),
        'BLOCK I/O(B)': '%d/%d' % (sample.block_read_bytes,
                                   sample.block_write_bytes),
        'NET I/O(B)': '%d/%d' % (sample.net_rx_bytes, sample.net_tx_bytes),
        'PIDS': sample.pids,
    }


def top(process_list):
    return {'Titles': list(process_list.titles),
            'Processes': [list(p) for p in process_list.processes]}


def networks(interfaces, fixed_ips=True):
    """Nova's interface attachments as Zun's network list.

    From microversion 1.18 a port each with its fixed IPs, before that an
    address each.
    """
    out = []
    for interface in interfaces:
        ips = [{'subnet_id': ip.get('subnet_id'),
                'version': 6 if ':' in ip.get('ip_address', '') else 4,
                'ip_address': ip.get('ip_address')}
               for ip in interface.get('fixed_ips') or ()]
        if fixed_ips:
            out.append({'net_id': interface.get('net_id'),
                        'port_id': interface.get('port_id'),
                        'fixed_ips': ips})
        else:
            out.extend(dict(ip, net_id=interface.get('net_id'),
                            port_id=interface.get('port_id'))
                       for ip in ips)
    return out
