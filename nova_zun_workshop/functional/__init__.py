"""The harness of Nova's in-process functional framework with ZunDriver,
shared by tests/functional and the benchmarks: the driver's test case, a
Neutron whose ports are bound to a private Open vSwitch, and Cinder
volumes on loop devices."""

# Eventlet's monkey patching (as nova-compute does at start) must come before
# oslo.privsep is imported, or its daemon's log reader blocks the process:
# whatever imports the harness gets it first.
import nova.tests.functional  # noqa: F401
