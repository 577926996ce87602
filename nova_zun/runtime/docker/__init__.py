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

"""Docker Engine backend of the container runtime (docker SDK).

Also serves Podman through its Docker-compatible socket. The OCI runtime
(runc, runsc, kata) is a per-container option of the same engine.

One concern per module, as Kubernetes' dockershim spread one service over
files: :mod:`.backend` is the runtime (engine, sandboxes, containers,
exec), :mod:`.images` its image service (and the pod sandbox image),
:mod:`.streams` the hijacked connections of exec and attach,
:mod:`.conversions` the engine's JSON as runtime types, and
:mod:`.errors` the engine's errors as runtime exceptions.
"""

from nova_zun.runtime.docker import backend

DockerRuntime = backend.DockerRuntime
