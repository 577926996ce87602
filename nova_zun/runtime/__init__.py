"""The container runtime layer: one interface, engine backends.

Nothing here knows about Nova; the driver and the native API both use it.
"""

from nova_zun.runtime import docker
from nova_zun.runtime import shims


def from_conf(conf, reap_shims=shims.reap):
    """Build the runtime that ``[zun]`` in ``conf`` describes;
    ``reap_shims`` as :class:`docker.DockerRuntime` takes it (a service
    that is not root passes a privileged one)."""
    return docker.DockerRuntime(conf.zun.engine_url,
                                timeout=conf.zun.engine_timeout,
                                sandbox_binary=conf.zun.sandbox_binary,
                                reap_shims=reap_shims)
