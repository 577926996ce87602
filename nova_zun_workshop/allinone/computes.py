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

"""The compute hosts of the all-in-one cloud (``tools/cloud up --computes N``).

Each one is a nova-compute with a host name of its own, its own private
Docker engine, state directory (instances, locks, the driver's volume
mounts) and native API, all on this machine and beside one shared control
plane. The first one keeps the single-host layout (``engine/``,
``native-api/``, the machine's host name; its state in ``nova-compute/``);
the others live in
``compute-<n>/`` and are named ``<host name>-<n>``. Only the first one's
engine registers runsc, so a cloud of several hosts has one host with the
runsc runtime trait and others without (doc/all-in-one.rst).
"""

import os

from nova_zun_workshop import engine as engine_tool

MAX_COMPUTES = 8
# nova-serialproxy, shared by the hosts.
SERIALPROXY_OFFSET = 19
# Compute host n (from 1) has the block of PORTS_PER_COMPUTE ports from
# FIRST_PORT_OFFSET + PORTS_PER_COMPUTE * (n - 1): its native API on the
# first one (host 1's is the cloud's native-api port instead), its serial
# consoles on the others.
FIRST_PORT_OFFSET = 20
PORTS_PER_COMPUTE = 10


def _block(number):
    return FIRST_PORT_OFFSET + PORTS_PER_COMPUTE * (number - 1)


def port_offsets(computes):
    """``{name: offset}`` of the ports the compute hosts add.

    Serial console ranges aside: they fill the rest of each host's block,
    up to ``block_size``.
    """
    offsets = {'native-api-%d' % n: _block(n)
               for n in range(2, computes + 1)}
    offsets['serialproxy'] = SERIALPROXY_OFFSET
    return offsets


def block_size(computes):
    """How many ports from the port base a cloud of ``computes`` uses."""
    return _block(computes + 1)


class ComputeHost:
    """Compute host ``number`` (from 1) of the cloud in ``base_dir``.

    ``machine`` is the machine's host name, the first host's own.
    """

    def __init__(self, base_dir, number, machine, ports):
        self.number = number
        first = number == 1
        suffix = '' if first else '-%d' % number
        self.host = machine + suffix
        home = base_dir if first else os.path.join(base_dir,
                                                   'compute%s' % suffix)
        self.home = home
        # Never nova/, the directory of nova.conf: nova-compute takes a
        # compute_id file in the directory of any of its configuration
        # files for its own (nova.virt.node), so host 1's there would be
        # every host's.
        self.state_dir = os.path.join(home,
                                      'nova-compute' if first else 'nova')
        self.native_api_dir = os.path.join(home, 'native-api')
        self.engine = engine_tool.PrivateEngine(os.path.join(home, 'engine'),
                                                runsc=first)
        self.compute_service = 'nova-compute' + suffix
        self.native_api_service = 'zun-native-api' + suffix
        self.engine_name = 'docker-engine' + suffix
        self.native_api_port = ports['native-api' + suffix]
        block = ports['keystone'] + _block(number)
        self.serial_ports = (block + 1, block + PORTS_PER_COMPUTE - 1)
        self.native_api_url = 'http://127.0.0.1:%d' % self.native_api_port
        self.compute_conf = os.path.join(self.state_dir, 'nova-compute.conf')
        self.native_api_conf = os.path.join(self.native_api_dir,
                                            'zun-native-api.conf')

    def dirs(self):
        return [self.home, self.state_dir, self.native_api_dir]
