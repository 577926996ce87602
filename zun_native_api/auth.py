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

"""Authentication: keystonemiddleware's auth_token in front of the API.

Only the version documents (``/`` and ``/v1``) are public, as in Zun: the
client discovers the microversion range there; and the console WebSocket,
whose URL carries a token of its own. Everything else goes
through ``auth_token``, which validates the token against Keystone and
puts the caller's identity in the WSGI environment, where
oslo.context reads it back.
"""

from keystonemiddleware import auth_token
from oslo_context import context as oslo_context

# /console authenticates with the single-use token of its URL (see
# zun_native_api.consoles): a WebSocket client sends no Keystone token.
PUBLIC_PATHS = ('/', '/v1', '/v1/', '/console')


class _PublicOrAuthenticated:
    """Send public paths straight to the app, the rest through auth_token."""

    def __init__(self, app, protected):
        self.app = app
        self.protected = protected

    def __call__(self, environ, start_response):
        if environ.get('PATH_INFO', '/') in PUBLIC_PATHS:
            return self.app(environ, start_response)
        return self.protected(environ, start_response)


def wrap(app, conf):
    """Return ``app`` (a WSGI callable) behind auth_token.

    auth_token is configured from ``conf``'s ``[keystone_authtoken]``.
    """
    protected = auth_token.AuthProtocol(app, {'oslo_config_config': conf})
    return _PublicOrAuthenticated(app, protected)


def request_context(environ):
    """The caller, from the headers auth_token set.

    These are X-Project-Id, X-Roles, X-Auth-Token, X-Service-Catalog, ...
    """
    return oslo_context.RequestContext.from_environ(environ)
