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

"""The OpenAPI 3.1 document of the native API.

Built from the same schemas the handlers validate with
(:mod:`zun_native_api.validation`) and checked in as
``zun_native_api/openapi.yaml``; regenerate it with
``python -m zun_native_api.openapi > zun_native_api/openapi.yaml``.
Unit tests keep the file, the routes and the schemas in step; functional
tests validate real responses against it.
"""

import copy
import os
import sys

import yaml

from zun_native_api import consoles
from zun_native_api import microversion
from zun_native_api import validation

PATH = os.path.join(os.path.dirname(__file__), 'openapi.yaml')

_STRING = {'type': 'string'}
_NULLABLE_STRING = {'type': ['string', 'null']}
_NULLABLE_INTEGER = {'type': ['integer', 'null']}

SCHEMAS = {
    'Error': {
        'type': 'object', 'required': ['errors'],
        'properties': {'errors': {
            'type': 'array', 'minItems': 1,
            'items': {'type': 'object',
                      'required': ['status', 'title', 'detail'],
                      'properties': {'status': {'type': 'integer'},
                                     'title': _STRING, 'detail': _STRING,
                                     'code': _STRING,
                                     'request_id': _STRING,
                                     'links': {'type': 'array'}}}}}},
    'Version': {
        'type': 'object', 'required': ['id', 'status', 'min_version',
                                       'max_version'],
        'properties': {'id': {'const': 'v1'}, 'status': _STRING,
                       'min_version': _STRING, 'max_version': _STRING,
                       'links': {'type': 'array'}}},
    'Versions': {
        'type': 'object', 'required': ['versions'],
        'properties': {'versions': {'type': 'array', 'items': {
            '$ref': '#/components/schemas/Version'}},
            'default_version': {'$ref': '#/components/schemas/Version'},
            'name': _STRING, 'description': _STRING}},
    'Container': {
        'type': 'object',
        'required': ['uuid', 'name', 'image', 'status', 'task_state',
                     'addresses', 'ports', 'links'],
        'properties': {
            'uuid': {'type': 'string', 'format': 'uuid'},
            'name': _NULLABLE_STRING,
            'image': _NULLABLE_STRING,
            'status': {'enum': ['Creating', 'Created', 'Running', 'Stopped',
                                'Paused', 'Restarting', 'Rebuilding',
                                'Deleting', 'Deleted', 'Error', 'Unknown',
                                'Dead']},
            'status_reason': _NULLABLE_STRING,
            'task_state': _NULLABLE_STRING,
            'addresses': {'type': 'object', 'additionalProperties': {
                'type': 'array', 'items': {
                    'type': 'object',
                    'properties': {'addr': _STRING,
                                   'version': {'type': 'integer'}}}}},
            'ports': {'type': 'array', 'items': {'type': 'integer'},
                      'description': 'The exposed ports.'},
            'exposed_ports': {'type': 'object',
                              'description': 'Opened by the container\'s '
                                             'security group zun-<uuid>.'},
            'memory': _NULLABLE_STRING,
            'cpu': {'type': ['number', 'null']},
            'host': _NULLABLE_STRING,
            'runtime': _NULLABLE_STRING,
            'project_id': _NULLABLE_STRING,
            'user_id': _NULLABLE_STRING,
            'command': {'type': ['array', 'string', 'null']},
            'labels': {'type': 'object',
                       'additionalProperties': _STRING},
            'hostname': _NULLABLE_STRING,
            'environment': {'type': 'object'},
            'links': {'type': 'array'},
        }},
    'ContainerList': {
        'type': 'object', 'required': ['containers', 'next'],
        'properties': {'containers': {'type': 'array', 'items': {
            '$ref': '#/components/schemas/Container'}},
            'next': _NULLABLE_STRING}},
    'Logs': {'type': 'string',
             'description': 'The output, newest part kept up to '
                            '[native_api] max_output_bytes.'},
    'ExecResult': {
        'type': 'object',
        'required': ['output', 'exit_code', 'exec_id', 'proxy_url'],
        'description': 'Interactive (interactive=true): output and '
                       'exit_code null, proxy_url the console URL that '
                       'starts the command; else proxy_url null.',
        'properties': {'output': _NULLABLE_STRING,
                       'exit_code': {'type': ['integer', 'null']},
                       'exec_id': _STRING,
                       'proxy_url': {'type': ['string', 'null'],
                                     'pattern': '^wss?://'},
                       'truncated': {'type': 'boolean'}}},
    'CommitResult': {
        'type': 'object', 'required': ['uuid'],
        'properties': {'uuid': {'type': 'string', 'format': 'uuid',
                                'description': 'The Glance image.'}}},
    'ConsoleUrl': {
        'type': 'string', 'pattern': '^wss?://',
        'description': 'The console WebSocket URL (%s?token=...&uuid=...) '
                       'of the host running the container; valid once, '
                       'for [native_api] console_token_ttl seconds.'
                       % consoles.PATH},
    'Top': {
        'type': 'object', 'required': ['Titles', 'Processes'],
        'properties': {'Titles': {'type': 'array', 'items': _STRING},
                       'Processes': {'type': 'array', 'items': {
                           'type': 'array', 'items': _STRING}}}},
    'Stats': {
        'type': 'object',
        'required': ['CONTAINER', 'CPU %', 'MEM USAGE(MiB)',
                     'MEM LIMIT(MiB)', 'MEM %', 'BLOCK I/O(B)', 'NET I/O(B)'],
        'properties': {'CONTAINER': {'type': 'string', 'format': 'uuid',
                                     'description': 'The container\'s UUID '
                                                    '(Zun: its name).'},
                       'CPU %': {'type': 'number'},
                       'MEM USAGE(MiB)': {'type': 'number'},
                       'MEM LIMIT(MiB)': {'type': 'number'},
                       'MEM %': {'type': 'number'},
                       'BLOCK I/O(B)': _STRING, 'NET I/O(B)': _STRING,
                       'PIDS': {'type': 'integer'}}},
    'NetworkList': {
        'type': 'object', 'required': ['networks'],
        'properties': {'networks': {'type': 'array', 'items': {
            'type': 'object', 'required': ['net_id', 'port_id'],
            'properties': {
                'net_id': _STRING, 'port_id': _STRING,
                'ip_address': _STRING, 'subnet_id': _NULLABLE_STRING,
                'version': {'type': 'integer'},
                'fixed_ips': {'type': 'array', 'items': {
                    'type': 'object',
                    'properties': {'ip_address': _STRING,
                                   'subnet_id': _NULLABLE_STRING,
                                   'version': {'type': 'integer'}}}}}}}}},
    'HostList': {
        'type': 'object', 'required': ['hosts', 'next'],
        'properties': {'next': _NULLABLE_STRING, 'hosts': {
            'type': 'array', 'items': {
                'type': 'object',
                'required': ['uuid', 'hostname', 'mem_total', 'cpus',
                             'disk_total'],
                'properties': {
                    'uuid': _STRING, 'hostname': _NULLABLE_STRING,
                    'mem_total': _NULLABLE_INTEGER,
                    'mem_used': _NULLABLE_INTEGER,
                    'cpus': _NULLABLE_INTEGER,
                    'cpu_used': {'type': ['number', 'null']},
                    'disk_total': _NULLABLE_INTEGER,
                    'disk_used': _NULLABLE_INTEGER,
                    'total_containers': _NULLABLE_INTEGER,
                    'architecture': _NULLABLE_STRING,
                    'links': {'type': 'array'}}}}}},
    'ServiceList': {
        'type': 'object', 'required': ['services'],
        'properties': {'services': {'type': 'array', 'items': {
            'type': 'object',
            'required': ['id', 'host', 'binary', 'state', 'disabled'],
            'properties': {
                'id': _STRING, 'host': _STRING, 'binary': _STRING,
                'state': {'enum': ['up', 'down']},
                'disabled': {'type': 'boolean'},
                'disabled_reason': _NULLABLE_STRING,
                'forced_down': {'type': 'boolean'},
                'availability_zone': _NULLABLE_STRING,
                'updated_at': _NULLABLE_STRING}}}}},
    'Archive': {
        'type': 'object', 'required': ['data', 'stat'],
        'properties': {'data': {'type': 'string',
                                'description': 'A tar archive, base64 from '
                                               'microversion 1.25'},
                       'stat': {'type': 'object',
                                'properties': {'name': _STRING,
                                               'size': {'type': 'integer'},
                                               'mode': {'type': 'integer'},
                                               'mtime': _STRING}}}},
}

