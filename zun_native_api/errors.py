"""Zun's error body: ``{"errors": [{"status", "code", "title", ...}]}``.

python-zunclient shows ``detail`` (or ``title``) of the first error.
"""

import flask
from werkzeug import http as http_utils

from nova_zun.runtime import exception as runtime_exception

# Where oslo.middleware's RequestId puts the request's id.
ENV_REQUEST_ID = 'openstack.request_id'


class ApiError(Exception):
    """An error answered to the caller in Zun's format."""

    def __init__(self, status, detail, title=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or http_utils.HTTP_STATUS_CODES.get(status,
                                                               'Error')


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


def error_response(status, title, detail):
    request_id = flask.request.environ.get(ENV_REQUEST_ID, '')
    body = {'errors': [{'request_id': request_id, 'code': '',
                        'status': status,
                        'title': title, 'detail': detail, 'links': []}]}
    return flask.make_response(flask.jsonify(body), status)


def api_error(exc):
    return error_response(exc.status, exc.title, exc.detail)


def http_error(exc):
    """Render any werkzeug HTTPException (404, 405, ...) Zun's way."""
    response = error_response(exc.code, exc.name, exc.description)
    valid_methods = getattr(exc, 'valid_methods', None)
    if valid_methods:
        response.headers['Allow'] = ', '.join(valid_methods)
    return response
