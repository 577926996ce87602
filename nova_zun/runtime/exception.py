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

"""Errors of the container runtime layer.

Backends translate their engine's errors into these, so callers (the Nova
driver, the native API) handle one set of exceptions whatever the engine.
"""


class ContainerRuntimeError(Exception):
    """Base class: something the engine could not do."""

    def __init__(self, message, *, reason=None):
        super().__init__(message)
        self.message = message
        # The engine's own words, kept for logs and faults.
        self.reason = reason


class NotFound(ContainerRuntimeError):
    """The container, sandbox, exec session or image does not exist."""


class Conflict(ContainerRuntimeError):
    """The object's state forbids the operation, or a name is already taken."""


class InvalidRequest(ContainerRuntimeError):
    """The request itself is wrong (bad path, bad archive, bad option)."""


class EngineUnavailable(ContainerRuntimeError):
    """The engine cannot be reached (socket missing, daemon down)."""


class OperationTimeout(ContainerRuntimeError):
    """The engine did not finish the operation in the time allowed."""


class PermissionDenied(ContainerRuntimeError):
    """A registry refused access to an image.

    The credentials are missing or wrong, or may not read the image.
    """


class RegistryUnavailable(ContainerRuntimeError):
    """A registry could not be reached.

    The host is unknown, the connection is refused, or the network or TLS
    fails.
    """


class ConfigurationError(ContainerRuntimeError):
    """The host is set up wrong: its operator must fix it.

    For example, the pod sandbox binary is missing.
    """
