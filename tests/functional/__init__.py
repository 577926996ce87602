# Eventlet's monkey patching (as nova-compute does at start) must come before
# oslo.privsep is imported, or its daemon's log reader blocks the process:
# every functional module gets it first, whichever is collected alone.
import nova.tests.functional  # noqa: F401