#: (path, method, operation, summary, success status, response schema)
OPERATIONS = [
    ('/', 'get', 'root', 'Version document (public).', 200, 'Versions'),
    ('/v1', 'get', 'v1', 'The v1 version (public).', 200, 'Version'),
    ('/v1/containers', 'get', 'get_all',
     'List containers (Nova servers on container flavors).', 200,
     'ContainerList'),
    ('/v1/containers', 'post', 'create',
     'Create a container: a Nova server with a matching container flavor '
     'and the command, entrypoint, workdir and environment as server '
     'metadata.', 202, 'Container'),
    ('/v1/containers/{container_ident}', 'get', 'get_one',
     'Show a container.', 200, 'Container'),
    ('/v1/containers/{container_ident}', 'patch', 'update',
     'Rename (Nova) or change CPU and memory limits live (runtime of the '
     'owning host; the Nova flavor stays).', 200, 'Container'),
    ('/v1/containers/{container_ident}', 'delete', 'delete',
     'Delete a container (its Nova server).', 204, None),
    ('/v1/containers/{container_ident}/start', 'post', 'start',
     'Start (Nova os-start; a Created container: Nova hard reboot, which '
     'starts its workload).', 202, None),
    ('/v1/containers/{container_ident}/stop', 'post', 'stop',
     'Stop (Nova os-stop).', 202, None),
    ('/v1/containers/{container_ident}/rebuild', 'post', 'rebuild',
     'Rebuild (Nova rebuild): a new workload from image (a Glance image, '
     'or a registry reference with image_driver docker; else the '
     'container\'s own), running again if it ran.', 202, None),
    ('/v1/containers/{container_ident}/reboot', 'post', 'reboot',
     'Reboot (Nova soft reboot: the workload restarts, the sandbox and '
     'its addresses stay).', 202, None),
    ('/v1/containers/{container_ident}/pause', 'post', 'pause',
     'Freeze the workload (runtime).', 202, None),
    ('/v1/containers/{container_ident}/unpause', 'post', 'unpause',
     'Thaw the workload (runtime).', 202, None),
    ('/v1/containers/{container_ident}/kill', 'post', 'kill',
     'Signal the workload\'s main process (runtime).', 202, None),
    ('/v1/containers/{container_ident}/logs', 'get', 'logs',
     'The workload\'s output (runtime).', 200, 'Logs'),
    ('/v1/containers/{container_ident}/execute', 'post', 'execute',
     'Run a command, its tokens double-quoted as python-zunclient sends '
     'them; output and exit code (runtime). command, run and interactive '
     'come in the query (python-zunclient) or in a JSON body '
     '(zun-tempest-plugin), not both. With interactive=true: the '
     'command prepared on a terminal, and the console URL that runs '
     'it.', 200, 'ExecResult'),
    ('/v1/containers/{container_ident}/execute_resize', 'post',
     'execute_resize', 'Resize the terminal of an interactive command '
     '(runtime).', 200, None),
    ('/v1/containers/{container_ident}/attach', 'get', 'attach',
     'The console URL of the workload\'s main process (created '
     'interactive: stdin open); 400 otherwise.', 200, 'ConsoleUrl'),
    ('/v1/containers/{container_ident}/resize', 'post', 'resize',
     'Resize the terminal of the workload\'s main process (runtime; 400 '
     'without a TTY).', 200, None),
    ('/v1/containers/{container_ident}/commit', 'post', 'commit',
     'Commit the workload\'s filesystem (frozen meanwhile) and upload its '
     'docker save archive to Glance as the caller (container_format '
     'docker, disk_format raw, named repository, tagged tag).', 202,
     'CommitResult'),
    ('/v1/containers/{container_ident}/rename', 'post', 'rename',
     'Rename (the Nova server); microversions 1.1 to 1.13, later ones '
     'get 406 and rename with PATCH.', 200, 'Container'),
    (consoles.PATH, 'get', 'console',
     'The console WebSocket (GET with Upgrade: websocket, subprotocol '
     'binary): authenticated by the single-use token of its URL, not by '
     'Keystone; binary frames carry the terminal both ways.', 101, None),
    ('/v1/containers/{container_ident}/top', 'get', 'top',
     'The workload\'s processes (runtime).', 200, 'Top'),
    ('/v1/containers/{container_ident}/stats', 'get', 'stats',
     'A usage sample (runtime).', 200, 'Stats'),
    ('/v1/containers/{container_ident}/get_archive', 'get', 'get_archive',
     'A tar archive of an absolute path (runtime).', 200, 'Archive'),
    ('/v1/containers/{container_ident}/put_archive', 'post', 'put_archive',
     'Extract a tar archive into an absolute directory; members that '
     'would land outside it are refused (runtime).', 200, None),
    ('/v1/containers/{container_ident}/network_attach', 'post',
     'network_attach', 'Attach a port on network (with fixed_ip) or the '
     'port port: Nova\'s interface attach, plugged live (from '
     'microversion 1.8).', 200, None),
    ('/v1/containers/{container_ident}/network_detach', 'post',
     'network_detach', 'Detach the port port or the ports on network: '
     'Nova\'s interface detach (from microversion 1.6).', 202, None),
    ('/v1/containers/{container_ident}/network_list', 'get',
     'network_list', 'The container\'s ports (Nova\'s interfaces; from '
     'microversion 1.13, with their fixed IPs from 1.18).', 200,
     'NetworkList'),
    ('/v1/hosts', 'get', 'host_list',
     'The container hosts (admin): Nova\'s hypervisors of type docker, '
     'their resources as Nova reports them.', 200, 'HostList'),
    ('/v1/services', 'get', 'service_list',
     'The nova-compute services of the container hosts (admin).', 200,
     'ServiceList'),
]

