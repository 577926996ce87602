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

"""Fixtures the functional modules share.

Defined here once: a session fixture imported into several modules would be one
instance per module, and a host runs only one userspace Open vSwitch at a time.
"""

import tempfile

import pytest

from nova_zun_workshop import engine as engine_tool
from nova_zun_workshop.functional import network_support
from nova_zun_workshop import ovs as ovs_tool
from tests import prerequisites


def pytest_collection_modifyitems(items):
    # Whatever uses the suite's switch is marked so, as the modules that
    # start one of their own are (tools/run-tests runs them apart).
    for item in items:
        if 'private_ovs' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.switch)


@pytest.fixture(scope='session')
def private_ovs():
    """The suite's own switch; at the end no bridge may be left.

    The privsep daemons started go too at the end.
    """
    prerequisites.require_root('the network tests run as root')
    try:
        switch = network_support.start_private_ovs()
    except (ovs_tool.OVSStartError, OSError) as exc:
        prerequisites.unavailable('Open vSwitch did not start: %s' % exc)
    yield switch
    bridges = network_support.stop_private_ovs(switch)
    assert not bridges, 'bridges left on the switch: %s' % bridges


@pytest.fixture(scope='module')
def engine_without_runsc(private_engine):
    """A second private engine, with runc only.

    Everything it ran goes with it at the end; what it leaves is a failure.
    """
    engine = engine_tool.PrivateEngine(
        tempfile.mkdtemp(prefix='nova-zun-runc-only-', dir='/tmp'),
        runsc=False)
    try:
        engine.start()
    except Exception:
        engine.stop()
        raise
    yield engine
    engine.stop()
    left = (engine.mounts(), engine.processes())
    assert left == ([], {}), 'the runc-only engine left %s' % (left,)
