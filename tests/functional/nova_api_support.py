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

"""Nova's in-process API behind a real keystonemiddleware (the suite's real
Keystone), for native API tests that reach it with their callers' own
tokens, as in a cloud. For test cases of Nova's in-process framework
(tests/functional/base.py)."""

import io
import os
import shutil
import tempfile

import eventlet
import eventlet.wsgi
import fixtures
from keystonemiddleware import auth_token
from nova.api import auth as nova_auth
from nova.api import wsgi as nova_wsgi
from oslo_config import cfg

from nova_zun_workshop.native_api_setup import SERVICE_USER
from nova_zun_workshop import processes

_REAL_CREATE_CONTEXT = nova_auth.NovaKeystoneContext._create_context


def keystone_options(keystone):
    """``[keystone_authtoken]`` of a service validating against ``keystone``.

    The service validates tokens as the suite's service user.
    """
    return {'www_authenticate_uri': keystone.url, 'auth_url': keystone.url,
            'auth_type': 'password', 'username': SERVICE_USER[0],
            'password': SERVICE_USER[1], 'project_name': 'service',
            'user_domain_id': 'default', 'project_domain_id': 'default'}


def conf_file(test, name, sections):
    """An INI file of ``sections`` in a directory removed after ``test``."""
    conf_dir = tempfile.mkdtemp(prefix='nova-zun-api-')
    test.addCleanup(shutil.rmtree, conf_dir, True)
    path = os.path.join(conf_dir, name)
    processes.write_ini(path, sections)
    return path


def nova_behind_keystone(test, keystone):
    """Nova's API (a WSGI app) behind a real auth_token.

    Requests it validated build Nova's context from auth_token's headers
    (Nova's own code); the framework's own clients keep their stub.
    """
    stub = nova_auth.NovaKeystoneContext._create_context

    def create_context(env, **kwargs):
        if env.get('HTTP_X_IDENTITY_STATUS') == 'Confirmed':
            return _REAL_CREATE_CONTEXT(env, **kwargs)
        return stub(env, **kwargs)

    test.useFixture(fixtures.MonkeyPatch(
        'nova.api.auth.NovaKeystoneContext._create_context',
        staticmethod(create_context)))
    nova_app = nova_wsgi.Loader().load_app('osapi_compute')
    # A ConfigOpts of its own: auth_token registers the password plugin's
    # options (auth_url is required) where it reads them, and Nova's
    # global CONF must not get them.
    path = conf_file(test, 'nova-authtoken.conf', {
        'keystone_authtoken': keystone_options(keystone)})
    authtoken_conf = cfg.ConfigOpts()
    authtoken_conf(['--config-file', path], project='nova')
    return auth_token.AuthProtocol(nova_app,
                                   {'oslo_config_config': authtoken_conf})


def serve(test, app):
    """Serve ``app`` on a local port until ``test`` ends; its URL.

    Nova's functional framework runs on eventlet: eventlet's WSGI server
    in a green thread, which yields to the test (a blocking server thread
    would stall every green thread).
    """
    sock = eventlet.listen(('127.0.0.1', 0))
    server = eventlet.spawn(eventlet.wsgi.server, sock, app,
                            log=io.StringIO())
    test.addCleanup(sock.close)
    test.addCleanup(server.kill)
    return 'http://127.0.0.1:%d' % sock.getsockname()[1]
