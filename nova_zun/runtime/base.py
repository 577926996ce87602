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

"""The engine-neutral container runtime interface.

Shaped like Kubernetes' CRI: a sandbox owns the network namespace, workload
containers join it, and images are managed beside them. Every method raises
the exceptions of :mod:`nova_zun.runtime.exception`; container arguments are
ids or names.
"""

import abc


class ContainerRuntime(abc.ABC):

    # -- engine -------------------------------------------------------------

    @abc.abstractmethod
    def engine_info(self):
        """Return :class:`~nova_zun.runtime.types.EngineInfo`."""

    # -- sandboxes ----------------------------------------------------------

    @abc.abstractmethod
    def create_sandbox(self, spec, start=True):
        """Create and start a sandbox from a SandboxSpec; return a Sandbox.

        The sandbox starts with a network namespace of its own holding only
        loopback; callers plug interfaces into ``Sandbox.netns_path``. Its
        image is the host's, pinned by id (ConfigurationError if the host
        cannot make it, e.g. its sandbox binary is missing). The
        engine writes the spec's ``dns_servers`` into the pod's
        /etc/resolv.conf, again at every start of the sandbox.
        With ``start=False`` it is only created (no namespace yet): a
        workload can be created against it while :meth:`start_sandbox`
        runs.
        """

    @abc.abstractmethod
    def start_sandbox(self, sandbox):
        """Start a created (or stopped) sandbox.

        Return the Sandbox with its new network namespace.
        """

    @abc.abstractmethod
    def get_sandbox(self, sandbox):
        """Return the Sandbox with this id or name."""

    @abc.abstractmethod
    def remove_sandbox(self, sandbox):
        """Stop and remove a sandbox; its namespace goes with it."""

    # -- containers ---------------------------------------------------------

    @abc.abstractmethod
    def create_container(self, spec):
        """Create (not start) a container from a ContainerSpec.

        Return its id.
        """

    @abc.abstractmethod
    def start(self, container):
        pass

    @abc.abstractmethod
    def stop(self, container, timeout=None):
        """Send the stop signal, and kill after ``timeout`` seconds."""

    @abc.abstractmethod
    def restart(self, container, timeout=None):
        pass

    @abc.abstractmethod
    def kill(self, container, signal=None):
        pass

    @abc.abstractmethod
    def pause(self, container):
        """Freeze every process of the container (cgroup freezer)."""

    @abc.abstractmethod
    def unpause(self, container):
        pass

    @abc.abstractmethod
    def remove(self, container, force=False):
        pass

    @abc.abstractmethod
    def status(self, container):
        """Return the ContainerStatus of one container."""

    @abc.abstractmethod
    def list_containers(self, labels=None):
        """Return ContainerStatus for every container carrying ``labels``.

        ``labels`` is a dict; a container, running or not, must carry all of
        them.
        """

    @abc.abstractmethod
    def events(self, labels=None, since_ns=None):
        """Return an iterator of ContainerEvent for containers with ``labels``.

        Containers must carry all of ``labels``; events come from ``since_ns``
        on (else from now). The iterator waits for the next event; ``close()``
        on it ends the wait from any thread, and it ends, or raises
        EngineUnavailable, when the engine goes.
        """

    @abc.abstractmethod
    def update_resources(self, container, resources):
        """Change CPU and memory limits of a live container."""

    @abc.abstractmethod
    def exec(self, container, command, *, timeout=None, max_output=None,
             environment=None, workdir=None, user=None):
        """Run ``command`` in the container and return an ExecResult.

        A command that cannot be started (missing binary) is not an error
        here: like ``docker exec`` it gives exit code 126 or 127 and the
        engine's message as output. Raises OperationTimeout after ``timeout``
        seconds; output past ``max_output`` bytes is dropped.
        """

    @abc.abstractmethod
    def exec_stream(self, container, command, *, tty=False, stdin=False,
                    environment=None, workdir=None):
        """Start ``command`` and return a StreamSession bound to it."""

    @abc.abstractmethod
    def create_exec(self, container, command, *, tty=False, stdin=False,
                    environment=None, workdir=None):
        """Prepare ``command`` without starting it; return the exec id.

        The id is for :meth:`start_exec`, once, and :meth:`exec_resize`.
        """

    @abc.abstractmethod
    def start_exec(self, exec_id):
        """Start a prepared exec; return a StreamSession bound to it.

        Raises Conflict if it was started before.
        """

    @abc.abstractmethod
    def stream_output(self, session):
        """Iterate over the output of a StreamSession (exec or attach).

        Yield byte chunks as the process writes them, without the engine's
        framing, until the stream ends or is closed.
        """

    @abc.abstractmethod
    def exec_resize(self, exec_id, height, width):
        pass

    @abc.abstractmethod
    def exec_status(self, exec_id):
        """Return ``(running, exit_code)`` of an exec session."""

    @abc.abstractmethod
    def exec_container(self, exec_id):
        """Return the id of the container an exec session runs in."""

    @abc.abstractmethod
    def logs(self, container, *, stdout=True, stderr=True, tail=None,
             since=None, timestamps=False, follow=False, stream=False):
        """Return the container's output as bytes.

        With ``stream``, return an iterator of byte chunks that ends at the end
        of the output; with ``follow``, one that ends when the container stops.
        """

    @abc.abstractmethod
    def attach(self, container, *, stdin=True, logs=False):
        """Return a StreamSession on the container's main process."""

    @abc.abstractmethod
    def resize(self, container, height, width):
        """Resize the TTY of the container's main process."""

    @abc.abstractmethod
    def top(self, container, ps_args=None):
        """Return a ProcessList."""

    @abc.abstractmethod
    def stats(self, container):
        """Return a ContainerStats sample."""

    @abc.abstractmethod
    def get_archive(self, container, path):
        """Return ``(chunks, stat)``: a tar stream of ``path`` and its stat.

        ``stat`` is a dict (name, size, mode, mtime).
        """

    @abc.abstractmethod
    def put_archive(self, container, path, data):
        """Extract the tar archive ``data`` (bytes) into directory ``path``.

        Raises InvalidRequest for a relative path, a path or member that
        climbs out with ``..``, absolute members and links that point out
        of the extraction directory.
        """

    @abc.abstractmethod
    def root_layers(self, container):
        """Return the OverlayLayers of a container's root filesystem.

        Mounting them while the container is stopped gives its filesystem
        as it runs, changes going to its writable layer. Raises
        ConfigurationError when the engine does not store containers in
        overlayfs layers.
        """

    @abc.abstractmethod
    def commit(self, container, message=None, author=None):
        """Make an image of the container's filesystem; return its id.

        The image has no name: the caller gives it one, or none.
        """

    # -- images -------------------------------------------------------------

    @abc.abstractmethod
    def load_image(self, data):
        """Load an image archive holding exactly one image.

        The archive is a ``docker save`` one, or an OCI layout where the engine
        reads one; a tar, or one compressed with gzip, bzip2 or xz.

        ``data`` is a file-like object or an iterable of byte chunks; it is
        streamed, never held whole in memory. No name inside the archive
        reaches the engine (:mod:`nova_zun.runtime.archive_stream`): the image
        is loaded unnamed. Returns ``[image id]``; raises InvalidRequest for
        anything else.
        """

    @abc.abstractmethod
    def import_rootfs(self, data, reference, *, command=None, labels=None):
        """Make an image from a root filesystem tar (bytes); return its id.

        The image is tagged ``reference``.
        """

    @abc.abstractmethod
    def load_image_report(self, data, absent_layers=()):
        """Load an image archive as :meth:`load_image` does.

        Return an ImageTransfer (references: the image id; layers stored and
        already present). Every layer must be in the archive, with the digest
        the image's config gives, but those whose digests are in
        ``absent_layers``: the caller knows the engine holds them and that
        the image's owner may read them.
        """

    @abc.abstractmethod
    def layers_present(self, diff_ids):
        """How many of a stack of layers the engine holds, from the bottom.

        ``diff_ids`` are the layers' digests, bottom first. A layer counts
        only on the same layers below it (its ChainID), as the engine's
        layer store keeps it.
        """

    @abc.abstractmethod
    def pull_image(self, reference, auth=None):
        """Pull from a registry; ``auth`` is a dict with username and password.

        Returns the image id; the engine names it ``reference``.

        Raises NotFound when the registry has no such image,
        PermissionDenied when it refuses access, RegistryUnavailable when
        it cannot be reached.
        """

    @abc.abstractmethod
    def pull_image_report(self, reference, auth=None):
        """Pull as :meth:`pull_image` does; return an ImageTransfer.

        Its references hold the image id.
        """

    @abc.abstractmethod
    def push_image(self, reference, auth=None):
        """Push the image named ``reference`` to its registry.

        ``reference`` is ``registry/name:tag``; ``auth`` is as for
        :meth:`pull_image`.
        """

    @abc.abstractmethod
    def save_image(self, image):
        """Return an iterator of byte chunks: a ``docker save`` archive."""

    @abc.abstractmethod
    def tag_image(self, image, repository, tag):
        pass

    @abc.abstractmethod
    def remove_image(self, image, force=False):
        pass

    @abc.abstractmethod
    def image_exists(self, image):
        pass

    @abc.abstractmethod
    def inspect_image(self, image):
        """Return ImageInfo."""

    @abc.abstractmethod
    def list_images(self, labels=None):
        """Return ImageInfo for every image carrying all of ``labels``."""
