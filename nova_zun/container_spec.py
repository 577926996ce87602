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

"""Nova instance -> runtime specs: names, labels, limits, what to run.

What the container runs comes from the image (its own CMD, ENTRYPOINT,
WORKDIR, ENV), overridden by Glance image properties, overridden in turn by
server metadata given at boot (so a user can set them per server, and the
native API's create can pass them through Nova):

``zun_command``
    JSON list of strings, or a string split like a shell would.
``zun_entrypoint``
    Same forms as ``zun_command``.
``zun_workdir``
    Absolute path.
``zun_environment``
    JSON object of name -> value; merged over the image's environment,
    server metadata winning per name.
``zun_interactive``, ``zun_tty``
    ``true`` or ``false`` (default): keep the main process's stdin open, and
    give it a terminal, so that it can be attached to (``zun attach``).
``zun_memory``, ``zun_cpu`` (server metadata only)
    MiB and vCPUs the workload is limited to, as Zun's create or update
    asked; never more than the flavor's (what Placement allocated).
``zun_stop_timeout`` (server metadata only)
    Seconds the workload gets after SIGTERM when Nova powers it off (Zun's
    stop timeout); never more than the timeout Nova passes.
``zun_run`` (server metadata only)
    ``false``: the build creates the workload without starting it (Zun's
    create without ``run``); Nova's power state is then NOSTATE ("pending")
    and a hard reboot starts it. Default ``true``.
``zun_healthcheck`` (server metadata only)
    JSON object as Zun's create takes it: ``cmd`` (run with ``/bin/sh
    -c``), ``interval`` and ``timeout`` (seconds), ``retries``; the engine
    runs it and keeps the workload's health (Zun's healthcheck).
``zun_auto_remove`` (server metadata only)
    ``true``: when the workload stops by itself (its main process ended,
    not a stop through Nova), the server is deleted (Zun's auto_remove).
``zun_files`` (server metadata only)
    ``user_data``: the server's user data is JSON ``{"files": [{"path",
    "content"}]}`` (absolute paths, base64 contents), written into the
    workload whenever it is created, before it starts (Zun's injected
    files).
``zun_auto_heal`` (server metadata only)
    ``true``: a workload removed from the engine outside Nova while the
    server runs is made anew by a hard reboot (Zun's auto_heal).
``zun_restart_policy`` (server metadata only)
    ``no`` (default), ``on-failure``, ``on-failure:<N>`` (at most N
    restarts in a row), ``always`` or ``unless-stopped``: the engine starts
    the workload again when its main process ends (Zun's restart policy).
    A stop through Nova is never undone: ``always`` is given to the engine
    as ``unless-stopped``, which differs only in starting a stopped
    container again when the engine restarts, and Nova would stop that
    server again.
``zun_runtime`` (image property only; flavors use ``zun:runtime``)
    Name of an OCI runtime from ``[zun] runtimes``: ``[zun]
    default_runtime`` or one of ``[zun] image_runtimes``.

Flavor extra specs (set by operators, who own flavors): ``zun:runtime``,
``zun:pids_limit``, ``zun:cap_add`` (comma-separated Linux capabilities
added to the engine's default set, e.g. ``NET_ADMIN,SYS_TIME``) and
``zun:privileged`` (``true``: the workload runs privileged, Zun's
privileged; never from server metadata, which any user sets).
"""

import base64
import binascii
import json
import posixpath
import re
import shlex

from nova import exception
from oslo_log import log as logging
from oslo_utils import strutils

from nova_zun.runtime import labels
from nova_zun.runtime import types

