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

"""The cloud burst's reading of nova-compute's log and its overlap count
(the measuring itself runs on a real cloud: benchmarks/README.rst)."""

import datetime

from benchmarks import cloud_burst

SERVER = '72aa100e-7788-4e0b-b7f8-c5684c40e837'
OTHER = '09bed506-5e09-4e34-a3fe-20c3f0d4a5c7'
CONTEXT = ('[None req-317b3281-88bd-4777-9ef3-e4453c8d8124 ee515dea3c45 '
           '7033e5faa40c - - default default]')


def _line(clock, logger, server, message, level='INFO'):
    return '2026-12-02 %s 11739 %s %s %s [instance: %s] %s\n' % (
        clock, level, logger, CONTEXT, server, message)


def _at(clock):
    return datetime.datetime.strptime(
        '2026-12-02 ' + clock, '%Y-%m-%d %H:%M:%S.%f').timestamp()


def test_events_of_the_burst_servers_are_read_with_their_times(tmp_path):
    log = tmp_path / 'nova-compute.log'
    log.write_text(''.join([
        _line('00:38:53.634', 'nova.compute.claims', SERVER,
              'Claim successful on node vm'),
        _line('00:38:53.700', 'nova.compute.claims', OTHER,
              'Claim successful on node vm'),
        'a traceback line without a time\n',
        _line('00:38:54.100', 'nova_zun.driver', SERVER,
              'Spawned container 1234 in sandbox 5678'),
        _line('00:38:54.120', 'nova.compute.manager', SERVER,
              'Took 0.41 seconds to spawn the instance on the hypervisor.'),
        _line('00:38:54.380', 'nova.compute.manager', SERVER,
              'Took 0.75 seconds to build instance.'),
    ]))
    events = cloud_burst.compute_log_events(str(log), [SERVER])
    assert events == {SERVER: {
        'claimed': (_at('00:38:53.634'), None),
        'spawned': (_at('00:38:54.120'), 0.41),
        'built': (_at('00:38:54.380'), 0.75)}}


def test_most_at_once_counts_overlapping_intervals():
    assert cloud_burst.most_at_once([]) == 0
    assert cloud_burst.most_at_once([(0, 1), (2, 3)]) == 1
    assert cloud_burst.most_at_once([(0, 4), (1, 2), (1.5, 3), (3.5, 5)]) == 3
