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
