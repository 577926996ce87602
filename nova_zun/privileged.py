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

"""Privileged host operations, run in oslo.privsep daemons.

nova-compute need not run as root: these functions run in the daemon of the
``nova_zun_privileged`` context (network), of the
``nova_zun_storage_privileged`` context (mounts) or of the
``nova_zun_shim_privileged`` context (reaping a failed start's shims),
configured like Nova's own contexts (see
:func:`nova_zun.network.configure_privsep`). Netlink goes through pyroute2;
mounts through util-linux's mount, umount, blkid and mkfs.
This module imports nothing of Nova (the daemon loads it on its own).
"""

import ctypes
import errno
import ipaddress
import os
import re
import stat
import subprocess
import threading

from oslo_config import cfg
from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context
from pyroute2.ethtool import Ethtool
from pyroute2 import IPRoute
from pyroute2.netlink import exceptions as nl_exc

from nova_zun import conf as zun_conf
from nova_zun.runtime import shims

net_admin = priv_context.PrivContext(
    'nova_zun',
    cfg_section='nova_zun_privileged',
    pypath=__name__ + '.net_admin',
    # Links, addresses, routes and ethtool settings; setns() into a pod's
    # namespace (its engine's bind-mounted file: a /proc/<pid>/ns/net path
    # would also need CAP_SYS_PTRACE). iptables runs as a command, which
    # regains root's capabilities: the daemon itself needs no NET_RAW.
    capabilities=[caps.CAP_NET_ADMIN, caps.CAP_SYS_ADMIN],
)

storage_admin = priv_context.PrivContext(
    'nova_zun',
    cfg_section='nova_zun_storage_privileged',
    pypath=__name__ + '.storage_admin',
    capabilities=[caps.CAP_SYS_ADMIN, caps.CAP_DAC_OVERRIDE,
                  caps.CAP_DAC_READ_SEARCH],
)

shim_admin = priv_context.PrivContext(
    'nova_zun',
    cfg_section='nova_zun_shim_privileged',
    pypath=__name__ + '.shim_admin',
    # The shims' working directories (/proc/<pid>/cwd: processes with more
    # capabilities than this daemon's). Signals to root's processes need
    # no capability; what runs under a shim may be another user's (an
    # engine with userns-remap).
    capabilities=[caps.CAP_KILL, caps.CAP_SYS_PTRACE],
)

IFA_F_NODAD = 0x02
CLONE_NEWNET = 0x40000000
IPTABLES_CHAIN = 'nova-zun-FORWARD'


