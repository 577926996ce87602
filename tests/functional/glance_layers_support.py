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

"""Fixtures of the layered image tests on a real Glance: ``nova-zun-image``
run as a user, the driver's image step as nova-compute runs it (Nova's own
Glance API), and removal of every image the test's Glance holds.

Test modules import the fixtures by name so pytest finds them there.
"""

import contextlib
import os
import subprocess
import sys
import uuid

import glanceclient
from nova import context as nova_context
from nova.image import glance as image_glance
from nova import objects
import pytest

from nova_zun import conf as zun_conf
from nova_zun import images
from nova_zun.runtime import labels
from nova_zun.runtime import types
from tests.functional.native_api_support import cli_environment
from tests.functional.runtime_support import wait_for_state

CONF = zun_conf.CONF
TOOL = os.path.join(os.path.dirname(sys.executable), 'nova-zun-image')


def glance_client(identities, glance, who):
    return glanceclient.Client('2', session=identities.session(who),
                               endpoint_override=glance.url)


def image_tool(keystone, glance, who, *args, env=None):
    """Run ``nova-zun-image`` as ``who``; return what it printed.

    ``env`` adds to the environment.
    """
    env = dict(cli_environment(keystone, who), OS_IMAGE_URL=glance.url,
               **(env or {}))
    result = subprocess.run([TOOL] + list(args), env=env,
                            capture_output=True, text=True, timeout=600)
    assert 0 == result.returncode, result.stdout + result.stderr
    print(result.stdout)
    return result.stdout


def delete_all_images(identities, glance):
    admin = glance_client(identities, glance, 'admin')
    for image in list(admin.images.list(filters={'member_status': 'all'})):
        admin.images.delete(image['id'])


@pytest.fixture(scope='module')
def nova_glance(glance):
    """Nova's Glance API (as nova-compute has it), on the test's Glance."""
    CONF.set_override('api_servers', [glance.url], group='glance')
    try:
        yield image_glance.API()
    finally:
        CONF.clear_override('api_servers', group='glance')


def context_of(identities, who):
    """A Nova request context of ``who``, as nova-compute gets it."""
    session = identities.session(who)
    return nova_context.RequestContext(
        user_id=session.get_user_id(), project_id=session.get_project_id(),
        auth_token=session.get_token(), is_admin=False)


@pytest.fixture
def boot(runtime, nova_glance, identities):
    """``boot(who, image_id)``: the driver's image step, as ``who``.

    The images it loads are removed after the test.
    """
    loaded = []

    def ensure(who, image_id):
        context = context_of(identities, who)
        meta = objects.ImageMeta.from_dict(nova_glance.get(context, image_id))
        loaded.append(image_id)
        return images.ensure_image(context, runtime, nova_glance, meta)
    yield ensure
    for image_id in reversed(loaded):
        if runtime.image_exists(images.reference(image_id)):
            runtime.remove_image(images.reference(image_id), force=True)


@contextlib.contextmanager
def exited(runtime, image, command, purpose):
    """A container of ``image`` that ran ``command`` to its end.

    Removed when the block ends.
    """
    container = runtime.create_container(types.ContainerSpec(
        name='layers-%s-%s' % (purpose, uuid.uuid4().hex[:8]), image=image,
        command=command, labels={labels.INSTANCE: 'layers-%s' % purpose}))
    try:
        runtime.start(container)
        wait_for_state(runtime, container, types.ContainerState.EXITED)
        yield container
    finally:
        runtime.remove(container, force=True)
