"""Waiting for the engine, a switch or a service to get somewhere."""

import time

# Bound on waiting; reaching it is a failure, never a measurement.
PATIENCE = 60


def wait_for(predicate, what):
    """Poll ``predicate`` until it returns something true; return that."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError('gave up waiting for %s' % what)