_ERRORS = {
    '400': 'Invalid request: body, query parameter, path or archive.',
    '401': 'No valid token (keystonemiddleware; for the console: its '
           'URL token is unknown, used or expired).',
    '403': 'Policy refuses (list, create, hosts and services only).',
    '404': 'No such container, or one of another project.',
    '406': 'Microversion outside %s-%s.' % (microversion.MIN_VERSION,
                                            microversion.MAX_VERSION),
    '409': 'The container is in a state that forbids this.',
    '413': 'Request body or archive too large.',
    '429': 'The worker process sends [native_api] archive_concurrency '
           'archives already (get_archive), or the host has max_consoles '
           'consoles open (console): try again later.',
    # gunicorn's own answers, before the API reads the request.
    '414': 'Request line (path and query) longer than the server reads '
           '(gunicorn\'s limit_request_line, 4094 bytes).',
    '431': 'Request headers too many or too large (gunicorn\'s '
           'limit_request_fields and limit_request_field_size).',
    '502': 'The owning host or Nova failed.',
    '503': 'Engine or Nova unavailable.',
    '504': 'exec ran past [native_api] exec_timeout.',
}


_VERSION_PATHS = ('/', '/v1')
# Operations whose arguments may come in the query instead.
_OPTIONAL_BODIES = ('execute',)
_NO_BODY = {200: 'Done.', 202: 'Accepted.', 204: 'Done.',
            101: 'Switching Protocols: the WebSocket is open.'}


