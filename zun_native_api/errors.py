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

"""Zun's error body: ``{"errors": [{"status", "code", "title", ...}]}``.

python-zunclient shows ``detail`` (or ``title``) of the first error.
"""

import json

import flask
from oslo_log import log as logging
from werkzeug import exceptions as http_exceptions
from werkzeug import http as http_utils

from nova_zun.runtime import exception as runtime_exception

LOG = logging.getLogger(__name__)

# Where oslo.middleware's RequestId puts the request's id.
ENV_REQUEST_ID = 'openstack.request_id'
# Set in the WSGI environment once a request reaches the API itself.
_ENV_REACHED = 'zun_native_api.reached'


class ApiError(Exception):
    """An error answered to the caller in Zun's format."""

    def __init__(self, status, detail, title=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or status_title(status)


def not_found(ident):
    # The same words for a missing container and another project's.
    return ApiError(404, 'Container %s could not be found.' % ident)


_RUNTIME_STATUS = [
    (runtime_exception.NotFound, 404),
    (runtime_exception.Conflict, 409),
    (runtime_exception.InvalidRequest, 400),
    (runtime_exception.OperationTimeout, 504),
    (runtime_exception.EngineUnavailable, 503),
    (runtime_exception.ContainerRuntimeError, 500),
]


def from_runtime(exc):
    status = next(code for cls, code in _RUNTIME_STATUS
                  if isinstance(exc, cls))
    return ApiError(status, exc.message)


def error_body(status, title, detail, request_id):
    """Zun's error body of one error."""
    return {'errors': [{'request_id': request_id, 'code': '',
                        'status': status,
                        'title': title, 'detail': detail, 'links': []}]}


def status_title(status):
    return http_utils.HTTP_STATUS_CODES.get(status, 'Error')


def error_json(status, detail, request_id):
    """:func:`error_body` as bytes, for layers that answer before the API.

    These layers are keystonemiddleware and gunicorn.
    """
    return json.dumps(error_body(status, status_title(status), detail,
                                 request_id)).encode('utf-8')


def error_response(status, title, detail):
    request_id = flask.request.environ.get(ENV_REQUEST_ID, '')
    return flask.make_response(
        flask.jsonify(error_body(status, title, detail, request_id)), status)


def api_error(exc):
    if exc.status >= 500:
        # What went wrong on this side, said where an operator looks.
        LOG.error('%s %s answered %d: %s', flask.request.method,
                  flask.request.path, exc.status, exc.detail)
    return error_response(exc.status, exc.title, exc.detail)


def http_error(exc):
    """Render any werkzeug HTTPException (404, 405, ...) Zun's way."""
    response = error_response(exc.code, exc.name, exc.description)
    valid_methods = getattr(exc, 'valid_methods', None)
    if valid_methods:
        response.headers['Allow'] = ', '.join(valid_methods)
    return response


def _front_detail(status, text):
    """keystonemiddleware's message, else werkzeug's description of ``status``.

    keystonemiddleware sends it as ``{"error": {"message": ...}}``.
    """
    try:
        return json.loads(text)['error']['message']
    except (ValueError, KeyError, TypeError):
        known = http_exceptions.default_exceptions.get(status)
        return known.description if known else 'The request failed.'


class FrontErrors:
    """WSGI middleware around the layers in front of the API.

    ``front(api)`` builds them (keystonemiddleware). An error one of them
    answers itself (401 for a missing or refused token, 503 when Keystone
    cannot be reached) goes out in Zun's shape with its other headers
    (WWW-Authenticate) kept; what the API answers passes as it is.
    """

    def __init__(self, front, api):
        self.api = api
        self.app = front(self._reach)

    def _reach(self, environ, start_response):
        environ[_ENV_REACHED] = True
        return self.api(environ, start_response)

    def __call__(self, environ, start_response):
        state = {'returned': False, 'refused': None}
        written = []

        def capture(status, headers, exc_info=None):
            if (state['returned'] or environ.get(_ENV_REACHED) or
                    int(status.split(' ', 1)[0]) < 400):
                return start_response(status, headers, exc_info)
            state['refused'] = (status, headers)
            return written.append

        result = self.app(environ, capture)
        state['returned'] = True
        if state['refused'] is None:
            return result
        try:
            text = b''.join(written + list(result))
        finally:
            if hasattr(result, 'close'):
                result.close()
        status, headers = state['refused']
        code = int(status.split(' ', 1)[0])
        body = error_json(code, _front_detail(code, text),
                          environ.get(ENV_REQUEST_ID, ''))
        headers = [(name, value) for name, value in headers
                   if name.lower() not in ('content-type', 'content-length')]
        start_response(status, headers + [
            ('Content-Type', 'application/json'),
            ('Content-Length', str(len(body)))])
        return [body]
