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

"""Tenant isolation: which instances may share a host.

The policy lives here, once, for both places that apply it: the scheduler
filter (:mod:`nova_zun.scheduler.filters`), which keeps candidate hosts to
those a request may use, and the driver, which checks again when it claims
its host for an instance. The scheduler's view of each host trails what
the hosts have claimed (two boots can be scheduled to the same empty host
before either reaches it); the driver's check, made under a per-host lock
against what actually runs on the host, is the one that cannot race, and
it fails the later boot with an error Nova reschedules.

Modes (``[zun] tenant_isolation``):

``off``
    Projects share hosts.
``all``
    A host passes when every instance on it belongs to the requesting
    project; an empty host passes.
``flavor``
    An instance whose flavor has ``zun:tenant_isolation=true`` gets a host
    holding only its project's instances; any other instance gets a host
    holding no other project's isolated instance, so no stranger moves in
    beside an isolated one later.
"""

from nova import context as nova_context
from nova import exception
from nova import objects
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import strutils

from nova_zun.runtime import labels

LOG = logging.getLogger(__name__)

OFF = 'off'
ALL = 'all'
FLAVOR = 'flavor'
SPEC_ISOLATION = 'zun:tenant_isolation'


def asks_for_isolation(flavor):
    """Whether a flavor's extra specs ask for a host of the project's own.

    A bad value counts as no.
    """
    specs = (getattr(flavor, 'extra_specs', None) or {}) if flavor else {}
    return strutils.bool_from_string(specs.get(SPEC_ISOLATION, False))


def isolated(mode, flavor):
    return mode == ALL or (mode == FLAVOR and asks_for_isolation(flavor))


def conflicting(mode, project_id, flavor, neighbours, isolated_among):
    """Return the uuids of the instances that keep an instance off a host.

    The instance is one of ``project_id`` with ``flavor``; an empty result
    means it may go there.

    :param neighbours: ``{instance uuid: project id}`` of the instances on
        the host, not counting the one being placed.
    :param isolated_among: called with a set of uuids of other projects'
        instances, returns those of them that asked for isolation; called
        only when that matters (``flavor`` mode, for an instance that does
        not ask for isolation itself).
    """
    if mode == OFF:
        return set()
    strangers = {uuid for uuid, project in neighbours.items()
                 if project != project_id}
    if not strangers:
        return set()
    if isolated(mode, flavor):
        return strangers
    return set(isolated_among(strangers))


def isolated_instances(context, uuids):
    """The instances among ``uuids`` whose flavor asks for isolation.

    They are read from the database of ``context``'s cell.
    """
    if not uuids:
        return set()
    found = objects.InstanceList.get_by_filters(
        context.elevated(read_deleted='no'),
        filters={'uuid': sorted(uuids), 'deleted': False},
        expected_attrs=['flavor'])
    return {inst.uuid for inst in found if asks_for_isolation(inst.flavor)}


def _host_lock(host):
    # One nova-compute process serves a host: an in-process lock suffices.
    return lockutils.internal_lock('nova-zun-tenancy-%s' % host)


class HostClaim:
    """Check that ``instance`` may join ``host`` and hold the host's lock.

    Used as ``with HostClaim(...)``: it checks against what runs on ``host``
    and holds the host's lock until the block (which creates the instance's
    first container, labelled with its project) ends, so the next check sees
    it. Raises ComputeResourcesUnavailable, which Nova turns into a reschedule
    to an alternate host.
    """

    def __init__(self, mode, runtime, host, context, instance):
        self.mode = mode
        self.runtime = runtime
        self.host = host
        self.context = context
        self.instance = instance
        self._lock = None

    def _neighbours(self):
        neighbours = {}
        for c in self.runtime.list_containers({labels.HOST: self.host}):
            uuid = c.labels.get(labels.INSTANCE)
            if uuid and uuid != self.instance.uuid:
                neighbours[uuid] = c.labels.get(labels.PROJECT) or ''
        return neighbours

    def __enter__(self):
        if self.mode == OFF:
            return self
        self._lock = _host_lock(self.host)
        self._lock.acquire()
        try:
            bad = conflicting(
                self.mode, self.instance.project_id, self.instance.flavor,
                self._neighbours(),
                lambda uuids: isolated_instances(self.context, uuids))
        except Exception:
            self._release()
            raise
        if bad:
            self._release()
            LOG.info('Tenant isolation: host %s runs instances of another '
                     'project (%s); refusing the claim so the build is '
                     'rescheduled', self.host, ', '.join(sorted(bad)),
                     instance=self.instance)
            raise exception.ComputeResourcesUnavailable(
                reason='tenant isolation: this host already runs instances '
                       'of another project')
        return self

    def _release(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __exit__(self, *exc_info):
        self._release()
        return False


def cell_context(cell_uuid, cache):
    """An admin context targeted at a cell, by uuid.

    The mappings are cached in ``cache``.
    """
    ctxt = nova_context.get_admin_context()
    cell = cache.get(cell_uuid)
    if cell is None:
        cell = cache[cell_uuid] = objects.CellMapping.get_by_uuid(
            ctxt, cell_uuid)
    nova_context.set_target_cell(ctxt, cell)
    return ctxt
