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

"""Label keys that identify runtime objects.

The host keeps no database: every sandbox and container carries these
labels, and listing, recovery and ownership checks read them back.

The engine copies an image's labels onto its containers, so an image can
carry any of these keys: whoever creates a container sets every identity
key itself, and container labels win over image labels.
"""

PREFIX = 'org.openstack.nova-zun.'

INSTANCE = PREFIX + 'instance'
PROJECT = PREFIX + 'project'
USER = PREFIX + 'user'
HOST = PREFIX + 'host'
ROLE = PREFIX + 'role'

ROLE_SANDBOX = 'sandbox'
ROLE_WORKLOAD = 'workload'
#: The container a rescue runs in place of the workload.
ROLE_RESCUE = 'rescue'

#: On images only: what made the image (sandbox, test image, ...), so image
#: housekeeping touches only its own kind. Never an identity key above.
IMAGE_KIND = PREFIX + 'image-kind'
IMAGE_KIND_SANDBOX = 'sandbox'
