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

"""The driver's test case and the network mixin of the workshop's harness
(nova_zun_workshop.functional), on the suite's fixtures: the session's
private engine, test images, volume directories and Open vSwitch."""

import pytest

from nova_zun_workshop.functional import base
from nova_zun_workshop.functional import network_support


@pytest.mark.usefixtures('private_engine')
class ZunDriverTestCase(base.ZunDriverTestCase):

    @pytest.fixture(autouse=True)
    def _zun_engine(self, private_engine, runtime, test_image_refs,
                    volume_dirs):
        self.engine_url = private_engine.url
        self.volume_dirs = volume_dirs
        self.runtime = runtime
        self.test_images = test_image_refs


class NetworkFixtureMixin(network_support.NetworkFixtureMixin):

    @pytest.fixture(autouse=True)
    def _zun_switch(self, private_ovs):
        self.switch = private_ovs


class TwoComputesMixin:
    """compute1 on the suite's engine, compute2 on an engine of its own."""

    @pytest.fixture(autouse=True)
    def _second_engine(self, engine_without_runsc):
        self.second_engine_url = engine_without_runsc.url

    def start_two_computes(self):
        self.start_zun_compute('compute1')
        self.start_zun_compute('compute2', engine_url=self.second_engine_url)