def _parameters(operation, path):
    params = []
    if '{container_ident}' in path:
        params.append({'name': 'container_ident', 'in': 'path',
                       'required': True,
                       'description': 'UUID or name of the container.',
                       'schema': {'type': 'string'}})
    schema = validation.QUERY.get(operation)
    if schema:
        for name, prop in schema['properties'].items():
            params.append({'name': name, 'in': 'query',
                           'required': name in schema['required'],
                           'schema': copy.deepcopy(prop)})
    if path.startswith('/v1/'):
        params.append({'$ref': '#/components/parameters/Microversion'})
    return params


def document():
    paths = {}
    for path, method, operation, summary, status, schema in OPERATIONS:
        responses = {}
        if schema:
            responses[str(status)] = {
                'description': 'Success.',
                'content': {'application/json': {'schema': {
                    '$ref': '#/components/schemas/%s' % schema}}}}
        else:
            responses[str(status)] = {'description': _NO_BODY[status]}
        if path not in _VERSION_PATHS:
            for code, text in _ERRORS.items():
                responses[code] = {'$ref': '#/components/responses/Error'}
        op = {'operationId': operation, 'summary': summary,
              'parameters': _parameters(operation, path),
              'responses': responses}
        if path not in _VERSION_PATHS + (consoles.PATH,):
            op['security'] = [{'keystone': []}]
        if operation in validation.BODY:
            op['requestBody'] = {
                'required': operation not in _OPTIONAL_BODIES,
                'content': {'application/json': {
                    'schema': copy.deepcopy(validation.BODY[operation])}}}
        paths.setdefault(path, {})[method] = op
    return {
        'openapi': '3.1.0',
        'info': {
            'title': 'nova-zun native API (Zun v1 compatible)',
            'version': str(microversion.MAX_VERSION),
            'description': 'Containers as Nova instances. Errors: ' +
                           '; '.join('%s %s' % kv for kv in _ERRORS.items())},
        'paths': paths,
        'components': {
            'schemas': copy.deepcopy(SCHEMAS),
            'parameters': {'Microversion': {
                'name': microversion.HEADER, 'in': 'header',
                'required': False,
                'description': 'container 1.N (%s to %s) or container '
                               'latest; without it %s.' % (
                                   microversion.MIN_VERSION,
                                   microversion.MAX_VERSION,
                                   microversion.MIN_VERSION),
                'schema': {'type': 'string'}}},
            'responses': {'Error': {
                'description': 'Zun\'s error body.',
                'content': {'application/json': {'schema': {
                    '$ref': '#/components/schemas/Error'}}}}},
            'securitySchemes': {'keystone': {
                'type': 'apiKey', 'in': 'header', 'name': 'X-Auth-Token',
                'description': 'A Keystone token, validated by '
                               'keystonemiddleware.'}},
        },
    }


def dump():
    return yaml.safe_dump(document(), sort_keys=False, width=79,
                          allow_unicode=True)


def load():
    with open(PATH) as f:
        return yaml.safe_load(f)


def response_schema(operation, status, doc=None):
    """A JSON schema (2020-12) for one documented response.

    The document's components are resolvable in it.
    """
    doc = doc or load()
    for path, methods in doc['paths'].items():
        for op in methods.values():
            if op['operationId'] == operation:
                response = op['responses'][str(status)]
                if '$ref' in response:
                    name = response['$ref'].rsplit('/', 1)[1]
                    response = doc['components']['responses'][name]
                schema = response['content']['application/json']['schema']
                return dict(schema, components=doc['components'])
    raise KeyError(operation)


if __name__ == '__main__':
    sys.stdout.write(dump())
