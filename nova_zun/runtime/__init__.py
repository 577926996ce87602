"""The container runtime layer: one interface, engine backends.

Nothing here knows about Nova; the driver and the native API both use it.
"""

from nova_zun.runtime import docker


def from_conf(conf, reap_shims):
    """Build the runtime that ``[zun]`` in ``conf`` describes;
    ``reap_shims`` as :class:`docker.DockerRuntime` takes it."""
    return docker.DockerRuntime(conf.zun.engine_url,
                                timeout=conf.zun.engine_timeout,
                                sandbox_binary=conf.zun.sandbox_binary,
                                reap_shims=reap_shims)
