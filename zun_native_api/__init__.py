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

"""A Zun-compatible container API for what only containers can do.

Wire-compatible with Zun's v1 API where the operations overlap, so
unmodified python-zunclient works. It uses :mod:`nova_zun.runtime` and
:mod:`nova_zun.conf`, never the Nova driver.
"""

from zun_native_api.app import create_app

__all__ = ['create_app']
