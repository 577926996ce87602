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

"""The compute host as Nova sees it: its node, and what its container engine
offers (resources, OCI runtimes) as Placement inventory and traits.

Like the libvirt driver's ``host.py`` beside its facade: the driver answers
Nova, this module reads the engine through :mod:`nova_zun.runtime` and keeps
its latest description.
"""

import time

import nova.conf
from nova import context as nova_context
from nova import exception
from nova import objects
from nova.objects import fields as obj_fields
import nova.virt.node
import os_resource_classes as orc
import os_traits
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import units
from oslo_utils import versionutils

from nova_zun import conf as zun_conf
from nova_zun.runtime import exception as runtime_exc

CONF = nova.conf.CONF
zun_conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

TRAIT_CONTAINER_HOST = os_traits.normalize_name('ZUN_CONTAINER_HOST')
TRAIT_RUNTIME_PREFIX = os_traits.normalize_name('ZUN_RUNTIME_')
# Nova calls update_provider_tree for every claim, under its resource
# tracker's lock: it reuses the engine's description when it is younger
# than this (seconds; the periodic resource update refreshes it first).
_ENGINE_INFO_MAX_AGE = 10
# How often nova-compute asks again at start for an engine that is down.
_ENGINE_WAIT_SECONDS = 2


def runtime_trait(name):
    return os_traits.normalize_name('ZUN_RUNTIME_' + name)


class Host:
    """This compute host: its name, node and engine's last description."""

    def __init__(self, runtime, name):
        self._runtime = runtime
        self.name = name
        self.node_uuid = None
        # Engine runtimes seen at the last look: refreshed by the periodic
        # resource update, and at once when an instance asks for one that
        # is not there.
        self._engine_runtimes = frozenset()
        self._engine_info = None

    def initialize(self, name):
        """Take the host's name and node, then wait for the engine.

        See :meth:`_wait_for_engine`; raises EngineUnavailable when the engine
        does not answer and the host has no instances.
        """
        self.name = name
        self.node_uuid = nova.virt.node.get_local_node_uuid()
        info = self._wait_for_engine()
        if not info.live_restore:
            LOG.warning('The container engine stops every container '
                        'when it stops or restarts (live restore is '
                        'off): set "live-restore": true in its '
                        'daemon.json (doc/driver.rst)')

    def _wait_for_engine(self):
        """The engine's description, once it answers.

        nova-compute may start before its engine, but not while Nova has
        instances here: Nova asks for their state at once, and only the engine
        knows it.
        """
        deadline = time.monotonic() + CONF.zun.engine_timeout
        while True:
            try:
                return self.refresh_engine_info()
            except runtime_exc.EngineUnavailable as exc:
                instances = objects.InstanceList.get_by_host(
                    nova_context.get_admin_context(), self.name,
                    expected_attrs=[])
                if not instances:
                    raise
                if time.monotonic() > deadline:
                    raise exception.NovaException(
                        'the container engine did not answer within %ds '
                        '([zun] engine_timeout), and the state of the %d '
                        'instances of host %s comes from it: %s'
                        % (CONF.zun.engine_timeout, len(instances),
                           self.name, exc.message)) from exc
                LOG.warning('Waiting for the container engine, which the '
                            '%d instances of this host need: %s',
                            len(instances), exc.message)
                time.sleep(_ENGINE_WAIT_SECONDS)

    def refresh_engine_info(self):
        info = self._runtime.engine_info()
        self._engine_runtimes = frozenset(info.runtimes)
        self._engine_info = (time.monotonic(), info)
        return info

    def _recent_engine_info(self):
        if (self._engine_info and time.monotonic() - self._engine_info[0] <
                _ENGINE_INFO_MAX_AGE):
            return self._engine_info[1]
        return self.refresh_engine_info()

    def engine_runtime(self, name):
        """The engine's name of the configured runtime ``name``.

        This host's engine must offer it (InvalidInput if it does not).
        """
        engine_name = CONF.zun.runtimes[name]
        if engine_name not in self._engine_runtimes:
            self.refresh_engine_info()
        if engine_name not in self._engine_runtimes:
            raise exception.InvalidInput(
                reason='container runtime %r (engine runtime %r) is not '
                       'available on host %s' % (name, engine_name,
                                                 self.name))
        return engine_name

    def available_resource(self, nodename):
        """The resources of ``get_available_resource``, read afresh."""
        info = self.refresh_engine_info()
        version = info.version.split('+')[0].split('-')[0]
        arch = obj_fields.Architecture.canonicalize(info.architecture)
        return {
            'vcpus': info.cpus,
            'memory_mb': info.memory_bytes // units.Mi,
            'local_gb': info.disk_total_bytes // units.Gi,
            # The resource tracker computes usage from the instances.
            'vcpus_used': 0,
            'memory_mb_used': 0,
            'local_gb_used': 0,
            'hypervisor_type': obj_fields.HVType.DOCKER,
            'hypervisor_version': versionutils.convert_version_to_int(
                version),
            'hypervisor_hostname': nodename,
            'cpu_info': jsonutils.dumps({'arch': arch}),
            'disk_available_least': info.disk_free_bytes // units.Gi,
            'supported_instances': [(arch,
                                     obj_fields.HVType.DOCKER,
                                     obj_fields.VMMode.EXE)],
            'numa_topology': None,
            'uuid': self.node_uuid,
        }

    def update_provider_tree(self, provider_tree, nodename, ratios,
                             reserved_disk_gb):
        """Set the node's inventory and its traits.

        The inventory has Nova's allocation ``ratios`` by resource class; the
        traits are a container host, and one trait per configured runtime the
        engine offers.
        """
        info = self._recent_engine_info()
        memory_mb = info.memory_bytes // units.Mi
        disk_gb = info.disk_total_bytes // units.Gi

        def inventory(total, rc, reserved):
            return {'total': total, 'min_unit': 1, 'max_unit': total,
                    'step_size': 1, 'allocation_ratio': ratios[rc],
                    'reserved': reserved}

        provider_tree.update_inventory(nodename, {
            orc.VCPU: inventory(info.cpus, orc.VCPU,
                                CONF.reserved_host_cpus),
            orc.MEMORY_MB: inventory(memory_mb, orc.MEMORY_MB,
                                     CONF.reserved_host_memory_mb),
            orc.DISK_GB: inventory(disk_gb, orc.DISK_GB, reserved_disk_gb),
        })
        offered = {runtime_trait(name)
                   for name, engine_name in CONF.zun.runtimes.items()
                   if engine_name in info.runtimes}
        stale = {t for t in provider_tree.data(nodename).traits
                 if t.startswith(TRAIT_RUNTIME_PREFIX)} - offered
        if stale:
            provider_tree.remove_traits(nodename, *stale)
        provider_tree.add_traits(nodename, TRAIT_CONTAINER_HOST, *offered)
