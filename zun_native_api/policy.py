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

"""Policy: oslo.policy with defaults in code.

As Nova's defaults have it: a project's readers see its containers
(show, list), its members act on them, admins on all. A container's
project is its ``org.openstack.nova-zun.project`` label (runtime
operations) or its Nova server's ``tenant_id`` (the rest); the handlers
pass it as the target's ``project_id``.
"""

from oslo_policy import opts as policy_opts
from oslo_policy import policy

ADMIN = 'role:admin'
OWNER = 'project_id:%(project_id)s'
READER_OR_ADMIN = 'rule:context_is_admin or (role:reader and rule:owner)'
MEMBER_OR_ADMIN = 'rule:context_is_admin or (role:member and rule:owner)'
#: What a project's readers may do: see its containers.
READS = ('get_one', 'get_all', 'network_list')

_OPERATIONS = [
    ('get_one', 'GET', '/v1/containers/{container_ident}',
     'Show a container.'),
    ('get_all', 'GET', '/v1/containers', 'List the project\'s containers.'),
    ('create', 'POST', '/v1/containers', 'Create a container.'),
    ('delete', 'DELETE', '/v1/containers/{container_ident}',
     'Delete a container.'),
    ('update', 'PATCH', '/v1/containers/{container_ident}',
     'Rename a container or change its CPU and memory limits live.'),
    ('start', 'POST', '/v1/containers/{container_ident}/start',
     'Start a container.'),
    ('stop', 'POST', '/v1/containers/{container_ident}/stop',
     'Stop a container.'),
    ('reboot', 'POST', '/v1/containers/{container_ident}/reboot',
     'Reboot a container.'),
    ('rebuild', 'POST', '/v1/containers/{container_ident}/rebuild',
     'Rebuild a container from its image or another.'),
    ('pause', 'POST', '/v1/containers/{container_ident}/pause',
     'Pause a container.'),
    ('unpause', 'POST', '/v1/containers/{container_ident}/unpause',
     'Unpause a container.'),
    ('kill', 'POST', '/v1/containers/{container_ident}/kill',
     'Send a signal to a container\'s main process.'),
    ('logs', 'GET', '/v1/containers/{container_ident}/logs',
     'Read a container\'s output.'),
    ('execute', 'POST', '/v1/containers/{container_ident}/execute',
     'Run a command in a container.'),
    ('execute_interactive', 'POST',
     '/v1/containers/{container_ident}/execute',
     'Run a command on a terminal, over a console WebSocket '
     '(interactive=true).'),
    ('execute_resize', 'POST',
     '/v1/containers/{container_ident}/execute_resize',
     'Resize the terminal of an interactive command.'),
    ('attach', 'GET', '/v1/containers/{container_ident}/attach',
     'Attach to a container\'s main process over a console WebSocket.'),
    ('resize', 'POST', '/v1/containers/{container_ident}/resize',
     'Resize the terminal of a container\'s main process.'),
    ('rename', 'POST', '/v1/containers/{container_ident}/rename',
     'Rename a container (microversions up to 1.13).'),
    ('commit', 'POST', '/v1/containers/{container_ident}/commit',
     'Make a Glance image of a container\'s filesystem.'),
    ('top', 'GET', '/v1/containers/{container_ident}/top',
     'List a container\'s processes.'),
    ('stats', 'GET', '/v1/containers/{container_ident}/stats',
     'Sample a container\'s resource usage.'),
    ('network_attach', 'POST',
     '/v1/containers/{container_ident}/network_attach',
     'Attach a network or port to a container (Nova interface attach).'),
    ('network_detach', 'POST',
     '/v1/containers/{container_ident}/network_detach',
     'Detach a network or port from a container (Nova interface detach).'),
    ('network_list', 'GET', '/v1/containers/{container_ident}/network_list',
     'List a container\'s networks and ports.'),
    ('get_archive', 'GET', '/v1/containers/{container_ident}/get_archive',
     'Copy files out of a container.'),
    ('put_archive', 'POST', '/v1/containers/{container_ident}/put_archive',
     'Copy files into a container.'),
]

RULES = [
    policy.RuleDefault('context_is_admin', ADMIN,
                       description='Who is an administrator.'),
    policy.RuleDefault('owner', OWNER,
                       description='The caller\'s project owns the '
                                   'container.'),
] + [
    policy.DocumentedRuleDefault(
        name='container:%s' % name,
        check_str=READER_OR_ADMIN if name in READS else MEMBER_OR_ADMIN,
        description=description,
        operations=[{'method': method, 'path': path}])
    for name, method, path, description in _OPERATIONS
] + [
    policy.DocumentedRuleDefault(
        name=name, check_str='rule:context_is_admin',
        description=description,
        operations=[{'method': 'POST' if name.startswith('container:create')
                     else 'GET', 'path': path}])
    for name, path, description in (
        ('container:get_all_all_projects', '/v1/containers',
         'List containers of every project (all_projects).'),
        ('container:create:privileged', '/v1/containers',
         'Create a privileged container (privileged: a container flavor '
         'with zun:privileged=true).'),
        ('host:get_all', '/v1/hosts', 'List the container hosts.'),
        ('zun-service:get_all', '/v1/services',
         'List the compute services of the container hosts.'))
]


def list_rules():
    """For oslopolicy-sample-generator (namespace zun_native_api)."""
    return RULES


def set_defaults(conf):
    policy_opts.set_defaults(conf, policy_file='policy.yaml')


def make_enforcer(conf):
    enforcer = policy.Enforcer(conf)
    enforcer.register_defaults(RULES)
    return enforcer


def authorize(enforcer, rule, context, project_id=None):
    """True if ``context`` may do ``rule`` on a container of ``project_id``.

    ``project_id`` None means the caller's own project.
    """
    target = {'project_id': project_id if project_id is not None
              else context.project_id}
    return enforcer.authorize(rule, target, context.to_policy_values(),
                              do_raise=False)
