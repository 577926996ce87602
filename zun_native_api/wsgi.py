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

"""The full WSGI application: keystonemiddleware in front of the API."""

from oslo_config import cfg
from oslo_log import log as logging
from oslo_middleware import request_id

from zun_native_api import app as api_app
from zun_native_api import auth
from zun_native_api import conf as api_conf
from zun_native_api import errors


def make_app(conf, runtime=None):
    """The native API behind auth_token, configured from ``conf``.

    Every response carries an ``x-openstack-request-id`` (oslo.middleware);
    errors name it too, auth_token's own (401) as well.
    """
    return request_id.RequestId(errors.FrontErrors(
        lambda api: auth.wrap(api, conf),
        api_app.create_app(conf, runtime=runtime)))


def init_application(argv=None, conf=None):
    """Return the WSGI application, for WSGI servers that import one.

    It first parses the command line and configuration files and sets up
    logging.
    """
    conf = conf or cfg.ConfigOpts()
    api_conf.register_opts(conf)
    logging.register_options(conf)
    conf(argv or [], project='zun-native-api')
    logging.setup(conf, 'zun-native-api')
    return conf, make_app(conf)
