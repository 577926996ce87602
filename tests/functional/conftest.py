"""Fixtures the functional modules share.

Defined here once: a session fixture imported into several modules would be one
instance per module, and a host runs only one userspace Open vSwitch at a time.
"""

import os

import pytest

from nova_zun_workshop.functional import network_support
from nova_zun_workshop import ovs as ovs_tool

IN_CI = os.environ.get('CI', '').lower() == 'true'


def _unavailable(message):
    if IN_CI:
        pytest.fail('CI=true and Open vSwitch is unavailable: %s' % message,
                    pytrace=False)
    pytest.skip('Open vSwitch unavailable: %s' % message)


@pytest.fixture(scope='session')
def private_ovs():
    """The suite's own switch; at the end no bridge may be left, and the
    privsep daemons started go too."""
    if os.geteuid() != 0:
        _unavailable('the network tests run as root')
    try:
        switch = network_support.start_private_ovs()
    except (ovs_tool.OVSStartError, OSError) as exc:
        _unavailable(str(exc))
    yield switch
    bridges = network_support.stop_private_ovs(switch)
    assert not bridges, 'bridges left on the switch: %s' % bridges
