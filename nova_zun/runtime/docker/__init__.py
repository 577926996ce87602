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
