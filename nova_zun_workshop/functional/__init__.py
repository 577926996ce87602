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

"""The harness of Nova's in-process functional framework with ZunDriver,
shared by tests/functional and the benchmarks: the driver's test case, a
Neutron whose ports are bound to a private Open vSwitch, and Cinder
volumes on loop devices."""

# Eventlet's monkey patching (as nova-compute does at start) must come before
# oslo.privsep is imported, or its daemon's log reader blocks the process:
# whatever imports the harness gets it first.
import nova.tests.functional  # noqa: F401