META_COMMAND = 'zun_command'
META_ENTRYPOINT = 'zun_entrypoint'
META_WORKDIR = 'zun_workdir'
META_ENVIRONMENT = 'zun_environment'
META_INTERACTIVE = 'zun_interactive'
META_TTY = 'zun_tty'
META_MEMORY = 'zun_memory'
META_CPU = 'zun_cpu'
META_STOP_TIMEOUT = 'zun_stop_timeout'
META_RESTART_POLICY = 'zun_restart_policy'
META_RUN = 'zun_run'
META_AUTO_REMOVE = 'zun_auto_remove'
META_AUTO_HEAL = 'zun_auto_heal'
META_FILES = 'zun_files'
#: zun_files: the server's user data holds the files to inject.
FILES_IN_USER_DATA = 'user_data'
META_HEALTHCHECK = 'zun_healthcheck'
_HEALTHCHECK_NUMBERS = ('interval', 'timeout', 'retries')
IMAGE_RUNTIME = 'zun_runtime'
SPEC_RUNTIME = 'zun:runtime'
SPEC_PIDS_LIMIT = 'zun:pids_limit'
SPEC_CAP_ADD = 'zun:cap_add'
SPEC_PRIVILEGED = 'zun:privileged'

_CAPABILITY = re.compile(r'^[A-Z][A-Z0-9_]*$')
_ENV_NAME = re.compile(r'^[^=\0]+$')
#: Where Debian's /etc/hosts puts the host's own name when it has no
#: address of its own to put it on.
_OWN_NAME_ADDRESS = '127.0.1.1'
#: Bytes of a DNS label, the length Nova cuts the hostnames it makes to
#: (the kernel holds 64 bytes of a host name).
_LABEL_MAX = 63
#: Bytes of a domain name the kernel holds (__NEW_UTS_LEN).
_DOMAIN_MAX = 64

LOG = logging.getLogger(__name__)


def workload_name(instance):
    return 'nova-%s' % instance.uuid


def sandbox_name(instance):
    return 'nova-%s-sandbox' % instance.uuid


def rescue_name(instance):
    return 'nova-%s-rescue' % instance.uuid


def instance_labels(instance, host, role):
    """Every identity label, set in full by us.

    Setting them all means none can come from the image (the engine merges
    image labels into container labels).
    """
    return {
        labels.INSTANCE: instance.uuid,
        labels.PROJECT: instance.project_id or '',
        labels.USER: instance.user_id or '',
        labels.HOST: host,
        labels.ROLE: role,
    }


def _invalid(instance, reason):
    return exception.InvalidInput(
        reason='instance %s: %s' % (instance.uuid, reason))


def _image_properties(instance):
    """Glance properties of the instance's image.

    Nova copied them into system metadata at boot (``image_<key>``).
    """
    sysmeta = instance.system_metadata or {}
    return {key[len('image_'):]: value for key, value in sysmeta.items()
            if key.startswith('image_')}


def _argv(instance, key, value):
    if value is None:
        return None
    if isinstance(value, str) and value.lstrip().startswith('['):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _invalid(instance, '%s is not a JSON list: %s' % (key, exc))
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise _invalid(instance, '%s: %s' % (key, exc))
    if (not isinstance(value, list) or not value or
            not all(isinstance(v, str) for v in value)):
        raise _invalid(instance, '%s must be a non-empty list of strings'
                       % key)
    return value


def _environment(instance, key, value):
    if value is None:
        return {}
    try:
        env = json.loads(value)
    except ValueError as exc:
        raise _invalid(instance, '%s is not a JSON object: %s' % (key, exc))
    if not isinstance(env, dict):
        raise _invalid(instance, '%s must be a JSON object' % key)
    for name, val in env.items():
        if not _ENV_NAME.match(name) or not isinstance(val, str):
            raise _invalid(instance, '%s: bad variable %r (names have no '
                                     '"=", values are strings)' % (key, name))
    return env


def _workdir(instance, key, value):
    if value is not None and not value.startswith('/'):
        raise _invalid(instance, '%s must be an absolute path' % key)
    return value


def _flag(instance, key, value):
    if value is None:
        return False
    try:
        return strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise _invalid(instance, '%s must be true or false, not %r'
                       % (key, value))


def _lookup(instance, key):
    """Server metadata first, then the image's properties."""
    metadata = instance.metadata or {}
    if key in metadata:
        return 'server metadata ' + key, metadata[key]
    props = _image_properties(instance)
    if key in props:
        return 'image property ' + key, props[key]
    return key, None


