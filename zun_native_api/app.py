"""The WSGI application factory."""

import flask
from oslo_log import log as logging
from werkzeug import exceptions as http_exceptions

from nova_zun import conf as zun_conf
from zun_native_api import errors
from zun_native_api import microversion
from zun_native_api import versions

LOG = logging.getLogger(__name__)

CONF_KEY = 'NOVA_ZUN_CONF'


def _is_v1(path):
    return path == '/v1' or path.startswith('/v1/')


def _negotiate_version():
    if not _is_v1(flask.request.path):
        return None
    try:
        flask.g.api_version = microversion.negotiate(flask.request.headers)
    except microversion.NotAcceptable as exc:
        flask.g.api_version = None
        LOG.debug('Refused microversion: %s', exc)
        return errors.error_response(406, 'Not Acceptable', str(exc))
    return None


def _add_version_headers(response):
    if _is_v1(flask.request.path):
        response.headers.update(microversion.response_headers(
            flask.g.get('api_version')))
    return response


def create_app(conf):
    """Return the native API application; ``conf`` is an oslo.config
    ConfigOpts whose ``[zun]`` group is read by the handlers."""
    zun_conf.register_opts(conf)
    app = flask.Flask(__name__)
    app.config[CONF_KEY] = conf
    app.json.sort_keys = False
    app.before_request(_negotiate_version)
    app.after_request(_add_version_headers)
    app.register_error_handler(http_exceptions.HTTPException,
                               errors.http_error)
    app.register_blueprint(versions.blueprint)
    return app
