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

"""Request validation: JSON bodies and query parameters against JSON
schemas, with Zun's 400s.

python-zunclient sends unset query parameters as the literal string
``None``; those count as absent.
"""

import base64
import binascii
import json
import posixpath

import flask
import jsonschema

from zun_native_api import console_tokens

_BOOL = {'type': 'string',
         'enum': ['true', 'false', 'True', 'False', '1', '0', 'yes', 'no']}
_INT = {'type': 'string', 'pattern': r'^[0-9]{1,9}$'}
_STR = {'type': 'string', 'maxLength': 255}
_PATH = {'type': 'string', 'minLength': 1, 'maxLength': 4096}
_NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255,
         'pattern': r'^[a-zA-Z0-9][a-zA-Z0-9_.-]*$'}
# An image name as docker spells repositories, and a docker tag.
_REPOSITORY_PART = r'[a-z0-9]+([._-][a-z0-9]+)*'
_REPOSITORY = {'type': 'string', 'maxLength': 255,
               'pattern': r'^%s(/%s)*$' % (_REPOSITORY_PART,
                                           _REPOSITORY_PART)}
_TAG = {'type': 'string', 'pattern': r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'}
# Terminal rows and columns.
_TTY_SIZE = {'type': 'string', 'pattern': r'^[1-9][0-9]{0,3}$'}
# A Linux signal, as the engine names them (moby/sys/signal), or its
# number (1 to 64, SIGRTMAX).
_SIGNAL_NAMES = ('ABRT|ALRM|BUS|CHLD|CLD|CONT|FPE|HUP|ILL|INT|IO|IOT|KILL|'
                 'PIPE|POLL|PROF|PWR|QUIT|SEGV|STKFLT|STOP|SYS|TERM|TRAP|'
                 'TSTP|TTIN|TTOU|URG|USR1|USR2|VTALRM|WINCH|XCPU|XFSZ|'
                 r'RTMIN(\+([1-9]|1[0-5]))?|RTMAX(-([1-9]|1[0-4]))?')
_SIGNAL = {'type': 'string',
           'pattern': r'^(SIG)?(%s)$|^([1-9]|[1-5][0-9]|6[0-4])$'
                      % _SIGNAL_NAMES}


_DNS_LABEL = r'^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$'
_EXEC_COMMAND = {'type': 'string', 'minLength': 1, 'maxLength': 65536}
_NETWORK_NAME = {'type': 'string', 'minLength': 1, 'maxLength': 255}
#: A port Zun exposes: <port>[/<protocol>], tcp when not named.
EXPOSED_PORT = r'^[0-9]{1,5}(/(tcp|udp))?$'


def _query(properties, required=()):
    return {'type': 'object', 'properties': properties,
            'required': list(required), 'additionalProperties': False}


QUERY = {
    'get_all': _query({'all_projects': _BOOL,
                       'limit': {'type': 'string',
                                 'pattern': r'^[1-9][0-9]{0,8}$'},
                       'marker': _STR, 'sort_key': _STR, 'sort_dir': _STR,
                       'name': _STR, 'image': _STR, 'status': _STR,
                       'project_id': _STR, 'user_id': _STR, 'host': _STR,
                       'task_state': _STR, 'memory': _STR, 'cpu': _STR,
                       'auto_remove': _BOOL}),
    'get_one': _query({'all_projects': _BOOL}),
    'create': _query({'run': _BOOL}),
    'delete': _query({'force': _BOOL, 'stop': _BOOL,
                      'all_projects': _BOOL}),
    'update': _query({}),
    'start': _query({}),
    'stop': _query({'timeout': _INT}),
    'reboot': _query({'timeout': _INT}),
    'rebuild': _query({'image': {'type': 'string', 'minLength': 1,
                                 'maxLength': 255},
                       'image_driver': {'enum': ['glance', 'docker']}}),
    'pause': _query({}),
    'unpause': _query({}),
    'kill': _query({'signal': _SIGNAL}),
    'logs': _query({'stdout': _BOOL, 'stderr': _BOOL,
                    'timestamps': _BOOL,
                    'tail': {'type': 'string',
                             'pattern': r'^([0-9]{1,9}|all)$'},
                    'since': {'type': 'string',
                              'pattern': r'^[0-9]{1,12}(\.[0-9]+)?$'}}),
    'execute': _query({'command': _EXEC_COMMAND, 'run': _BOOL,
                       'interactive': _BOOL}),
    'top': _query({'ps_args': {'type': 'string', 'maxLength': 255,
                               'pattern': r'^[a-zA-Z0-9 ,=-]*$'}}),
    'stats': _query({'decode': _BOOL, 'stream': _BOOL}),
    'execute_resize': _query({'exec_id': {'type': 'string',
                                          'pattern': r'^[0-9a-f]{64}$'},
                              'w': _TTY_SIZE, 'h': _TTY_SIZE},
                             required=['exec_id', 'w', 'h']),
    'attach': _query({}),
    'resize': _query({'w': _TTY_SIZE, 'h': _TTY_SIZE},
                     required=['w', 'h']),
    'console': _query({'token': {'type': 'string',
                                 'pattern': console_tokens.TOKEN_PATTERN},
                       'uuid': _STR}, required=['token']),
    'rename': _query({'name': _NAME}, required=['name']),
    'commit': _query({'repository': _REPOSITORY, 'tag': _TAG},
                     required=['repository']),
    'get_archive': _query({'path': _PATH}, required=['path']),
    'put_archive': _query({'path': _PATH}, required=['path']),
    'network_attach': {'type': 'object', 'additionalProperties': False,
                       'properties': {'network': _NETWORK_NAME,
                                      'port': _NETWORK_NAME,
                                      'fixed_ip': {'type': 'string',
                                                   'maxLength': 45}},
                       'required': [],
                       'oneOf': [{'required': ['network']},
                                 {'required': ['port']}]},
    'network_detach': {'type': 'object', 'additionalProperties': False,
                       'properties': {'network': _NETWORK_NAME,
                                      'port': _NETWORK_NAME},
                       'required': [],
                       'oneOf': [{'required': ['network']},
                                 {'required': ['port']}]},
    'network_list': _query({}),
    'host_list': _query({}),
    'service_list': _query({}),
}

_SECONDS = {'type': ['integer', 'null'], 'minimum': 0,
            'maximum': 2 ** 31 - 1}
#: Zun's restart policy names, as the engine has them.
RESTART_POLICIES = ('no', 'on-failure', 'always', 'unless-stopped')

_COMMAND_LIST = {'type': 'array', 'maxItems': 1024,
                 'items': {'type': 'string', 'maxLength': 65536}}
_NETWORK = {'type': 'object', 'additionalProperties': False,
            'properties': {'network': _STR, 'port': _STR,
                           'v4-fixed-ip': _STR, 'v6-fixed-ip': _STR}}

BODY = {
    'create': {
        'type': 'object',
        'additionalProperties': False,
        'required': ['image'],
        'properties': {
            'name': _NAME,
            'image': {'type': 'string', 'minLength': 1, 'maxLength': 255},
            'command': {'anyOf': [_COMMAND_LIST,
                                  {'type': 'string', 'minLength': 1,
                                   'maxLength': 65536}]},
            'entrypoint': {'anyOf': [_COMMAND_LIST,
                                     {'type': 'string', 'minLength': 1,
                                      'maxLength': 65536}]},
            'cpu': {'type': ['number', 'string', 'null'],
                    'pattern': r'^[0-9]+(\.[0-9]+)?$', 'minimum': 0.001,
                    'maximum': 1024},
            'memory': {'type': ['integer', 'string', 'null'],
                       'pattern': r'^[0-9]+[mMgG]?$', 'minimum': 4},
            'workdir': {'type': ['string', 'null'], 'pattern': '^/',
                        'maxLength': 4096},
            'environment': {'type': 'object', 'maxProperties': 1024,
                            'propertyNames': {'pattern': '^[^=\x00]+$'},
                            'additionalProperties': {'type': 'string'}},
            'nets': {'type': 'array', 'items': _NETWORK, 'maxItems': 16},
            'availability_zone': {'type': ['string', 'null'],
                                  'maxLength': 255},
            # Shown as given, kept in the server metadata (255
            # characters of JSON), never set on the engine's objects.
            'labels': {'type': ['object', 'null'], 'maxProperties': 64,
                       'propertyNames': {'minLength': 1, 'maxLength': 255},
                       'additionalProperties': {'type': 'string',
                                                'maxLength': 255}},
            'interactive': {'type': 'boolean'},
            'tty': {'type': 'boolean'},
            # One DNS label (RFC 1123): the pod's host name (Nova's
            # hostname).
            'hostname': {'type': ['string', 'null'], 'maxLength': 63,
                         'pattern': _DNS_LABEL},
            'disk': {'type': ['integer', 'null'], 'minimum': 0},
            'runtime': {'type': ['string', 'null'], 'maxLength': 64},
            'security_groups': {'type': 'array', 'maxItems': 64,
                                'items': _STR},
            'image_driver': {'type': ['string', 'null'],
                             'enum': ['glance', 'docker', None]},
            'image_pull_policy': {'type': ['string', 'null'],
                                  'enum': ['never', 'always', 'ifnotpresent',
                                           None]},
            'cpu_policy': {'type': ['string', 'null'],
                           'enum': ['shared', 'dedicated', None]},
            'host': {'type': ['string', 'null'], 'maxLength': 255},
            # Nova's scheduler hints (same_host, different_host, group,
            # query...): Zun's containers are Nova's servers.
            'hints': {'type': ['object', 'null'], 'maxProperties': 64,
                      'propertyNames': {'minLength': 1, 'maxLength': 255},
                      'additionalProperties': {
                          'type': ['string', 'array'], 'maxLength': 65536,
                          'maxItems': 64,
                          'items': {'type': 'string', 'maxLength': 255}}},
            # Run by the engine in the workload (Zun's, from 1.22).
            'healthcheck': {
                'type': ['object', 'null'], 'additionalProperties': False,
                'required': ['cmd'],
                'properties': {
                    'cmd': {'type': 'string', 'minLength': 1,
                            'maxLength': 255},
                    'interval': _SECONDS, 'timeout': _SECONDS,
                    'retries': _SECONDS}},
            # Admins' (policy): a flavor with zun:privileged=true.
            'privileged': {'type': ['boolean', 'null']},
            # The server is deleted when its workload stops by itself.
            'auto_remove': {'type': ['boolean', 'null']},
            # Zun's restart policy; the driver has the engine apply it.
            'restart_policy': {
                'type': ['object', 'null'], 'additionalProperties': False,
                'required': ['Name'],
                'properties': {
                    'Name': {'enum': list(RESTART_POLICIES)},
                    'MaximumRetryCount': {
                        'type': ['integer', 'string', 'null'],
                        'pattern': '^[0-9]{1,9}$', 'minimum': 0,
                        'maximum': 999999999}}},
            # Opened by a security group of their own (Zun's, from 1.24):
            # {"<port>[/<protocol>]": {}}.
            'exposed_ports': {'type': ['object', 'null'],
                              'maxProperties': 32,
                              'propertyNames': {'pattern': EXPOSED_PORT},
                              'additionalProperties': {'type': 'object'}},
            # The workload made anew (Nova's hard reboot) when it is
            # removed outside Nova while the server runs.
            'auto_heal': {'type': ['boolean', 'null']},
            # Zun fields this API cannot honour: accepted only empty or
            # off (what python-zunclient sends when they are not asked
            # for), see UNSUPPORTED.
            # type bind: a file injected (source its base64 content, as
            # python-zunclient sends it); Cinder volumes (type volume)
            # are refused, see check_supported.
            'mounts': {'type': ['array', 'null'], 'maxItems': 16,
                       'items': {
                           'type': 'object', 'additionalProperties': False,
                           'required': ['destination'],
                           'properties': {
                               'type': {'enum': ['volume', 'bind']},
                               'source': {'type': 'string'},
                               'destination': {'type': 'string',
                                               'minLength': 2,
                                               'maxLength': 4096,
                                               'pattern': '^/'},
                               'size': {'type': ['string', 'integer']}}}},
            'registry': {'type': ['string', 'null']},
        },
    },
    'update': {
        'type': 'object',
        'additionalProperties': False,
        'minProperties': 1,
        'properties': {
            'name': _NAME,
            'cpu': {'type': ['number', 'string'],
                    'pattern': r'^[0-9]+(\.[0-9]+)?$', 'minimum': 0.001,
                    'maximum': 1024},
            'memory': {'type': ['integer', 'string'],
                       'pattern': r'^[0-9]+[mMgG]?$', 'minimum': 4},
            # The workload made anew when it is removed outside Nova.
            'auto_heal': {'type': 'boolean'},
        },
    },
    # zun-tempest-plugin sends the command in the body, python-zunclient
    # in the query: Zun reads both.
    'execute': {
        'type': 'object',
        'additionalProperties': False,
        'properties': {'command': _EXEC_COMMAND,
                       'run': {'type': ['boolean', 'string'],
                               'enum': [True, False] + _BOOL['enum']},
                       'interactive': {'type': ['boolean', 'string'],
                                       'enum': [True, False] +
                                       _BOOL['enum']}},
    },
    'put_archive': {
        'type': 'object',
        'additionalProperties': False,
        'required': ['data'],
        'properties': {'data': {'type': 'string'}},
    },
}


#: Create fields that must be empty, off or absent: a Nova server has no
#: equivalent (or this API does not offer it).
UNSUPPORTED = ('registry',)


def injected_files(mounts):
    """``[{path, content}]`` of Zun's bind mounts (injected files).

    Raises ValidationError for a Cinder volume (not offered), a path that
    is no file path, a content that is not base64.
    """
    files = []
    for mount in mounts or ():
        if mount.get('type', 'volume') != 'bind':
            raise ValidationError('mounts of Cinder volumes are not '
                                  'supported by this API (attach volumes '
                                  'through Nova); type bind injects a file')
        path = posixpath.normpath(mount['destination'])
        if path == '/' or path.startswith('//') or '\x00' in path or \
                'source' not in mount:
            raise ValidationError('Invalid mount %s: an absolute file path '
                                  'and its content (source) are needed'
                                  % mount['destination'])
        try:
            base64.b64decode(mount['source'], validate=True)
        except (ValueError, binascii.Error):
            raise ValidationError('Invalid mount %s: source is not base64'
                                  % mount['destination'])
        files.append({'path': path, 'content': mount['source']})
    return files


def exposed_ports(ports):
    """Zun's exposed_ports as sorted ``<port>/<protocol>``; 400 if bad."""
    exposed = set()
    for key in ports or {}:
        number, _, protocol = key.partition('/')
        if not 1 <= int(number) <= 65535:
            raise ValidationError('value %s is invalid as publish port.'
                                  % number)
        exposed.add('%d/%s' % (int(number), protocol or 'tcp'))
    return sorted(exposed, key=lambda p: (int(p.split('/')[0]), p))


def check_supported(body):
    for field in UNSUPPORTED:
        if body.get(field):
            raise ValidationError('%s is not supported by this API (a '
                                  'container is a Nova server)' % field)
    exposed_ports(body.get('exposed_ports'))
    injected_files(body.get('mounts'))
    if body.get('exposed_ports') and body.get('security_groups'):
        # As Zun: the container's group is the one opening its ports.
        raise ValidationError('exposed_ports and security_groups cannot '
                              'be given together')
    policy = body.get('restart_policy') or {}
    if (policy.get('Name') in ('always', 'unless-stopped') and
            int(policy.get('MaximumRetryCount') or 0)):
        raise ValidationError('maximum retry count not valid with restart '
                              'policy of %s' % policy['Name'])
    if body.get('auto_remove') and policy.get('Name', 'no') != 'no':
        # As the engine refuses them together.
        raise ValidationError('Conflicting options: auto_remove and '
                              'restart_policy %s' % policy['Name'])


class ValidationError(Exception):
    """A request that does not match its schema; ``str()`` says why."""


def _describe(error):
    where = '.'.join(str(p) for p in error.absolute_path)
    if error.validator == 'additionalProperties':
        return error.message.replace('were unexpected', 'are not allowed') \
            .replace('was unexpected', 'is not allowed')
    if where:
        return 'Invalid input for field/attribute %s. %s' % (
            where, error.message)
    return error.message


def check(instance, schema):
    validator = jsonschema.Draft202012Validator(schema)
    error = next(iter(sorted(validator.iter_errors(instance),
                             key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        raise ValidationError(_describe(error))


def query(operation):
    """The request's query parameters, checked against the operation's schema.

    ``None`` values are dropped. Raises ValidationError.
    """
    args = {}
    for key in flask.request.args:
        values = flask.request.args.getlist(key)
        if len(values) > 1:
            raise ValidationError('Query parameter %s is given more than '
                                  'once' % key)
        if values[0] != 'None':
            args[key] = values[0]
    check(args, QUERY[operation])
    return args


def body(operation):
    """The JSON body of the request, checked against the operation's schema.

    Raises ValidationError.
    """
    raw = flask.request.get_data(cache=True)
    if not raw.strip():
        raise ValidationError('A JSON request body is required')
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError('Malformed JSON in the request body: %s' % exc)
    check(data, BODY[operation])
    return data


def no_body():
    """Actions take no body (the client sends Content-Length: 0)."""
    if flask.request.get_data(cache=True).strip():
        raise ValidationError('This action takes no request body')


def boolean(value, default=False):
    if value is None:
        return default
    return value.lower() in ('true', '1', 'yes')