def run_settings(instance):
    """Return command, entrypoint, workdir and environment overrides.

    Also whether the main process keeps its stdin open and has a terminal.
    """
    env = {}
    props = _image_properties(instance)
    if META_ENVIRONMENT in props:
        env.update(_environment(instance, 'image property ' +
                                META_ENVIRONMENT, props[META_ENVIRONMENT]))
    metadata = instance.metadata or {}
    if META_ENVIRONMENT in metadata:
        env.update(_environment(instance, 'server metadata ' +
                                META_ENVIRONMENT, metadata[META_ENVIRONMENT]))
    return {
        'command': _argv(instance, *_lookup(instance, META_COMMAND)),
        'entrypoint': _argv(instance, *_lookup(instance, META_ENTRYPOINT)),
        'workdir': _workdir(instance, *_lookup(instance, META_WORKDIR)),
        'environment': env,
        'stdin_open': _flag(instance, *_lookup(instance, META_INTERACTIVE)),
        'tty': _flag(instance, *_lookup(instance, META_TTY)),
    }


def runtime_name(instance, runtimes, default, image_runtimes=()):
    """The OCI runtime the engine must use; unknown names fail.

    It comes from the flavor's zun:runtime, else the image's zun_runtime, else
    the default.

    An image may name only ``default`` or one of ``image_runtimes``: its owner
    must not weaken the isolation the operator chose. Refused rather than
    replaced by the default, as any runtime asked for: a server never runs
    under another runtime than the one it asked for.
    """
    name = (instance.flavor.extra_specs or {}).get(SPEC_RUNTIME)
    if not name:
        name = _image_properties(instance).get(IMAGE_RUNTIME) or default
        if name != default and name not in image_runtimes:
            # Short: Nova keeps 255 characters of a fault's message.
            raise _invalid(instance, 'images may not choose container '
                                     'runtime %r here (image property %s; '
                                     '[zun] image_runtimes: %s)'
                           % (name, IMAGE_RUNTIME,
                              ', '.join(image_runtimes) or 'none'))
    if name not in runtimes:
        raise _invalid(instance, 'unknown container runtime %r (this cloud '
                                 'offers: %s)'
                       % (name, ', '.join(sorted(runtimes)) or 'none'))
    return name


