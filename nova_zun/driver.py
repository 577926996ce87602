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

"""ZunDriver: Nova instances as containers.

Each instance is a pod: a sandbox container that owns the network namespace
and one workload container that joins it. This module translates Nova's
objects into runtime specs and runtime states into Nova power states; the
runtime layer (:mod:`nova_zun.runtime`) does the work. As in Nova's libvirt
driver, what the host offers Nova is in :mod:`nova_zun.host`, and the
mechanics of pods (making, repairing and removing them) in
:mod:`nova_zun.pod`.

Suspend and resume freeze and thaw the workload (cgroup freezer), as pause
and unpause do: memory stays resident, no state is written to disk (there
is no checkpoint/restore). A suspended instance reports power state
SUSPENDED, a paused one PAUSED.
"""

import dataclasses

from nova.compute import power_state
from nova.compute import task_states
from nova.compute import utils as compute_utils
from nova.compute import vm_states
import nova.conf
from nova import context as nova_context
from nova import exception
from nova.image import glance
from nova import objects
from nova.objects import diagnostics
from nova.virt import driver
from nova.virt import hardware
from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import excutils
from oslo_utils import timeutils
from oslo_utils import units

from nova_zun import conf as zun_conf
from nova_zun import container_spec
from nova_zun import host as zun_host
from nova_zun import images
from nova_zun import lifecycle
from nova_zun import network
from nova_zun import pod
from nova_zun import privileged
from nova_zun import rescue
from nova_zun import runtime as zun_runtime
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun.scheduler import isolation
from nova_zun import serial_console
from nova_zun import volumes

CONF = nova.conf.CONF
zun_conf.register_opts(CONF)
LOG = logging.getLogger(__name__)

_POWER_STATES = {
    types.ContainerState.RUNNING: power_state.RUNNING,
    types.ContainerState.RESTARTING: power_state.RUNNING,
    types.ContainerState.PAUSED: power_state.PAUSED,
    # Never started (Zun's Created): Nova's "pending", which its power
    # state sync leaves alone on an ACTIVE server.
    types.ContainerState.CREATED: power_state.NOSTATE,
    types.ContainerState.EXITED: power_state.SHUTDOWN,
    types.ContainerState.DEAD: power_state.CRASHED,
}
_RUNNING = types.ContainerState.RUNNING
# Nova's _init_instance puts an instance in these in ERROR at start: its
# build was cut short.
_BUILD_TASKS = (task_states.SCHEDULING, task_states.BLOCK_DEVICE_MAPPING,
                task_states.NETWORKING, task_states.SPAWNING)


def _registry_auth():
    if not CONF.zun.registry_username:
        return None
    return {'username': CONF.zun.registry_username,
            'password': CONF.zun.registry_password or ''}