def _index(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


@net_admin.entrypoint
def link_exists(name):
    with IPRoute() as ipr:
        return _index(ipr, name) is not None


TX_CHECKSUM_FEATURES = ('tx-checksum-ip-generic', 'tx-checksum-ipv4',
                        'tx-checksum-ipv6', 'tx-checksum-sctp')


def _disable_tx_checksum(name):
    ethtool = Ethtool()
    try:
        features = ethtool.get_features(name)
        for key in TX_CHECKSUM_FEATURES:
            if key in features.features:
                features.features[key].enable = False
        ethtool.set_features(name, features)
    finally:
        ethtool.close()


@net_admin.entrypoint
def create_veth(host_name, peer_name, mtu, peer_tx_checksum=True):
    """A veth pair; the host end is up, both ends have ``mtu``.

    An existing pair of these names is replaced.

    ``peer_tx_checksum=False`` makes the peer compute checksums itself:
    a switch that forwards in userspace (OVS ``netdev`` datapath) passes
    packets on as read, so a checksum left to offload is never filled in
    and the receiver drops TCP and UDP (ICMP, checksummed in software,
    still passes).
    """
    with IPRoute() as ipr:
        for name in (host_name, peer_name):
            index = _index(ipr, name)
            if index is not None:
                ipr.link('del', index=index)
        ipr.link('add', ifname=host_name, kind='veth',
                 peer={'ifname': peer_name, 'mtu': mtu}, mtu=mtu)
        ipr.link('set', index=_index(ipr, host_name), state='up')
    if not peer_tx_checksum:
        _disable_tx_checksum(peer_name)


@net_admin.entrypoint
def delete_link(name):
    """Delete a device (a veth takes its peer with it); gone is fine."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is not None:
            try:
                ipr.link('del', index=index)
            except nl_exc.NetlinkError as exc:
                if exc.code != 19:  # ENODEV: went meanwhile
                    raise


@net_admin.entrypoint
def set_master(name, bridge):
    with IPRoute() as ipr:
        ipr.link('set', index=_index(ipr, name),
                 master=_index(ipr, bridge), state='up')


def _netns_links(netns_path):
    """The links of a namespace (pyroute2's messages); [] if it is gone."""
    try:
        os.stat(netns_path)  # not exists(): it says False for EACCES too
    except FileNotFoundError:
        return []
    try:
        ipr = IPRoute(netns=netns_path)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            raise  # not gone: this daemon may not enter it
        return []  # the file is left, the namespace behind it is gone
    with ipr:
        return list(ipr.get_links())


@net_admin.entrypoint
def netns_links(netns_path):
    """``{ifname: mac}`` of the interfaces in a namespace.

    {} if the namespace is gone.
    """
    return {link.get('ifname'): link.get('address')
            for link in _netns_links(netns_path)}


@net_admin.entrypoint
def netns_counters(netns_path):
    """``{ifname: counters}`` of the interfaces in a namespace but loopback.

    The counters are the kernel's (rx_bytes, tx_packets, rx_dropped...), with
    the interface's MAC as ``address``; {} if the namespace is gone.
    """
    return {link.get('ifname'): dict(link.get('IFLA_STATS64') or {},
                                     address=link.get('address'))
            for link in _netns_links(netns_path)
            if link.get('ifname') != 'lo'}


def _write_sysctl_in_netns(netns_path, key, value):
    """Write a net sysctl of a namespace.

    It is written from a thread of its own that enters the namespace (setns
    moves only the calling thread) and ends.
    """
    errors = []

    def run():
        try:
            libc = ctypes.CDLL('libc.so.6', use_errno=True)
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET):
                    raise OSError(ctypes.get_errno(), 'setns %s' % netns_path)
            finally:
                os.close(fd)
            with open('/proc/sys/' + key.replace('.', '/'), 'w') as f:
                f.write(value)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@net_admin.entrypoint
def move_into_netns(peer_name, netns_path, ifname, mac, mtu, addresses,
                    routes):
    """Move ``peer_name`` into the namespace as ``ifname`` and configure it.

    ``addresses``: ``[(address, prefixlen)]``; ``routes``: ``[(dst,
    gateway)]`` with dst ``'default'`` or a CIDR, gateway None for on-link.
    """
    fd = os.open(netns_path, os.O_RDONLY)
    try:
        with IPRoute() as ipr:
            ipr.link('set', index=_index(ipr, peer_name), net_ns_fd=fd)
    finally:
        os.close(fd)
    with IPRoute(netns=netns_path) as ipr:
        index = _index(ipr, peer_name)
        ipr.link('set', index=index, ifname=ifname, address=mac, mtu=mtu)
        lo = _index(ipr, 'lo')
        if lo is not None:
            ipr.link('set', index=lo, state='up')
        if any(':' in address for address, _ in addresses):
            # Engines switch IPv6 off in namespaces they made without it.
            _write_sysctl_in_netns(
                netns_path, 'net.ipv6.conf.%s.disable_ipv6' % ifname, '0')
        for address, prefixlen in addresses:
            v6 = ipaddress.ip_address(address).version == 6
            kwargs = {'flags': IFA_F_NODAD} if v6 else {}
            ipr.addr('add', index=index, address=address,
                     prefixlen=prefixlen, **kwargs)
        ipr.link('set', index=index, state='up')
        for dst, gateway in routes:
            family = 10 if ':' in (gateway or dst) else 2
            kwargs = {'oif': index, 'family': family}
            if gateway:
                kwargs['gateway'] = gateway
            if dst == 'default':
                kwargs['dst'] = '::/0' if family == 10 else '0.0.0.0/0'
            else:
                kwargs['dst'] = dst
            ipr.route('replace', **kwargs)


def _iptables(binary, *args):
    return subprocess.run([binary, '-w', '-t', 'filter'] + list(args),
                          capture_output=True, text=True)


def _tables():
    return [b for b in ('iptables', 'ip6tables')
            if any(os.access(os.path.join(d, b), os.X_OK)
                   for d in ('/usr/sbin', '/sbin', '/usr/bin'))]


def _port_rules(device):
    return [['-m', 'physdev', '--physdev-in', device,
             '--physdev-is-bridged', '-m', 'comment', '--comment',
             'nova-zun ' + device, '-j', 'ACCEPT'],
            ['-m', 'physdev', '--physdev-out', device,
             '--physdev-is-bridged', '-m', 'comment', '--comment',
             'nova-zun ' + device, '-j', 'ACCEPT']]


@net_admin.entrypoint
def allow_bridged(device):
    """Let traffic bridged through ``device`` pass the host's FORWARD chain.

    A default DROP policy, as Docker sets, eats it otherwise. The rules live in
    a chain of ours that FORWARD jumps to last, so rules inserted before it
    (Neutron's security groups) still decide first.
    """
    for binary in _tables():
        if _iptables(binary, '-S', IPTABLES_CHAIN).returncode:
            _iptables(binary, '-N', IPTABLES_CHAIN)
        if _iptables(binary, '-C', 'FORWARD', '-j',
                     IPTABLES_CHAIN).returncode:
            result = _iptables(binary, '-A', 'FORWARD', '-j',
                               IPTABLES_CHAIN)
            if result.returncode:
                raise RuntimeError('%s: %s' % (binary, result.stderr))
        for rule in _port_rules(device):
            if _iptables(binary, '-C', IPTABLES_CHAIN, *rule).returncode:
                result = _iptables(binary, '-A', IPTABLES_CHAIN, *rule)
                if result.returncode:
                    raise RuntimeError('%s: %s' % (binary, result.stderr))


@net_admin.entrypoint
def disallow_bridged(device):
    for binary in _tables():
        for rule in _port_rules(device):
            while not _iptables(binary, '-D', IPTABLES_CHAIN,
                                *rule).returncode:
                pass


@net_admin.entrypoint
def bridged_rules(device):
    """The rules of ours that name ``device`` (for checks)."""
    found = []
    for binary in _tables():
        out = _iptables(binary, '-S', IPTABLES_CHAIN).stdout
        found += [line for line in out.splitlines()
                  if 'nova-zun %s' % device in line]
    return found


# -- storage ---------------------------------------------------------------
#
# A caller names paths only below [zun] volume_mount_dir, which this daemon
# reads from nova-compute's configuration files, never from the caller;
# symbolic links are resolved before the check and the resolved path is
# what the command gets. Devices must be block devices.

_FSTYPE = re.compile(r'[a-z0-9]+')
# Absolute, of the characters the engine's layer paths use: no ',' or ':'
# that would end the option, no '..'.
_OVERLAY_DIR = re.compile(r'(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+')
_BLKID_NOTHING_FOUND = 2


def _run(argv):
    result = subprocess.run(argv, capture_output=True, text=True)
    return result.returncode, result.stdout, result.stderr.strip()


def _mount_dir():
    zun_conf.register_privsep_opts(cfg.CONF)
    return os.path.realpath(cfg.CONF.zun.volume_mount_dir)


def _absolute(path):
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValueError('not an absolute path: %r' % (path,))
    return path


def _resolved(path):
    return os.path.realpath(_absolute(path))


def _below_mount_dir(path):
    """``path`` resolved, if that is below [zun] volume_mount_dir.

    Else ValueError, also for a link below it that leads elsewhere.
    """
    top = _mount_dir()
    real = _resolved(path)
    if not real.startswith(top + os.sep):
        raise ValueError('%s is not below [zun] volume_mount_dir %s'
                         % (path, top))
    return real


def _block_device(device):
    real = _resolved(device)
    try:
        is_block = stat.S_ISBLK(os.stat(real).st_mode)
    except FileNotFoundError:
        is_block = False
    if not is_block:
        raise ValueError('%s is not a block device' % device)
    return real


def _root_mount_id(pid):
    """Id of the mount at / in the mount namespace of process ``pid``.

    Another namespace has another. None if the process is gone.
    """
    try:
        with open('/proc/%s/mountinfo' % pid) as f:
            return next(line.split()[0] for line in f
                        if line.split()[4] == '/')
    except (FileNotFoundError, ProcessLookupError):
        return None


@storage_admin.entrypoint
def share_directory(path):
    """Make [zun] volume_mount_dir a shared mount point of its own.

    ``path`` must be [zun] volume_mount_dir; it is created if missing. With
    shared propagation, mounts made below it later reach containers that bind
    it with rslave propagation. Return (exit code, error) of the step that
    failed, (0, '') when done.
    """
    top = _mount_dir()
    if _resolved(path) != top:
        raise ValueError('%s is not [zun] volume_mount_dir %s' % (path, top))
    path = top
    os.makedirs(path, mode=0o755, exist_ok=True)
    steps = [['mount', '--make-shared', path]]
    if _run(['findmnt', '--mountpoint', path])[0]:
        steps.insert(0, ['mount', '--bind', path, path])
    for argv in steps:
        code, _, err = _run(argv)
        if code:
            return code, '%s: %s' % (' '.join(argv), err)
    return 0, ''


@storage_admin.entrypoint
def make_directories(paths):
    for path in [_below_mount_dir(p) for p in paths]:
        os.makedirs(path, mode=0o755, exist_ok=True)


@storage_admin.entrypoint
def remove_directories(paths):
    """rmdir each path (deepest first); never removes contents.

    Returns the paths left because they were not empty.
    """
    kept = []
    resolved = {path: _below_mount_dir(path) for path in paths}
    for path in sorted(paths, key=len, reverse=True):
        try:
            os.rmdir(resolved[path])
        except FileNotFoundError:
            pass
        except OSError:
            kept.append(path)
    return kept


def _probe(device):
    return _run(['blkid', '-p', '-o', 'export', device])


@storage_admin.entrypoint
def probe_signatures(device):
    """``blkid -p -o export``: (exit code, output, error).

    Exit code 2 means no signature at all was found.
    """
    return _probe(_block_device(device))


@storage_admin.entrypoint
def make_filesystem(device, fstype, options):
    """Run mkfs, only on a device without any signature.

    ValueError else: a caller cannot wipe a device that holds something.
    """
    device = _block_device(device)
    if not isinstance(fstype, str) or not _FSTYPE.fullmatch(fstype):
        raise ValueError('not a filesystem type: %r' % (fstype,))
    if _probe(device)[0] != _BLKID_NOTHING_FOUND:
        raise ValueError('%s is not blank' % device)
    return _run(['mkfs.' + fstype, '-q'] + list(options) + [device])


@storage_admin.entrypoint
def mount(device, target, fstype, options):
    return _run(['mount', '-t', fstype, '-o', ','.join(options),
                 _block_device(device), _below_mount_dir(target)])


def _overlay_dir(path):
    """An existing directory whose path cannot change the mount's options."""
    if not isinstance(path, str) or not _OVERLAY_DIR.fullmatch(path) or \
            not os.path.isdir(path):
        raise ValueError('not a layer directory: %r' % (path,))
    return path


@storage_admin.entrypoint
def mount_overlay(lower_dirs, upper_dir, work_dir, target):
    """Mount a container's layers (the engine's, as it stacks them).

    Return (exit code, error). The target is below [zun] volume_mount_dir;
    the layers are directories whose names hold no option separator.
    """
    if not lower_dirs:
        raise ValueError('no lower layer')
    options = 'lowerdir=%s,upperdir=%s,workdir=%s' % (
        ':'.join(_overlay_dir(d) for d in lower_dirs),
        _overlay_dir(upper_dir), _overlay_dir(work_dir))
    code, _, err = _run(['mount', '-t', 'overlay', '-o', options, 'overlay',
                         _below_mount_dir(target)])
    return code, err


@storage_admin.entrypoint
def unmount(target, namespace_pid=None):
    """umount ``target``; return (exit code, error).

    In the mount namespace of process ``namespace_pid`` when given (a
    container's: never the host's, where only targets below [zun]
    volume_mount_dir are unmounted).
    """
    if namespace_pid is None:
        argv = ['umount', _below_mount_dir(target)]
    else:
        if not isinstance(namespace_pid, int) or namespace_pid < 1:
            raise ValueError('not a process id: %r' % (namespace_pid,))
        root = _root_mount_id(namespace_pid)
        if root is None:
            return 1, 'process %d is gone' % namespace_pid
        if root == _root_mount_id('self'):
            raise ValueError('process %d is in the host\'s mount namespace'
                             % namespace_pid)
        # The target is the container's: resolved there, by umount.
        argv = ['umount', '-N', '/proc/%d/ns/mnt' % namespace_pid,
                _absolute(target)]
    code, _, err = _run(argv)
    return code, err


@storage_admin.entrypoint
def namespace_mountinfo(pid):
    """The mount table of process ``pid``'s mount namespace.

    '' if the process is gone.
    """
    try:
        with open('/proc/%d/mountinfo' % pid) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return ''


# -- shims -------------------------------------------------------------------

@shim_admin.entrypoint
def reap_shims(container_id):
    """Run :func:`nova_zun.runtime.shims.reap` for a full container id.

    The caller names a full container id (else ValueError), never a process.
    """
    return shims.reap(container_id)
