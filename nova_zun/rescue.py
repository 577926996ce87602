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

"""Rescue: the rescue image runs in the pod over the server's own files.

As a rescued virtual machine boots the rescue image with its own disk
attached, a rescued server's pod runs a rescue container (``nova-<uuid>-
rescue``) from the rescue image, with the stopped workload's root
filesystem mounted read-write at /mnt. That filesystem is the engine's own
overlayfs layers of the workload, mounted as the engine mounts them when
the workload runs: what the rescue changes goes into the workload's
writable layer. Unrescue removes the rescue container, unmounts the layers
and starts the workload again: the same container, repaired. The state is
the engine's containers and the host's mount table: a restart of
nova-compute finds a rescue as it left it.
"""

import dataclasses
import os

from nova import exception
from oslo_log import log as logging
from oslo_utils import excutils

from nova_zun import container_spec
from nova_zun import privileged
from nova_zun.runtime import exception as runtime_exc
from nova_zun.runtime import types

LOG = logging.getLogger(__name__)

#: Where the rescue container sees the server's root filesystem.
ROOT_IN_RESCUE = '/mnt'


class Rescues:

    def __init__(self, runtime, mount_dir):
        self._runtime = runtime
        self._mount_dir = mount_dir

    def _root_mount(self, instance):
        """The host directory the workload's root filesystem is mounted at.

        Apart from the instance's volume directory, which its workload binds.
        """
        return os.path.join(self._mount_dir, 'rescue', instance.uuid)

    def start(self, instance, spec):
        """Run the rescue container of ``spec`` over the stopped workload.

        On failure nothing of the rescue is left.
        """
        layers = self._runtime.root_layers(
            container_spec.workload_name(instance))
        target = self._root_mount(instance)
        privileged.make_directories([target])
        code, err = privileged.mount_overlay(
            layers.lower_dirs, layers.upper_dir, layers.work_dir, target)
        if code:
            privileged.remove_directories([target])
            raise exception.InstanceNotRescuable(
                instance_id=instance.uuid,
                reason='its root filesystem could not be mounted: %s' % err)
        try:
            self._runtime.start(self._runtime.create_container(
                dataclasses.replace(spec, mounts=spec.mounts + (
                    types.Mount(target, ROOT_IN_RESCUE),))))
        except Exception:
            with excutils.save_and_reraise_exception():
                self.end(instance, quiet=True)
        LOG.info('Rescue container %s runs; the root filesystem is at %s',
                 spec.name, ROOT_IN_RESCUE, instance=instance)

    def end(self, instance, quiet=False):
        """Remove the rescue container and unmount the root filesystem.

        What is gone already is fine. ``quiet``: log failures, raise none.
        """
        try:
            self._runtime.remove(container_spec.rescue_name(instance),
                                 force=True)
        except runtime_exc.NotFound:
            pass
        except runtime_exc.ContainerRuntimeError:
            if not quiet:
                raise
            LOG.exception('Could not remove the rescue container',
                          instance=instance)
        target = self._root_mount(instance)
        if os.path.ismount(target):
            code, err = privileged.unmount(target)
            if code:
                if not quiet:
                    raise exception.InstanceUnRescueFailure(
                        reason='its root filesystem could not be unmounted '
                               'from %s: %s' % (target, err))
                LOG.error('Could not unmount %s: %s', target, err,
                          instance=instance)
                return
        if os.path.isdir(target):
            privileged.remove_directories([target])