class ZunDriver(driver.ComputeDriver):

    capabilities = dict(
        driver.ComputeDriver.capabilities,
        # Container archives are stored in Glance with disk_format raw.
        supports_image_type_raw=True,
        # Ports are plugged into the running sandbox: no restart.
        supports_attach_interface=True,
        # Glance images stay in the engine; manage_image_cache ages them.
        has_imagecache=True,
        # Nova's default rebuild makes the pod from the image on the new
        # host (ephemeral changes are lost, as for a guest without shared
        # storage); the host back removes the old pod.
        supports_evacuate=True,
    )

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi)
        # Reaping after a failed start signals root's processes: in
        # nova-zun's privsep daemon, so nova-compute need not be root.
        network.configure_privsep(
            CONF, sections=(privileged.shim_admin.cfg_section,))
        self.runtime = zun_runtime.from_conf(
            CONF, reap_shims=privileged.reap_shims)
        self._image_api = glance.API()
        self._host = zun_host.Host(self.runtime, CONF.host)
        self._lifecycle = None
        network.initialize(CONF)
        self._vifs = network.VIFPlugger(CONF.zun.allow_bridged_traffic)
        self._image_cache = images.ImageCache(self.runtime)
        volumes.initialize(CONF)
        self._volumes = volumes.VolumeMounts(CONF.zun.volume_mount_dir)
        self._pods = pod.Pods(self.runtime, self._host, self._vifs,
                              self._volumes)
        self._consoles = serial_console.SerialConsoles(self.runtime)
        self._rescues = rescue.Rescues(self.runtime,
                                       CONF.zun.volume_mount_dir)

    # -- host ---------------------------------------------------------------

    def init_host(self, host):
        if not CONF.zun.engine_url.startswith('unix://'):
            raise exception.InvalidInput(
                reason='[zun] engine_url must be a local unix:// socket, '
                       'not %s' % CONF.zun.engine_url)
        engine_seen = True
        try:
            self._host.initialize(host)
            self._pods.reconcile()
        except runtime_exc.EngineUnavailable as exc:
            # nova-compute can start before its engine; spawns fail with
            # a clear fault until the engine answers.
            LOG.error('Container engine unavailable at start: %s', exc)
            engine_seen = False
        self._lifecycle = lifecycle.LifecycleWatcher(
            self.runtime, host, self.emit_event,
            engine_back=self._pods.reconcile, engine_seen=engine_seen)
        self._lifecycle.start()

    def cleanup_host(self, host):
        if self._lifecycle is not None:
            self._lifecycle.stop()
        self._consoles.close_all()

    def process_instances_at_startup(self, context, instances):
        """Say why builds cut short by a restart failed; remove their pods.

        Nova puts builds that this service's restart cut short in ERROR (no
        fault); the fault says why here, and their half-made pods go.
        """
        for instance in instances:
            if (instance.vm_state == vm_states.BUILDING or
                    instance.task_state in _BUILD_TASKS):
                reason = ('the build was cut short: nova-compute on host %s '
                          'stopped during it. Delete the server and create '
                          'it again.' % self._host.name)
                LOG.warning(reason, instance=instance)
                compute_utils.add_instance_fault_from_exc(
                    context, instance, exception.BuildAbortException(
                        instance_uuid=instance.uuid, reason=reason))
                self._pods.remove(instance.uuid, quiet=True)
        return instances

    def get_available_nodes(self, refresh=False):
        return [self._host.name]

    def get_nodenames_by_uuid(self, refresh=False):
        return {self._host.node_uuid: self._host.name}

    def get_host_ip_addr(self):
        return CONF.my_ip

    def get_host_uptime(self):
        """What ``uptime`` says: the engine runs on this host."""
        out, _ = processutils.execute('env', 'LANG=C', 'uptime')
        return out

    def get_available_resource(self, nodename):
        return self._host.available_resource(nodename)

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        self._host.update_provider_tree(
            provider_tree, nodename,
            self._get_allocation_ratios(
                provider_tree.data(nodename).inventory),
            self._get_reserved_host_disk_gb_from_config())

    # -- instances ----------------------------------------------------------

    def list_instances(self):
        return [c.name for c in self._pods.containers(labels.ROLE_WORKLOAD)]

    def list_instance_uuids(self):
        return self._pods.instance_uuids()

    def instance_exists(self, instance):
        return self._pods.exists(instance)

    def get_info(self, instance, use_cache=True):
        try:
            status = self.runtime.status(self._running_container(instance))
        except runtime_exc.NotFound:
            if self.instance_exists(instance):
                # A sandbox without its workload (a spawn or rebuild cut
                # short): hard reboot recreates the workload.
                return hardware.InstanceInfo(state=power_state.SHUTDOWN)
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        return hardware.InstanceInfo(state=self._power_state(instance,
                                                             status))

    @staticmethod
    def _running_container(instance):
        """The instance's container: its rescue's while it is rescued."""
        if instance.vm_state == vm_states.RESCUED:
            return container_spec.rescue_name(instance)
        return container_spec.workload_name(instance)

    @staticmethod
    def _power_state(instance, status):
        """Nova's power state of the instance with workload ``status``."""
        state = _POWER_STATES.get(status.state, power_state.NOSTATE)
        if state == power_state.PAUSED and (
                instance.vm_state == vm_states.SUSPENDED or
                instance.task_state == task_states.SUSPENDING):
            state = power_state.SUSPENDED
        return state

    def _engine_runtime(self, instance):
        name = container_spec.runtime_name(
            instance, CONF.zun.runtimes, CONF.zun.default_runtime,
            CONF.zun.image_runtimes)
        return self._host.engine_runtime(name)

    @staticmethod
    def _refuse_unsupported(instance, network_info, block_device_info):
        for bdm in driver.block_device_info_get_mapping(block_device_info):
            if bdm.get('boot_index') == 0:
                raise exception.InvalidInput(
                    reason='instance %s: a container cannot boot from a '
                           'volume; boot it from a container image and '
                           'attach volumes as data volumes' % instance.uuid)

    def _workload_spec(self, context, instance, image_meta, sandbox_id):
        spec = self._spec_of_image(instance, images.reference(image_meta.id),
                                   sandbox_id)
        self._ensure_image(context, instance, image_meta)
        return spec

    def _ensure_image(self, context, instance, image_meta):
        images.ensure_image(
            context, self.runtime, self._image_api, image_meta,
            disk_gb=instance.flavor.root_gb,
            registry_property=CONF.zun.registry_reference_property,
            registry_auth=_registry_auth(),
            registry_auth_hosts=CONF.zun.registry_auth_hosts,
            allowed_registries=CONF.zun.allowed_registries)

    def _spec_of_image(self, instance, image, sandbox_id):
        """The workload spec of ``instance`` running ``image``."""
        engine_runtime = self._engine_runtime(instance)
        # Checked before anything is created: bad metadata fails fast.
        volumes.user_paths(instance)
        return container_spec.workload_spec(
            instance, self._host.name, image, sandbox_id, engine_runtime,
            CONF.zun.pids_limit)

    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        self._refuse_unsupported(instance, network_info, block_device_info)
        spec = self._workload_spec(context, instance, image_meta, None)
        try:
            sandbox = self._make_pod(
                context, instance, spec, network_info, block_device_info,
                power_on and container_spec.runs_at_boot(instance))
        except Exception as exc:
            with excutils.save_and_reraise_exception() as failure:
                reason = self._pods.build_abort_reason(exc)
                failure.reraise = reason is None
            raise exception.BuildAbortException(instance_uuid=instance.uuid,
                                                reason=reason)
        LOG.info('Spawned container %s in sandbox %s',
                 spec.name, sandbox.name, instance=instance)

    def _make_pod(self, context, instance, spec, network_info,
                  block_device_info, power_on, wait_for_ports=True):
        """Make the instance's pod here, its workload from ``spec``.

        Its sandbox, ports and volumes first; on failure nothing is left.
        Return the sandbox. ``wait_for_ports``: wait for Neutron's
        network-vif-plugged events before the workload starts.
        """
        # Reading network_info waits for Neutron's allocation: outside the
        # host's lock.
        sandbox_spec = self._pods.sandbox_spec(instance, network_info)
        volume_mapping = driver.block_device_info_get_mapping(
            block_device_info)
        try:
            # Tenant isolation, checked against what runs here under the
            # host's lock until the sandbox (labelled with the project)
            # exists: concurrent boots of two projects cannot both pass.
            with isolation.HostClaim(CONF.zun.tenant_isolation,
                                     self.runtime, self._host.name,
                                     context, instance):
                sandbox = self.runtime.create_sandbox(sandbox_spec,
                                                      start=False)
            sandbox, workload = self._pods.start_sandbox_during(
                sandbox, lambda: self._pods.mount_and_create_workload(
                    dataclasses.replace(spec, sandbox_id=sandbox.id),
                    instance, volume_mapping))
            # The workload starts with its network in place.
            self._plug_and_wait(instance, network_info, sandbox,
                                power_on and wait_for_ports)
            if power_on:
                self._pods.start_workload(workload, instance)
        except Exception:
            with excutils.save_and_reraise_exception():
                LOG.warning('Making the pod failed; removing its containers',
                            instance=instance)
                self._pods.tear_down(instance, network_info, volume_mapping,
                                     quiet=True)
        return sandbox

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        moved_image = None
        if (instance.task_state == task_states.RESIZE_REVERTING and
                instance.migration_context is not None):
            if self._same_host(self._migration(context, instance)):
                # Nova destroys the resized guest before it restores the
                # old one; here both are the one pod, which
                # finish_revert_migration gives its old limits again.
                return
            moved_image = self._workload_image(instance)
            if moved_image == images.reference(instance.image_ref):
                moved_image = None
        self._consoles.close(instance)
        try:
            self._rescues.end(instance)
        except runtime_exc.ContainerRuntimeError as exc:
            # The fault of a failed delete says why, as for the pod's.
            raise exception.InstanceTerminationFailure(
                reason='its rescue container could not be removed: %s' % exc)
        self._pods.tear_down(
            instance, network_info,
            driver.block_device_info_get_mapping(block_device_info))
        LOG.info('Containers removed', instance=instance)
        if moved_image:
            # What the move brought here goes with the revert.
            self._remove_image_quietly(moved_image)

    def _workload_image(self, instance):
        try:
            return self.runtime.status(
                container_spec.workload_name(instance)).image
        except runtime_exc.NotFound:
            return None

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        self._consoles.close(instance)
        self._rescues.end(instance, quiet=True)
        self._pods.tear_down(
            instance, network_info,
            driver.block_device_info_get_mapping(block_device_info),
            unplug=destroy_vifs)

    # -- network ------------------------------------------------------------

    def _neutron_failed_callback(self, event_name, instance):
        LOG.error('Neutron reported failure on event %(event)s for '
                  'instance %(uuid)s',
                  {'event': event_name, 'uuid': instance.uuid},
                  instance=instance)
        if CONF.vif_plugging_is_fatal:
            raise exception.VirtualInterfaceCreateException()

    def _plug_and_wait(self, instance, network_info, sandbox, power_on=True):
        """Plug every port into the sandbox; wait until Neutron has them up.

        Nova's libvirt driver waits for Neutron the same way before it starts a
        guest: the workload starts with its network in place.
        """
        if not network_info:
            return
        timeout = CONF.vif_plugging_timeout
        events = (network.neutron_events(network_info)
                  if power_on and timeout else [])
        try:
            with self.virtapi.wait_for_instance_event(
                    instance, events, timeout=timeout,
                    error_callback=self._neutron_failed_callback):
                self._pods.plug(instance, network_info, sandbox)
        except exception.InstanceEventTimeout:
            if CONF.vif_plugging_is_fatal:
                # The caller unplugs and removes the pod.
                raise exception.VirtualInterfaceCreateException()
            LOG.warning('Neutron did not report the ports up within %ss; '
                        'starting anyway ([DEFAULT] vif_plugging_is_fatal '
                        '= False)', timeout, instance=instance)

    def plug_vifs(self, instance, network_info):
        """Plug ports missing from a running sandbox.

        The compute service asks for this at start, for each instance.
        """
        if not network_info:
            return
        name = container_spec.sandbox_name(instance)
        try:
            state = self.runtime.status(name).state
            sandbox = self.runtime.get_sandbox(name)
        except runtime_exc.NotFound:
            return  # hard reboot makes a new sandbox and plugs it
        # A stopped sandbox's namespace is gone (the engine may still name
        # its path): starting the sandbox plugs the ports into a new one.
        if state != types.ContainerState.RUNNING or not sandbox.netns_path:
            return
        macs = set(self._vifs.plugged(sandbox.netns_path).values())
        for vif in network_info:
            if vif['address'] not in macs:
                self._vifs.plug(instance, vif, sandbox.netns_path,
                                self._vifs.next_ifname(sandbox.netns_path))

    def unplug_vifs(self, instance, network_info):
        self._pods.unplug(instance, network_info)

    def attach_interface(self, context, instance, image_meta, vif):
        """Plug a port into the running pod's namespace as the next free ethN.

        The workload sees it at once.
        """
        try:
            sandbox = self.runtime.get_sandbox(
                container_spec.sandbox_name(instance))
            if not sandbox.netns_path:
                raise runtime_exc.NotFound('sandbox has no namespace')
        except runtime_exc.NotFound:
            raise exception.InterfaceAttachFailed(
                instance_uuid=instance.uuid)
        try:
            self._vifs.plug(instance, vif, sandbox.netns_path,
                            self._vifs.next_ifname(sandbox.netns_path))
            others = [v for v in instance.get_network_info()
                      if v['id'] != vif['id']]
            self._pods.write_dns(instance, others + [vif], sandbox)
        except Exception:
            LOG.exception('Attaching port %s failed', vif['id'],
                          instance=instance)
            self._vifs.unplug(instance, vif, quiet=True)
            raise exception.InterfaceAttachFailed(
                instance_uuid=instance.uuid)

    def detach_interface(self, context, instance, vif):
        try:
            self._vifs.unplug(instance, vif)
        except exception.InternalError:
            raise exception.InterfaceDetachFailed(
                instance_uuid=instance.uuid)

    # -- volumes ------------------------------------------------------------

    def default_root_device_name(self, instance, image_meta, root_bdm):
        # Volumes then get vdb, vdc, ... (Nova's naming after the root's
        # prefix), which name their directories in the container.
        return '/dev/vda'

    def get_volume_connector(self, instance):
        return volumes.connector_properties(CONF.my_block_storage_ip,
                                            CONF.host)

    def attach_volume(self, context, connection_info, instance, mountpoint,
                      disk_bus=None, device_type=None, encryption=None):
        """Connect and mount the volume on the host.

        The running workload sees it at once through its /volumes propagation
        mount.
        """
        if encryption:
            raise exception.VolumeAttachFailed(
                volume_id=volumes.volume_id(connection_info),
                reason='encrypted volumes are not supported by nova-zun')
        self._volumes.attach(instance, connection_info, mountpoint)

    def detach_volume(self, context, connection_info, instance, mountpoint,
                      encryption=None):
        self._volumes.detach(instance, connection_info, mountpoint,
                             workload_pid=self._workload_pid(instance))

    def _workload_pid(self, instance):
        try:
            return self.runtime.status(
                container_spec.workload_name(instance)).pid or None
        except runtime_exc.NotFound:
            return None

    # -- power --------------------------------------------------------------

    def power_off(self, instance, timeout=0, retry_interval=0):
        self._consoles.close(instance)
        self.runtime.stop(container_spec.workload_name(instance),
                          timeout=container_spec.stop_timeout(instance,
                                                              timeout))

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        self._pods.ensure_sandbox_running(instance, network_info)
        self._volumes.mount_all(
            instance, driver.block_device_info_get_mapping(block_device_info))
        self.runtime.start(container_spec.workload_name(instance))

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        """Restart the workload only: the sandbox survives.

        With the sandbox, the network namespace and addresses survive. Hard
        reboot also repairs: it restarts a stopped sandbox and recreates a
        missing workload.
        """
        name = container_spec.workload_name(instance)
        if reboot_type == 'SOFT':
            self.runtime.restart(name, timeout=CONF.zun.stop_timeout)
            return
        # A rescue cut short (nova-compute stopped during it) is undone: the
        # workload's layers must not be mounted twice.
        self._rescues.end(instance, quiet=True)
        sandbox = self._pods.ensure_sandbox_running(instance, network_info)
        # After the host's restart nothing is mounted any more.
        self._volumes.mount_all(
            instance, driver.block_device_info_get_mapping(block_device_info))
        try:
            self.runtime.restart(name, timeout=0)
        except runtime_exc.NotFound:
            LOG.warning('Workload missing; recreating it', instance=instance)
            image_meta = objects.ImageMeta.from_instance(instance)
            spec = self._workload_spec(context, instance, image_meta,
                                       sandbox.id)
            self._pods.create_workload(spec, instance, power_on=True)

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  share_info, block_device_info=None):
        self.reboot(context, instance, network_info, 'HARD',
                    block_device_info)

    def poll_rebooting_instances(self, timeout, instances):
        # Reboots here are synchronous: one still REBOOTING after the
        # timeout failed half-way, and a hard reboot repairs it.
        from nova.compute import api as compute_api
        api = compute_api.API()
        ctxt = nova_context.get_admin_context()
        for instance in instances:
            LOG.warning('Reboot timed out; hard rebooting',
                        instance=instance)
            api.reboot(ctxt, instance, 'HARD')

    def pause(self, instance):
        self.runtime.pause(container_spec.workload_name(instance))

    def unpause(self, instance):
        self.runtime.unpause(container_spec.workload_name(instance))

    def suspend(self, context, instance):
        self.runtime.pause(container_spec.workload_name(instance))

    def resume(self, context, instance, network_info, block_device_info=None,
               share_info=None):
        self.runtime.unpause(container_spec.workload_name(instance))

    def rescue(self, context, instance, network_info, image_meta,
               rescue_password, block_device_info, share_info):
        """Run the rescue image in the pod, the root filesystem at /mnt.

        Nova stopped the workload. No password is set (a container has no
        login to set it for); volumes stay with the stopped workload.
        """
        self._ensure_image(context, instance, image_meta)
        sandbox = self._pods.ensure_sandbox_running(instance, network_info)
        # Nova stopped the workload; make sure (a stopped one stays so).
        self.runtime.stop(container_spec.workload_name(instance), timeout=0)
        self._rescues.start(instance, container_spec.rescue_spec(
            instance, self._host.name, images.reference(image_meta.id),
            sandbox.id, self._engine_runtime(instance), CONF.zun.pids_limit))

    def unrescue(self, context, instance):
        """Remove the rescue; start the workload with what it repaired."""
        self._consoles.close(instance)
        self._rescues.end(instance)
        self._pods.start_workload(container_spec.workload_name(instance),
                                  instance)

    def rebuild(self, context, instance, image_meta, injected_files,
                admin_password, allocations, bdms, detach_block_devices,
                attach_block_devices, network_info=None, evacuate=False,
                block_device_info=None, preserve_ephemeral=False,
                accel_uuids=None, reimage_boot_volume=False):
        """A new workload from the new image in the same sandbox."""
        if evacuate or compute_utils.is_volume_backed_instance(
                context, instance, bdms):
            # Nova's default rebuild (destroy + spawn) handles these. Nova
            # asks to reimage the boot volume for every rebuild since 2.93;
            # only a volume-backed instance has one.
            raise NotImplementedError()
        if preserve_ephemeral:
            raise exception.PreserveEphemeralNotSupported()
        self._refuse_unsupported(instance, network_info, block_device_info)
        spec = self._workload_spec(context, instance, image_meta, None)
        name = container_spec.workload_name(instance)
        try:
            self.runtime.stop(name, timeout=CONF.zun.stop_timeout)
            self.runtime.remove(name, force=True)
        except runtime_exc.NotFound:
            pass
        detach_block_devices(context, bdms,
                             detach_root_bdm=not reimage_boot_volume)
        instance.task_state = task_states.REBUILD_BLOCK_DEVICE_MAPPING
        instance.save(expected_task_state=[task_states.REBUILDING])
        # Nova detached the volumes (detach_volume) and attaches them again
        # without the driver: they are mounted from the new mapping.
        block_device_info = attach_block_devices(context, instance, bdms)
        instance.task_state = task_states.REBUILD_SPAWNING
        instance.save(
            expected_task_state=[task_states.REBUILD_BLOCK_DEVICE_MAPPING])
        sandbox = self._pods.ensure_sandbox_running(instance, network_info)
        self._volumes.mount_all(
            instance, driver.block_device_info_get_mapping(block_device_info))
        self._pods.create_workload(
            dataclasses.replace(spec, sandbox_id=sandbox.id), instance,
            power_on=True)

    def get_instance_diagnostics(self, instance):
        """The workload's counters as the engine and the kernel keep them.

        One CPU entry holds the whole pod's CPU time (a quota over the host's
        CPUs, no virtual CPUs); memory is the limit and the use, in MiB; a
        NIC for each port in the pod's namespace; a disk for each block
        device of the host the workload did I/O on (its writable layer's,
        its volumes'). Nova's object knows no container driver: ``driver``
        stays unset.
        """
        name = container_spec.workload_name(instance)
        try:
            status = self.runtime.status(name)
            sample = self.runtime.stats(name)
        except runtime_exc.NotFound:
            raise exception.InstanceNotFound(instance_id=instance.uuid)
        state = self._power_state(instance, status)
        uptime = None
        if state == power_state.RUNNING and status.started_at:
            uptime = int(timeutils.delta_seconds(
                timeutils.parse_isotime(status.started_at),
                timeutils.utcnow(with_timezone=True)))
        diags = diagnostics.Diagnostics(
            state=power_state.STATE_MAP[state],
            hypervisor=self.runtime.name, hypervisor_os='linux',
            uptime=uptime, config_drive=False)
        diags.add_cpu(id=0, time=sample.cpu_time_ns,
                      utilisation=round(sample.cpu_percent))
        # Rounded up: a workload using less than a MiB uses memory.
        diags.memory_details = diagnostics.MemoryDiagnostics(
            maximum=sample.memory_limit_bytes // units.Mi,
            used=-(-sample.memory_usage_bytes // units.Mi))
        for device in sample.block_devices:
            diags.add_disk(read_bytes=device.read_bytes,
                           read_requests=device.read_requests,
                           write_bytes=device.write_bytes,
                           write_requests=device.write_requests)
        for _, nic in sorted(self._port_counters(instance).items()):
            diags.add_nic(
                mac_address=nic['address'],
                rx_octets=nic.get('rx_bytes'), rx_errors=nic.get('rx_errors'),
                rx_drop=nic.get('rx_dropped'),
                rx_packets=nic.get('rx_packets'),
                tx_octets=nic.get('tx_bytes'), tx_errors=nic.get('tx_errors'),
                tx_drop=nic.get('tx_dropped'),
                tx_packets=nic.get('tx_packets'))
        return diags

    def _port_counters(self, instance):
        try:
            sandbox = self.runtime.get_sandbox(
                container_spec.sandbox_name(instance))
        except runtime_exc.NotFound:
            return {}
        if not sandbox.netns_path:
            return {}
        return self._vifs.counters(sandbox.netns_path)

    def get_diagnostics(self, instance):
        """Diagnostics before compute API 2.48: libvirt's keys."""
        diags = self.get_instance_diagnostics(instance)
        # libvirt gives the memory in KiB.
        legacy = {'memory': diags.memory_details.maximum * units.Ki}
        for cpu in diags.cpu_details:
            legacy['cpu%d_time' % cpu.id] = cpu.time
        for index, disk in enumerate(diags.disk_details):
            prefix = 'disk%d_' % index
            legacy.update({prefix + 'read': disk.read_bytes,
                           prefix + 'read_req': disk.read_requests,
                           prefix + 'write': disk.write_bytes,
                           prefix + 'write_req': disk.write_requests})
        for index, nic in enumerate(diags.nic_details):
            prefix = 'eth%d_' % index
            legacy.update({prefix + 'rx': nic.rx_octets,
                           prefix + 'rx_packets': nic.rx_packets,
                           prefix + 'rx_errors': nic.rx_errors,
                           prefix + 'rx_drop': nic.rx_drop,
                           prefix + 'tx': nic.tx_octets,
                           prefix + 'tx_packets': nic.tx_packets,
                           prefix + 'tx_errors': nic.tx_errors,
                           prefix + 'tx_drop': nic.tx_drop})
        return legacy

    # -- moves: resize, cold migration -------------------------------------

    @staticmethod
    def _migration(context, instance):
        return objects.Migration.get_by_id(
            context, instance.migration_context.migration_id)

    @staticmethod
    def _same_host(migration):
        return migration.source_compute == migration.dest_compute

    def migrate_disk_and_power_off(self, context, instance, dest,
                                   flavor, network_info,
                                   block_device_info=None,
                                   timeout=0, retry_interval=0):
        """The source's half of a resize or cold migration.

        On this host the pod stays and runs on: the new flavor's limits are
        set live by :meth:`finish_migration`. To another host the workload
        stops, its filesystem goes to a Glance image, and its ports, sandbox
        and volumes are let go; the stopped pod stays here until the move is
        confirmed, and a revert starts it again.
        """
        if self._same_host(self._migration(context, instance)):
            self._check_live_resize(instance, flavor)
            return jsonutils.dumps({})
        name = container_spec.workload_name(instance)
        running = self.runtime.status(name).state == _RUNNING
        self._consoles.close(instance)
        self.runtime.stop(name, timeout=timeout)
        try:
            image_id = images.upload_move(context, self.runtime,
                                          self._image_api, name, instance)
        except Exception as exc:
            LOG.exception('Could not carry the workload\'s filesystem to '
                          'Glance', instance=instance)
            if running:
                self.runtime.start(name)
            raise exception.InstanceFaultRollback(
                inner_exception=exception.ResizeError(
                    reason='the workload\'s filesystem could not be '
                           'uploaded to Glance: %s' % exc)) from exc
        self._pods.unplug(instance, network_info)
        self.runtime.stop(container_spec.sandbox_name(instance), timeout=0)
        self._volumes.detach_all(
            instance, driver.block_device_info_get_mapping(block_device_info))
        return jsonutils.dumps({'image_id': image_id})

    def _check_live_resize(self, instance, flavor):
        """Refuse a resize on this host that the running pod cannot take.

        Limits of CPU, memory and processes change live; another runtime,
        other capabilities or another enforced disk limit need a new
        container (a resize to another host makes one), and a memory limit
        below what the workload uses would have the kernel refuse it.
        """
        resized = instance.obj_clone()
        resized.flavor = flavor
        name = container_spec.workload_name(instance)
        status = self.runtime.status(name)
        new = container_spec.resources(resized, CONF.zun.pids_limit)
        changes = []
        try:
            if self._engine_runtime(resized) != self._engine_runtime(
                    instance):
                changes.append('the container runtime')
        except exception.InvalidInput as exc:
            changes.append(exc.format_message())
        if (container_spec.capabilities(resized) !=
                container_spec.capabilities(instance)):
            changes.append('the capabilities (%s)'
                           % container_spec.SPEC_CAP_ADD)
        if (container_spec.privileged(resized) !=
                container_spec.privileged(instance)):
            changes.append('privileged (%s)' % container_spec.SPEC_PRIVILEGED)
        if status.disk_limit_gb and status.disk_limit_gb != new.disk_gb:
            changes.append('the disk limit the engine enforces')
        if status.state == _RUNNING:
            used = self.runtime.stats(name).memory_usage_bytes
            if used > new.memory_mb * units.Mi:
                changes.append('a memory limit of %d MiB below the %d MiB '
                               'the workload uses' % (new.memory_mb,
                                                      used // units.Mi))
        if changes:
            raise exception.InstanceFaultRollback(
                inner_exception=exception.ResizeError(
                    reason='a resize on the same host changes the limits '
                           'of the running container only, not %s: resize '
                           'to another host' % ', '.join(changes)))

    def _update_limits(self, instance):
        self.runtime.update_resources(
            container_spec.workload_name(instance),
            container_spec.resources(instance, CONF.zun.pids_limit))

    def finish_migration(self, context, migration, instance, disk_info,
                         network_info, image_meta, resize_instance,
                         allocations, block_device_info=None, power_on=True,
                         share_info=None):
        """The destination's half: new limits here, or a pod made here.

        The pod is made from the Glance image of
        :meth:`migrate_disk_and_power_off`, which goes from Glance once
        loaded.
        """
        if self._same_host(migration):
            self._update_limits(instance)
            LOG.info('Resized: the limits of flavor %s are set',
                     instance.flavor.name, instance=instance)
            return
        image_id = jsonutils.loads(disk_info)['image_id']
        spec = self._spec_of_image(instance, images.reference(image_id),
                                   None)
        images.load_move(context, self.runtime, self._image_api, image_id,
                         instance)
        try:
            # No waiting for Neutron, as libvirt's finish_migration: a port
            # whose binding moved may never be reported plugged again.
            self._make_pod(context, instance, spec, network_info,
                           block_device_info, power_on, wait_for_ports=False)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._remove_image_quietly(spec.image)
        LOG.info('Moved here from %s', migration.source_compute,
                 instance=instance)

    def _remove_image_quietly(self, image):
        try:
            self.runtime.remove_image(image)
        except runtime_exc.ContainerRuntimeError as exc:
            LOG.warning('Could not remove image %s: %s', image, exc)

    def confirm_migration(self, context, migration, instance, network_info):
        """Remove the source's stopped pod (nothing on the same host).

        Its ports went when it stopped; the switch is not swept for the
        instance's ports: computes that share one machine share its switch,
        where the destination's now are.
        """
        if not self._same_host(migration):
            self._pods.remove(instance.uuid)
            self._volumes.release_leftovers(instance.uuid)
            LOG.info('Move to %s confirmed; pod removed here',
                     migration.dest_compute, instance=instance)

    def finish_revert_migration(self, context, instance, network_info,
                                migration, block_device_info=None,
                                power_on=True, share_info=None):
        """Give the pod its old limits, or start the source's pod again."""
        if self._same_host(migration):
            self._update_limits(instance)
            return
        self._volumes.mount_all(
            instance, driver.block_device_info_get_mapping(block_device_info))
        # A started sandbox has a new namespace: its ports go into it.
        self._pods.ensure_sandbox_running(instance, network_info)
        if power_on:
            self.runtime.start(container_spec.workload_name(instance))

    def get_serial_console(self, context, instance):
        return self._consoles.console(instance,
                                      self._running_container(instance))

    def get_console_output(self, context, instance):
        limit = CONF.zun.console_log_max_bytes
        # Lines are asked for first so a huge log is never read whole.
        output = self.runtime.logs(self._running_container(instance),
                                   tail=max(100, limit // 16))
        return output[-limit:]

    # -- images -------------------------------------------------------------

    def snapshot(self, context, instance, image_id, update_task_state):
        """Commit the workload's filesystem and upload it to Glance.

        The filesystem is frozen for the commit only; Glance gets a
        container_format docker archive. Shelve uses this too; unshelve boots
        the snapshot.
        """
        name = container_spec.workload_name(instance)
        try:
            self.runtime.status(name)
        except runtime_exc.NotFound:
            raise exception.InstanceNotRunning(instance_id=instance.uuid)
        images.snapshot(context, self.runtime, self._image_api, name,
                        instance, image_id, update_task_state,
                        pause=CONF.zun.snapshot_pause)

    def manage_image_cache(self, context, all_instances):
        containers = self._pods.containers()
        self._image_cache.update(
            context, all_instances, CONF.zun.image_cache_unused_age,
            containers_images={c.image for c in containers if c.image})
