"""Narrow logic of what the host reports to Nova: no engine, no Nova services.
"""

from nova_zun import host


def test_runtime_traits_are_custom_traits_of_the_runtime_name():
    assert host.runtime_trait('runsc') == 'CUSTOM_ZUN_RUNTIME_RUNSC'
    assert host.runtime_trait('kata-qemu') == 'CUSTOM_ZUN_RUNTIME_KATA_QEMU'
