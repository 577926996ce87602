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

"""Scheduler filters for container hosts.

Enable in nova-scheduler's ``nova.conf``::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = nova_zun.scheduler.filters.TenantIsolationFilter
    enabled_filters = ComputeFilter,...,TenantIsolationFilter

    [zun]
    tenant_isolation = all    # or flavor; off by default
"""

import nova.conf
from nova import objects
from nova.scheduler import filters
from oslo_log import log as logging

from nova_zun import conf as zun_conf
from nova_zun.scheduler import isolation

CONF = nova.conf.CONF
zun_conf.register_opts(CONF)
LOG = logging.getLogger(__name__)


class TenantIsolationFilter(filters.BaseHostFilter):
    """A host passes only if all its instances are the requesting project's.

    An empty host passes; see :mod:`nova_zun.scheduler.isolation` for the
    ``flavor`` mode.

    The instances come from the scheduler's host state. Nova keeps it from the
    computes' reports when ``[filter_scheduler] track_instance_changes`` is on;
    otherwise (or until a host first reports) it holds bare uuids and the
    projects are read from the database, once per host and request.
    """

    # The instances on a host do not change within one request.
    run_filter_once_per_request = True
    # A rebuild stays on its host, with its project.
    RUN_ON_REBUILD = False

    def __init__(self):
        super().__init__()
        self._cells = {}

    def host_passes(self, host_state, spec_obj):
        mode = CONF.zun.tenant_isolation
        if mode == isolation.OFF:
            return True
        instances = {uuid: inst for uuid, inst in host_state.instances.items()
                     if uuid != spec_obj.instance_uuid}
        if not instances:
            return True
        neighbours = self._projects(host_state, instances)
        bad = isolation.conflicting(
            mode, spec_obj.project_id, spec_obj.flavor, neighbours,
            lambda uuids: self._isolated(host_state, instances, uuids))
        if bad:
            LOG.debug('%(host)s fails tenant isolation for project '
                      '%(project)s: it holds instances %(bad)s of other '
                      'projects', {'host': host_state.host,
                                   'project': spec_obj.project_id,
                                   'bad': sorted(bad)})
            return False
        return True

    def _context(self, host_state):
        return isolation.cell_context(host_state.cell_uuid, self._cells)

    def _projects(self, host_state, instances):
        """``{uuid: project id}`` of the host's instances.

        Those the host state knows by uuid only are read from the database.
        """
        projects, unknown = {}, []
        for uuid, inst in instances.items():
            if inst.obj_attr_is_set('project_id'):
                projects[uuid] = inst.project_id
            else:
                unknown.append(uuid)
        if unknown:
            found = objects.InstanceList.get_by_filters(
                self._context(host_state),
                filters={'uuid': unknown, 'deleted': False},
                expected_attrs=[])
            projects.update((inst.uuid, inst.project_id) for inst in found)
        return projects

    def _isolated(self, host_state, instances, uuids):
        asked, unknown = set(), set()
        for uuid in uuids:
            inst = instances[uuid]
            if inst.obj_attr_is_set('flavor'):
                if isolation.asks_for_isolation(inst.flavor):
                    asked.add(uuid)
            else:
                unknown.add(uuid)
        if unknown:
            asked |= isolation.isolated_instances(
                self._context(host_state), unknown)
        return asked
