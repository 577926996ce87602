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

"""The container runtime layer: one interface, engine backends.

Nothing here knows about Nova; the driver and the native API both use it.
"""

from nova_zun.runtime import docker
from nova_zun.runtime import shims


def from_conf(conf, reap_shims=shims.reap):
    """Build the runtime that ``[zun]`` in ``conf`` describes.

    ``reap_shims`` is passed on to :class:`docker.DockerRuntime` (a service
    that is not root passes a privileged one).
    """
    return docker.DockerRuntime(conf.zun.engine_url,
                                timeout=conf.zun.engine_timeout,
                                sandbox_binary=conf.zun.sandbox_binary,
                                reap_shims=reap_shims)
