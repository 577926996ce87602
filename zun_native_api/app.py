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

"""The WSGI application factory."""

import flask
from oslo_log import log as logging
from werkzeug import exceptions as http_exceptions

from nova_zun import runtime as zun_runtime
from zun_native_api import conf as api_conf
from zun_native_api import consoles
from zun_native_api import containers
from zun_native_api import errors
from zun_native_api import hosts
from zun_native_api import microversion
from zun_native_api import policy
from zun_native_api import validation
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


def _validation_error(exc):
    return errors.error_response(400, 'Bad Request', str(exc))


def _unexpected_error(exc):
    LOG.exception('Unexpected error in %s %s', flask.request.method,
                  flask.request.path)
    return errors.error_response(500, 'Internal Server Error',
                                 'An unexpected error occurred.')


def create_app(conf, runtime=None):
    """Return the native API application, a Flask app.

    It comes without the authentication middleware: see
    :func:`zun_native_api.wsgi.make_app`.

    ``conf`` is an oslo.config ConfigOpts; ``runtime`` a ContainerRuntime, by
    default the one ``[zun]`` describes.
    """
    api_conf.register_opts(conf)
    policy.set_defaults(conf)
    if runtime is None:
        runtime = zun_runtime.from_conf(conf)
    app = flask.Flask(__name__)
    app.config[CONF_KEY] = conf
    app.config['MAX_CONTENT_LENGTH'] = conf.native_api.max_body_bytes
    app.config[containers.STATE_KEY] = containers.State(
        conf, runtime, policy.make_enforcer(conf))
    app.config[consoles.STATE_KEY] = consoles.Consoles(conf, runtime)
    app.json.sort_keys = False
    app.before_request(_negotiate_version)
    app.after_request(_add_version_headers)
    app.register_error_handler(http_exceptions.HTTPException,
                               errors.http_error)
    app.register_error_handler(errors.ApiError, errors.api_error)
    app.register_error_handler(validation.ValidationError,
                               _validation_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.register_blueprint(versions.blueprint)
    app.register_blueprint(containers.blueprint)
    app.register_blueprint(consoles.blueprint)
    app.register_blueprint(hosts.blueprint)
    return app
