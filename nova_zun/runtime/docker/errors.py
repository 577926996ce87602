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

"""The engine's errors (docker SDK, transport) as runtime exceptions."""

import functools

from docker import errors as docker_errors
import requests

from nova_zun.runtime import exception

# Errors the engine reports with a bare 500 although the request, not the
# engine, is at fault: (substring of the message, exception class).
_MESSAGE_CLASSES = (
    ('is not paused', exception.Conflict),
    ('is not running', exception.Conflict),
    ('is already paused', exception.Conflict),
    ('is paused', exception.Conflict),
    ('is restarting', exception.Conflict),
    ('invalid reference format', exception.InvalidRequest),
    ('Error processing tar file', exception.InvalidRequest),
)
# What a failed pull means, by words of the engine's message: the
# registry's error codes (UNAUTHORIZED, DENIED, MANIFEST_UNKNOWN,
# NAME_UNKNOWN, as Docker Hub and registries word them) and Go's network
# errors. Docker Hub says "pull access denied ... does not exist or may
# require 'docker login'" for both: access comes first.
_PULL_ERRORS = (
    (exception.PermissionDenied,
     ('unauthorized', 'denied', 'authentication required',
      'no basic auth credentials', 'forbidden')),
    (exception.NotFound,
     ('manifest unknown', 'name unknown', 'not found')),
    (exception.RegistryUnavailable,
     ('dial tcp', 'connection refused', 'no such host', 'timeout',
      'no route to host', 'network is unreachable', 'connection reset',
      'tls:', 'x509:', 'http response to https client')),
)
# Errors the docker SDK raises itself, before talking to the engine, for
# arguments it refuses.
_SDK_ARGUMENT_ERRORS = (docker_errors.NullResource,
                        docker_errors.InvalidArgument,
                        docker_errors.InvalidRepository,
                        docker_errors.InvalidVersion)


def explanation(exc):
    """The engine's own words in a docker SDK error."""
    return getattr(exc, 'explanation', None) or str(exc)


def translate(exc, what):
    """Map a docker SDK or transport error to a runtime exception."""
    if isinstance(exc, exception.ContainerRuntimeError):
        return exc
    if isinstance(exc, docker_errors.NotFound):
        return exception.NotFound('%s: not found (%s)'
                                  % (what, explanation(exc)),
                                  reason=explanation(exc))
    if isinstance(exc, docker_errors.APIError):
        msg = explanation(exc)
        code = exc.status_code
        if code == 409:
            cls = exception.Conflict
        elif code == 400:
            cls = exception.InvalidRequest
        else:
            cls = next((c for text, c in _MESSAGE_CLASSES if text in msg),
                       exception.ContainerRuntimeError)
        return cls('%s: %s' % (what, msg), reason=msg)
    if isinstance(exc, _SDK_ARGUMENT_ERRORS):
        return exception.InvalidRequest('%s: %s' % (what, exc),
                                        reason=str(exc))
    if isinstance(exc, requests.exceptions.Timeout):
        return exception.OperationTimeout('%s: the engine did not answer in '
                                          'time' % what, reason=str(exc))
    if isinstance(exc, (requests.exceptions.ConnectionError,
                        docker_errors.DockerException, ConnectionError)):
        return exception.EngineUnavailable(
            '%s: container engine unavailable (%s)' % (what, exc),
            reason=str(exc))
    return None


def engine_call(func):
    """Run a backend method and translate the engine's errors."""

    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        try:
            return func(self, *args, **kwargs)
        except Exception as exc:
            translated = translate(exc, func.__name__)
            if translated is None or translated is exc:
                raise
            raise translated from exc
    return wrapper


def translated_chunks(chunks, what):
    """Iterate an engine stream, translating errors met while reading."""
    try:
        yield from chunks
    except Exception as exc:
        translated = translate(exc, what)
        if translated is None or translated is exc:
            raise
        raise translated from exc


def pull_error(reference, message, status_code=None):
    """The runtime exception that says what made a pull fail.

    It is made from the engine's words (which pass on the registry's error
    codes and the network's errors) and its HTTP status.
    """
    lowered = message.lower()
    cls = next((cls for cls, words in _PULL_ERRORS
                if any(word in lowered for word in words)), None)
    if cls is None:
        cls = (exception.NotFound if status_code == 404
               else exception.ContainerRuntimeError)
    return cls('pull of %s failed: %s' % (reference, message),
               reason=message)
