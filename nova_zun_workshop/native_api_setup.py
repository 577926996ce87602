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

"""What the native API's tests and its benchmark set up alike: a Keystone
with the callers' identities, and workloads labelled as the driver labels
them."""

import uuid

from nova_zun.runtime import labels
from nova_zun.runtime import types
from nova_zun_workshop import keystone as keystone_tool

HEADER = 'OpenStack-API-Version'
SERVICE_USER = ('nova-zun', 'service-secret')
GLANCE_USER = ('glance', 'glance-secret')
USERS = {
    # name: (password, project, role)
    'alice': ('alice-secret', 'project-a', 'member'),
    'bob': ('bob-secret', 'project-b', 'member'),
    'carol': ('carol-secret', 'project-a', 'reader'),
}


def start_keystone(base_dir=None):
    """A started Keystone with the users the native API tests need.

    They are a service user for keystonemiddleware, alice in project-a and bob
    in project-b (members), carol in project-a (a reader) and Keystone's
    bootstrap admin; ``stop()`` it after use.
    """
    ks = keystone_tool.Keystone(base_dir)
    try:
        ks.start()
        ks.project_user('service', SERVICE_USER[0], SERVICE_USER[1],
                        role='service')
        for name, (password, project, role) in USERS.items():
            ks.project_user(project, name, password, role=role)
    except Exception:
        ks.stop()
        raise
    return ks


def start_workload(runtime, image, project_id, host='host1',
                   user_id='user', command=None, extra_labels=None,
                   **spec_fields):
    """Run a workload of ``image`` labelled like the driver's.

    Returns its instance uuid (its containers carry it in labels.INSTANCE).
    ``spec_fields`` go to its ContainerSpec (tty, stdin_open, ...).
    """
    instance = str(uuid.uuid4())
    spec = types.ContainerSpec(
        name='nova-%s' % instance, image=image, command=command,
        labels=dict(extra_labels or {}, **{
            labels.INSTANCE: instance, labels.PROJECT: project_id,
            labels.USER: user_id, labels.HOST: host,
            labels.ROLE: labels.ROLE_WORKLOAD}), **spec_fields)
    container = runtime.create_container(spec)
    try:
        runtime.start(container)
    except Exception:
        runtime.remove(container, force=True)
        raise
    return instance
