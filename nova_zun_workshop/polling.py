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
