"""Lets Nova load nova-zun as ``compute_driver = zun.ZunDriver``.

Nova imports compute drivers from the ``nova.virt`` package only; the driver
itself lives in :mod:`nova_zun.driver`.
"""

from nova_zun.driver import ZunDriver  # noqa: F401
