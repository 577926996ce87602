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

"""Pod mechanics: an instance's sandbox and workload containers, the ports
in the sandbox's namespace and the volumes in its workload, made, repaired
and removed through :mod:`nova_zun.runtime`.

Like the libvirt driver's ``guest.py`` beside its facade: the driver decides
what Nova asked for, this module does it to the pods.
"""

from concurrent import futures
import dataclasses

import nova.conf
from nova import context as nova_context
from nova import exception
from nova import objects
from nova import thread_pool_factory
from oslo_log import log as logging

from nova_zun import conf as zun_conf
from nova_zun import container_spec
from nova_zun import network
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import file_archive
from nova_zun.runtime import labels
from nova_zun.runtime import types

CONF = nova.conf.CONF
zun_conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

# Of the engine's words in a build's fault (Nova keeps 255 characters,
# with "Build of instance <uuid> aborted: " first).
_FAULT_WORDS = 150


class Pods:
    """The pods of one host (a :class:`nova_zun.host.Host`).

    With the host's port plugger (:class:`nova_zun.network.VIFPlugger`) and
    volume mounts (:class:`nova_zun.volumes.VolumeMounts`).
    """

    def __init__(self, runtime, host, vifs, volumes):
        self._runtime = runtime
        self._host = host
        self._vifs = vifs
        self._volumes = volumes

    # -- what runs here -----------------------------------------------------

    def containers(self, role=None):
        """The containers of this host's pods (of one ``role``)."""
        wanted = {labels.HOST: self._host.name}
        if role:
            wanted[labels.ROLE] = role
        return self._runtime.list_containers(wanted)

    def instance_uuids(self):
        return sorted({c.labels[labels.INSTANCE] for c in self.containers()
                       if c.labels.get(labels.INSTANCE)})

    def exists(self, instance):
        return bool(self._runtime.list_containers(
            {labels.INSTANCE: instance.uuid, labels.HOST: self._host.name}))

    # -- making a pod -------------------------------------------------------

    def sandbox_spec(self, instance, network_info):
        # The engine writes the subnets' DNS servers into resolv.conf, and
        # the pod's names on its first address into /etc/hosts, as it
        # creates the sandbox.
        return container_spec.sandbox_spec(
            instance, self._host.name,
            network.nameservers(network_info or []),
            network.first_address(network_info or []))

    def start_sandbox_during(self, sandbox, work):
        """Start a created sandbox while ``work()`` runs here.

        Return the started Sandbox and what ``work`` returned. The engine lets
        a container join a sandbox that is still starting, and the start is
        most of a sandbox's cost.
        """
        starting = thread_pool_factory.spawn(self._runtime.start_sandbox,
                                             sandbox.id)
        try:
            result = work()
        finally:
            # Never return (or let the caller remove the pod) while the
            # start is still in flight.
            futures.wait([starting])
        return starting.result(), result

    def _create_workload_container(self, spec, instance):
        files = container_spec.injected_files(instance)
        container_id = self._runtime.create_container(dataclasses.replace(
            spec, mounts=spec.mounts + self._volumes.container_mounts(
                instance)))
        if files:
            # Before it ever runs, every time it is made (Zun's injected
            # files).
            self._runtime.put_archive(container_id, '/',
                                      file_archive.of_files(files))
        return container_id

    def start_workload(self, container_id, instance):
        try:
            self._runtime.start(container_id)
        except runtime_exc.ContainerRuntimeError as exc:
            raise exception.InstanceDeployFailure(
                reason='instance %s: the container did not start: %s'
                       % (instance.uuid, exc.message)) from exc

    def create_workload(self, spec, instance, power_on):
        container_id = self._create_workload_container(spec, instance)
        if power_on:
            self.start_workload(container_id, instance)
        return container_id

    def mount_and_create_workload(self, spec, instance, volume_mapping):
        """Mount the instance's volumes and create its workload.

        ``volume_mapping`` is Nova's block_device_info mapping.
        """
        try:
            self._volumes.mount_all(instance, volume_mapping)
        except exception.VolumeAttachFailed as exc:
            # As Nova does when it cannot prepare block devices: the
            # attachments may be half made, not safe to reschedule.
            raise exception.BuildAbortException(
                instance_uuid=instance.uuid, reason=exc.format_message())
        # After the mounts: the workload's mounts depend on them.
        return self._create_workload_container(spec, instance)

    def build_abort_reason(self, exc):
        """Why no other host is to try a failed build, or None.

        Nova tries other hosts for most failures, and says only "Exceeded
        maximum number of retries" when none is left.
        """
        cause = (exc if isinstance(exc, runtime_exc.ContainerRuntimeError)
                 else exc.__cause__)
        if isinstance(cause, runtime_exc.EngineUnavailable):
            # Nova tries no other host when its cleanup fails too, as it
            # does while the engine is down: one rule, whenever the engine
            # comes back.
            return ('the container engine of host %s is unavailable: %s'
                    % (self._host.name, cause.message))
        if (isinstance(exc, exception.InstanceDeployFailure) and
                isinstance(cause, runtime_exc.InvalidRequest)):
            # The engine refused to start what the image and the server's
            # metadata ask for (a command that does not exist): no host
            # would. Its words end with the cause; a fault keeps 255
            # characters.
            words = cause.reason or cause.message
            if len(words) > _FAULT_WORDS:
                words = '...' + words[-_FAULT_WORDS:]
            return 'the container did not start: %s' % words
        return None

    # -- ports ---------------------------------------------------------------

    def plug(self, instance, network_info, sandbox):
        """Plug every port into the sandbox's namespace."""
        self._vifs.plug_all(instance, network_info, sandbox.netns_path)
        self.write_dns(instance, network_info, sandbox)

    def write_dns(self, instance, network_info, sandbox):
        """Rewrite resolv.conf when network_info's DNS servers changed.

        That is, when they are not the ones the engine wrote at the sandbox's
        start: after a hot attach brought new ones (a created sandbox's servers
        cannot change), and after a restart of such a sandbox.
        """
        servers = network.nameservers(network_info)
        if not servers or tuple(servers) == sandbox.dns_servers:
            return
        # In place: the workload bind-mounts the sandbox's resolv.conf.
        result = self._runtime.exec(
            sandbox.id, ['/bin/sh', '-c', 'printf "%s" "$1" > '
                         '/etc/resolv.conf', 'sh',
                         network.resolv_conf(servers)],
            timeout=CONF.zun.engine_timeout)
        if result.exit_code:
            raise exception.VirtualInterfacePlugException(
                'instance %s: could not write resolv.conf: %s'
                % (instance.uuid, result.output.decode(errors='replace')))

    def unplug(self, instance, network_info, quiet=False):
        try:
            if network_info:
                self._vifs.unplug_all(instance, network_info, quiet=quiet)
        finally:
            # Whatever the switch still has of the instance (ports Nova no
            # longer lists for it) goes too.
            try:
                self._vifs.unplug_leftovers(instance.uuid)
            except Exception:
                if not quiet:
                    raise
                LOG.exception('Could not look for leftover ports',
                              instance=instance)

    def _replug(self, instance, network_info, sandbox):
        """A sandbox that started again has a new, empty namespace."""
        if network_info:
            LOG.info('Plugging the ports into the new sandbox namespace',
                     instance=instance)
            self.plug(instance, network_info, sandbox)

    # -- repairing a pod ----------------------------------------------------

    def ensure_sandbox_running(self, instance, network_info=None):
        name = container_spec.sandbox_name(instance)
        try:
            if self._runtime.status(name).state != \
                    types.ContainerState.RUNNING:
                sandbox = self._runtime.start_sandbox(name)
                self._replug(instance, network_info, sandbox)
                return sandbox
            return self._runtime.get_sandbox(name)
        except runtime_exc.NotFound:
            LOG.warning('Sandbox missing; creating a new one',
                        instance=instance)
            sandbox = self._runtime.create_sandbox(
                self.sandbox_spec(instance, network_info))
            self._replug(instance, network_info, sandbox)
            return sandbox

    # -- removing a pod -----------------------------------------------------

    def remove(self, instance_uuid, quiet=False):
        """Remove the workload and sandbox of an instance.

        What is already gone is fine.
        """
        for name in ('nova-%s' % instance_uuid,
                     'nova-%s-sandbox' % instance_uuid):
            try:
                self._runtime.remove(name, force=True)
            except runtime_exc.NotFound:
                pass
            except runtime_exc.ContainerRuntimeError as exc:
                if not quiet:
                    # The fault of a failed delete says why.
                    raise exception.InstanceTerminationFailure(
                        reason='its containers could not be removed: %s'
                               % exc.message) from exc
                LOG.exception('Could not remove container %s', name)

    def tear_down(self, instance, network_info, volume_mapping, quiet=False,
                  unplug=True):
        """Unplug the instance's ports, remove its pod and release its volumes.

        Ports are unplugged always quietly: leftovers are swept later. The
        volumes are those of ``volume_mapping``.
        """
        if unplug:
            self.unplug(instance, network_info, quiet=True)
        self.remove(instance.uuid, quiet=quiet)
        self._volumes.release(instance, volume_mapping, quiet=quiet)

    def reconcile(self):
        """Remove the pods of instances Nova has on another host or on none.

        Such pods are left by a build that failed here while the engine was
        down, whose cleanup could not remove them, and by an evacuation from
        this host; the pod a move (resize, cold migration) keeps here until
        it is confirmed or reverted stays. Pods of deleted instances go
        when Nova's periodic _cleanup_running_deleted_instances says, as
        [DEFAULT] running_deleted_instance_action says. A pod of an instance
        the database does not know is left alone, as libvirt leaves unknown
        domains: a service started against the wrong database must not destroy
        live workloads.
        """
        uuids = self.instance_uuids()
        if not uuids:
            return
        ctxt = nova_context.get_admin_context(read_deleted='yes')
        known = {inst.uuid: inst for inst in
                 objects.InstanceList.get_by_filters(
                     ctxt, filters={'uuid': uuids},
                     expected_attrs=['migration_context'])}
        for uuid in uuids:
            instance = known.get(uuid)
            if instance is None:
                LOG.warning('Leaving alone the pod of instance %s, unknown '
                            'to the database this service uses: is it the '
                            'right one? The containers of a pod of no '
                            'instance of this cloud (nova-%s, '
                            'nova-%s-sandbox) go by hand.', uuid, uuid, uuid)
            elif instance.deleted or instance.host == self._host.name:
                continue
            elif instance.migration_context is not None:
                # Moved and not confirmed yet: a revert brings it back.
                LOG.info('Keeping the pod of instance %s until its move to '
                         '%s is confirmed or reverted', uuid, instance.host)
            else:
                LOG.info('Removing the pod of instance %s, which Nova has '
                         'on %s', uuid, instance.host or 'no host')
                self.remove_left_behind(instance)

    def remove_left_behind(self, instance):
        """Remove the pod of an instance Nova has on another host.

        Also what remains of its volumes and ports here.
        """
        self.remove(instance.uuid, quiet=True)
        self._volumes.release_leftovers(instance.uuid)
        self.unplug(instance, None, quiet=True)