def _int_spec(instance, key, default):
    value = (instance.flavor.extra_specs or {}).get(key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _invalid(instance, 'flavor extra spec %s=%r is not a number'
                       % (key, value))
    if number < 1:
        raise _invalid(instance, 'flavor extra spec %s must be positive'
                       % key)
    return number


def capabilities(instance):
    value = (instance.flavor.extra_specs or {}).get(SPEC_CAP_ADD, '')
    caps = []
    for cap in filter(None, (c.strip().upper() for c in value.split(','))):
        cap = cap[len('CAP_'):] if cap.startswith('CAP_') else cap
        if not _CAPABILITY.match(cap) or cap == 'ALL':
            raise _invalid(instance, 'flavor extra spec %s: bad capability '
                                     '%r' % (SPEC_CAP_ADD, cap))
        caps.append(cap)
    return tuple(caps)


def privileged(instance):
    """Whether the flavor makes the workload privileged."""
    return _flag(instance, 'flavor extra spec ' + SPEC_PRIVILEGED,
                 (instance.flavor.extra_specs or {}).get(SPEC_PRIVILEGED))


def _at_most(instance, key, kind, lowest, limit):
    """Server metadata ``key`` as a ``kind`` from ``lowest`` to ``limit``.

    ``limit`` when the metadata is absent or not such a number (a user may
    set any metadata through Nova); cut to ``limit`` when it is more.
    """
    value = (instance.metadata or {}).get(key)
    if value is None:
        return limit
    try:
        asked = kind(value)
    except ValueError:
        asked = None
    # "not >=": NaN too.
    if asked is None or not asked >= lowest:
        LOG.warning('Server metadata %s=%r is not a number of at least %s; '
                    'ignored', key, value, lowest, instance=instance)
        return limit
    return min(asked, limit)


def stop_timeout(instance, nova_timeout):
    """Seconds a power off gives the workload after SIGTERM.

    Server metadata zun_stop_timeout shortens ``nova_timeout`` (Nova's
    ``[DEFAULT] shutdown_timeout`` or the image's ``os_shutdown_timeout``),
    never lengthens it: metadata cannot hold the compute service longer than
    the operator allows.
    """
    return _at_most(instance, META_STOP_TIMEOUT, int, 0, nova_timeout)


def runs_at_boot(instance):
    """Whether the build starts the workload (server metadata zun_run)."""
    value = (instance.metadata or {}).get(META_RUN)
    return value is None or _flag(instance, 'server metadata ' + META_RUN,
                                  value)


def removed_on_exit(instance):
    """Whether the server goes when its workload stops by itself."""
    return _flag(instance, 'server metadata ' + META_AUTO_REMOVE,
                 (instance.metadata or {}).get(META_AUTO_REMOVE))


def injected_files(instance):
    """``[(relative path, bytes)]`` to write into the workload before it runs.

    With server metadata ``zun_files=user_data``, the server's user data
    (base64, as Nova keeps it) is JSON ``{"files": [{"path": <absolute>,
    "content": <base64>}]}`` (Zun's injected files). Raises InvalidInput.
    """
    where = (instance.metadata or {}).get(META_FILES)
    if where is None:
        return []
    if where != FILES_IN_USER_DATA:
        raise _invalid(instance, 'server metadata %s must be %s, not %r'
                       % (META_FILES, FILES_IN_USER_DATA, where))
    try:
        files = json.loads(base64.b64decode(instance.user_data or '',
                                            validate=True))['files']
        out = []
        for entry in files:
            path = posixpath.normpath(entry['path'])
            if not path.startswith('/') or path == '/' or \
                    path.startswith('//') or '\x00' in path:
                raise ValueError('bad path %r' % entry['path'])
            out.append((path.lstrip('/'),
                        base64.b64decode(entry['content'], validate=True)))
        return out
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise _invalid(instance, 'the user data holds no valid files to '
                       'inject (%s): %s' % (META_FILES, exc))


def healed_when_removed(instance):
    """Whether a workload removed outside Nova is made anew."""
    return _flag(instance, 'server metadata ' + META_AUTO_HEAL,
                 (instance.metadata or {}).get(META_AUTO_HEAL))


def healthcheck(instance):
    """The workload's health check from server metadata, or None."""
    value = (instance.metadata or {}).get(META_HEALTHCHECK)
    if not value:
        return None
    try:
        check = json.loads(value)
    except ValueError as exc:
        raise _invalid(instance, 'server metadata %s is not JSON: %s'
                       % (META_HEALTHCHECK, exc))
    if (not isinstance(check, dict) or
            not isinstance(check.get('cmd'), str) or not check['cmd'] or
            set(check) - {'cmd'} - set(_HEALTHCHECK_NUMBERS) or
            not all(isinstance(check.get(k, 0), int) and
                    not isinstance(check.get(k, 0), bool) and
                    check.get(k, 0) >= 0 for k in _HEALTHCHECK_NUMBERS)):
        raise _invalid(instance, 'server metadata %s must be an object of '
                                 'cmd and, in whole seconds or counts, '
                                 'interval, timeout, retries'
                       % META_HEALTHCHECK)
    return types.Healthcheck(check['cmd'], check.get('interval', 0),
                             check.get('timeout', 0), check.get('retries', 0))


def restart_policy(instance):
    """The workload's restart policy from server metadata, None for ``no``.

    ``always`` becomes ``unless-stopped``: the engine never starts what Nova
    stopped (see the module's doc).
    """
    value = (instance.metadata or {}).get(META_RESTART_POLICY) or 'no'
    name, _, count = value.partition(':')
    if name == 'on-failure' and (count.isdigit() or not count):
        return types.RestartPolicy(name, int(count or 0))
    if name in ('always', 'unless-stopped') and not count:
        return types.RestartPolicy('unless-stopped')
    if value == 'no':
        return None
    raise _invalid(instance, 'server metadata %s must be no, on-failure[:N], '
                             'always or unless-stopped, not %r'
                   % (META_RESTART_POLICY, value))


def resources(instance, default_pids_limit):
    flavor = instance.flavor
    return types.Resources(
        # The engine's smallest CPU quota and memory limit.
        vcpus=_at_most(instance, META_CPU, float, 0.01, flavor.vcpus),
        memory_mb=_at_most(instance, META_MEMORY, int, 6,
                           flavor.memory_mb),
        pids_limit=_int_spec(instance, SPEC_PIDS_LIMIT, default_pids_limit),
        disk_gb=flavor.root_gb or None)


def uts_names(instance):
    """The pod's (host name, domain name) from Nova's hostname.

    The hostname is an FQDN of up to 255 characters since compute API 2.94: the
    first label and the rest, as a Linux guest sets them (the kernel refuses a
    longer name than 64 bytes). A longer first label is cut to a DNS label's
    length, as Nova cuts the hostnames it makes; a domain longer than the
    kernel holds is left out, not cut (a cut domain would name another). None:
    unset.
    """
    label, _, domain = (instance.hostname or '').rstrip('.').partition('.')
    if len(label.encode()) > _LABEL_MAX:
        label = label.encode()[:_LABEL_MAX].decode(errors='ignore')
        LOG.warning('The first label of hostname %s is longer than %d '
                    'bytes: the container\'s host name is %s',
                    instance.hostname, _LABEL_MAX, label, instance=instance)
    if len(domain.encode()) > _DOMAIN_MAX:
        LOG.warning('The domain of hostname %s is longer than the %d bytes '
                    'the kernel holds: the container has no domain name',
                    instance.hostname, _DOMAIN_MAX, instance=instance)
        domain = ''
    return label or None, domain or None


def own_hosts_entry(hostname, domainname, address):
    """The /etc/hosts line that names the pod itself, as a guest's has it.

    Programs resolve their own host name (``hostname -f``, mail and cluster
    software); the engine writes no such line for a pod without its own
    networks. ``address`` is the first fixed IP of the ports, or None for
    Debian's 127.0.1.1, which stands for the host's name without a network.
    """
    if not hostname:
        return ()
    names = ('%s.%s' % (hostname, domainname), hostname) if domainname \
        else (hostname,)
    return ((address or _OWN_NAME_ADDRESS, names),)


def sandbox_spec(instance, host, dns_servers=(), address=None):
    """``dns_servers``: the Neutron subnets' (``network.nameservers``);

    ``address``: the first fixed IP of the instance's ports, if any.
    """
    hostname, domainname = uts_names(instance)
    return types.SandboxSpec(
        name=sandbox_name(instance),
        labels=instance_labels(instance, host, labels.ROLE_SANDBOX),
        hostname=hostname,
        domainname=domainname,
        dns_servers=tuple(dns_servers),
        hosts=own_hosts_entry(hostname, domainname, address))


def rescue_spec(instance, host, image, sandbox_id, engine_runtime,
                default_pids_limit):
    """The rescue container: the rescue image as it is, on a terminal.

    It runs the image's own command (the server's metadata is for its
    workload) with an open stdin, so that a shell waits for its user; in
    the workload's pod, with its limits.
    """
    return types.ContainerSpec(
        name=rescue_name(instance),
        image=image,
        labels=instance_labels(instance, host, labels.ROLE_RESCUE),
        stdin_open=True,
        tty=True,
        resources=resources(instance, default_pids_limit),
        runtime=engine_runtime,
        sandbox_id=sandbox_id,
        cap_add=capabilities(instance))


def workload_spec(instance, host, image, sandbox_id, engine_runtime,
                  default_pids_limit):
    settings = run_settings(instance)
    return types.ContainerSpec(
        name=workload_name(instance),
        image=image,
        labels=instance_labels(instance, host, labels.ROLE_WORKLOAD),
        command=settings['command'],
        entrypoint=settings['entrypoint'],
        workdir=settings['workdir'],
        environment=settings['environment'],
        stdin_open=settings['stdin_open'],
        tty=settings['tty'],
        resources=resources(instance, default_pids_limit),
        runtime=engine_runtime,
        sandbox_id=sandbox_id,
        cap_add=capabilities(instance),
        restart_policy=restart_policy(instance),
        healthcheck=healthcheck(instance),
        privileged=privileged(instance))
