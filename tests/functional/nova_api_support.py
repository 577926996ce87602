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
import flask
from keystonemiddleware import auth_token
from nova.api import auth as nova_auth
from nova.api import wsgi as nova_wsgi
from nova import exception as nova_exception
from oslo_config import cfg
from oslo_utils import uuidutils

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


def neutron_behind_keystone(test, keystone, fixture):
    """A Neutron API (security groups, networks) over Nova's NeutronFixture.

    Behind a real auth_token, so the native API reaches it with its caller's
    token, as in a cloud. Nova's framework stubs Neutron's client rather
    than serving Neutron's API; this serves the part the native API calls
    (security groups and their rules, network names) on the fixture's own
    records, so Nova sees the groups made through it. Nova's check of a
    requested group (neutronclient's find by name or id, which the fixture
    lacks) is stubbed to read the same records.
    """
    app = flask.Flask('neutron-over-fixture')
    groups = fixture._security_groups

    def project():
        return flask.request.headers['X-Project-Id']

    def visible(group):
        return group.get('tenant_id') in (project(), fixture.tenant_id)

    def owned(group_id):
        group = groups.get(group_id)
        if group is None or group.get('tenant_id') != project():
            flask.abort(404)
        return group

    @app.route('/v2.0/security-groups', methods=['GET'])
    def list_groups():
        found = [g for g in groups.values() if visible(g) and all(
            str(g.get(k)) == v for k, v in flask.request.args.items())]
        return flask.jsonify({'security_groups': found})

    @app.route('/v2.0/security-groups', methods=['POST'])
    def create_group():
        body = flask.request.get_json()['security_group']
        group_id = uuidutils.generate_uuid()
        # Neutron's own: egress anywhere.
        rules = [{'id': uuidutils.generate_uuid(), 'direction': 'egress',
                  'ethertype': ethertype, 'protocol': None,
                  'port_range_min': None, 'port_range_max': None,
                  'remote_ip_prefix': None, 'security_group_id': group_id}
                 for ethertype in ('IPv4', 'IPv6')]
        groups[group_id] = {
            'id': group_id, 'name': body['name'],
            'description': body.get('description', ''),
            'tenant_id': project(), 'project_id': project(),
            'security_group_rules': rules}
        return flask.jsonify({'security_group': groups[group_id]}), 201

    @app.route('/v2.0/security-groups/<group_id>', methods=['PUT'])
    def update_group(group_id):
        group = owned(group_id)
        group.update(flask.request.get_json()['security_group'])
        return flask.jsonify({'security_group': group})

    @app.route('/v2.0/security-groups/<group_id>', methods=['DELETE'])
    def delete_group(group_id):
        owned(group_id)
        if any(group_id in (p.get('security_groups') or ())
               for p in fixture._ports.values()):
            return flask.jsonify({'NeutronError': {
                'type': 'SecurityGroupInUse',
                'message': 'Security Group %s in use.' % group_id}}), 409
        del groups[group_id]
        return flask.Response(status=204)

    @app.route('/v2.0/security-group-rules', methods=['POST'])
    def create_rule():
        rule = dict(flask.request.get_json()['security_group_rule'],
                    id=uuidutils.generate_uuid())
        owned(rule['security_group_id'])['security_group_rules'].append(
            rule)
        return flask.jsonify({'security_group_rule': rule}), 201

    @app.route('/v2.0/networks', methods=['GET'])
    def list_networks():
        return flask.jsonify(fixture.list_networks(**flask.request.args))

    def validate_name(context, name):
        for group in groups.values():
            if name in (group['id'], group['name']) and \
                    group.get('tenant_id') in (context.project_id,
                                               fixture.tenant_id):
                return group['id']
        raise nova_exception.SecurityGroupNotFound(security_group_id=name)

    test.useFixture(fixtures.MonkeyPatch(
        'nova.network.security_group_api.validate_name', validate_name))
    path = conf_file(test, 'neutron-authtoken.conf', {
        'keystone_authtoken': keystone_options(keystone)})
    authtoken_conf = cfg.ConfigOpts()
    authtoken_conf(['--config-file', path], project='neutron')
    return serve(test, auth_token.AuthProtocol(
        app, {'oslo_config_config': authtoken_conf}))
