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

# Eventlet's monkey patching (as nova-compute does at start) must come before
# oslo.privsep is imported, or its daemon's log reader blocks the process:
# every functional module gets it first, whichever is collected alone.
import nova.tests.functional  # noqa: F401
