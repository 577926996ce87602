"""Zun's error body: ``{"errors": [{"status", "code", "title", ...}]}``.

python-zunclient shows ``detail`` (or ``title``) of the first error.
"""

import flask


def error_response(status, title, detail):
    body = {'errors': [{'request_id': '', 'code': '', 'status': status,
                        'title': title, 'detail': detail, 'links': []}]}
    return flask.make_response(flask.jsonify(body), status)


def http_error(exc):
    """Render any werkzeug HTTPException (404, 405, ...) Zun's way."""
    response = error_response(exc.code, exc.name, exc.description)
    valid_methods = getattr(exc, 'valid_methods', None)
    if valid_methods:
        response.headers['Allow'] = ', '.join(valid_methods)
    return response
