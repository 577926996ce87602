"""Fixtures the functional modules share. Defined here once: a session
fixture imported into several modules would be one instance per module,
and a host runs only one userspace Open vSwitch at a time."""

from tests.functional.network_support import private_ovs  # noqa: F401
