from nova import conf
from nova.virt import driver as nova_driver
from nova.virt import fake

from nova_zun import driver as zun_driver


def test_nova_loads_the_driver_as_zun_ZunDriver():
    # Nova imports compute drivers from nova.virt only; the shim that pip
    # installs at nova/virt/zun makes 'zun.ZunDriver' resolve to ours.
    conf.CONF.set_override('compute_driver', 'zun.ZunDriver')
    try:
        loaded = nova_driver.load_compute_driver(fake.FakeVirtAPI())
    finally:
        conf.CONF.clear_override('compute_driver')
    assert type(loaded) is zun_driver.ZunDriver
