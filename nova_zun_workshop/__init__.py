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

"""The development workshop of nova-zun, never installed (``pip install .``
ships only nova_zun, zun_native_api and the nova.virt.zun shim).

What developers, tests, benchmarks and the all-in-one cloud run beside the
product: private engines, Open vSwitch, registry, Keystone, Glance and
native API servers, the test images, the demo, the all-in-one, and the
harness of Nova's in-process functional framework. Run it from the top of
the source tree (``.venv/bin/python -m nova_zun_workshop.<tool>``); it
imports the product, never the tests or the benchmarks.
"""
