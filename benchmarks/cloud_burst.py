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

"""The burst on a deployment-shaped cloud: N concurrent boots through the
all-in-one cloud's Nova API (``nova_zun_workshop.allinone``: separate nova-api,
conductor, scheduler and nova-compute processes on MariaDB and RabbitMQ)
vs N concurrent raw runs of the same image on the same engine.

``python -m benchmarks --cloud-burst N`` runs it in a process of its own,
``python -m benchmarks.cloud_burst --count N``, which brings a cloud up in
a fresh directory, measures, deletes its servers and removes the cloud
(also on SIGTERM). With ``--base-dir`` it measures the cloud there
(brought up if needed) and leaves it running. Figures go to stdout as
JSON, progress and the cloud's steps to stderr.
"""

import argparse
import concurrent.futures
import configparser
import datetime
import json
import os
import re
import signal
import sys
import tempfile
import time
import uuid

from keystoneauth1 import adapter
import requests

from benchmarks import child
from benchmarks import raw as raw_engine
from benchmarks import stats
from nova_zun import conf as zun_conf
from nova_zun import images
from nova_zun_workshop.allinone import cloud as aio

# The burst's ACTIVE servers are listed this often, its ERROR ones every
# ERROR_EVERY lists: each list is work for the nova-api the boots need.
POLL_INTERVAL = 0.25
ERROR_EVERY = 8
TIMEOUT = 600
UNLIMITED = {'instances': -1, 'cores': -1, 'ram': -1}
# nova-compute's log lines about one instance (oslo.log's default format).
LOG_LINE = re.compile(
    r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \d+ \w+ \S+ .*'
    r'\[instance: ([0-9a-f-]{36})\] (.*)$')
LOG_EVENTS = {
    'claimed': re.compile(r'Claim successful on node'),
    'spawned': re.compile(r'Took (\d+\.\d+) seconds to spawn the instance'),
    'built': re.compile(r'Took (\d+\.\d+) seconds to build instance'),
}


def progress(message):
    sys.stderr.write('[benchmarks] cloud burst: %s\n' % message)
    sys.stderr.flush()


def run(report, count):
    """Measure in a child process; add its figures to ``report``."""
    # The cloud's services inherit this environment: not the switch the
    # main process may carry for its native API child (nova-compute,
    # conductor and scheduler choose their concurrency mode themselves).
    env = {k: v for k, v in os.environ.items()
           if k != 'OS_NOVA_DISABLE_EVENTLET_PATCHING'}
    # Interrupted, the child deletes its servers and removes its cloud.
    found = child.run_json('benchmarks.cloud_burst', ['--count', str(count)],
                           env, 'the cloud burst', 120)
    for figure in found['figures']:
        report.add(figure['name'], figure['value'], figure['unit'])
    for name, values in found['samples'].items():
        report.keep('burst_cloud/' + name, values)
    report.meta['burst_cloud'] = found['meta']


def _log_time(text):
    # oslo.log writes local time.
    return datetime.datetime.strptime(
        text, '%Y-%m-%d %H:%M:%S.%f').timestamp()


def compute_log_events(path, server_ids):
    """The events of LOG_EVENTS in nova-compute's log, per server.

    Returns ``{server id: {event: (log time, seconds it names or None)}}``.
    """
    found = {sid: {} for sid in server_ids}
    with open(path, errors='replace') as log:
        for line in log:
            match = LOG_LINE.match(line)
            if not match or match.group(2) not in found:
                continue
            for event, pattern in LOG_EVENTS.items():
                named = pattern.search(match.group(3))
                if named:
                    seconds = float(named.group(1)) if named.groups() else None
                    found[match.group(2)][event] = (
                        _log_time(match.group(1)), seconds)
    return found


def most_at_once(intervals):
    """The most of ``intervals`` (start, end) that overlap at one time."""
    edges = sorted([(s, 1) for s, _ in intervals] +
                   [(e, -1) for _, e in intervals])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


class CloudBurst:

    def __init__(self, cloud, count):
        self.cloud = cloud
        self.count = count
        self.figures = []
        self.samples = {}
        self.meta = {'count': count}
        self.prefix = 'burst-%s-' % uuid.uuid4().hex[:8]
        self.compute = self.raw = None
        self.quota = self.ratios = None

    def add(self, name, value, unit):
        self.figures.append({'name': 'burst_cloud/' + name, 'value': value,
                             'unit': unit})

    # -- setup ----------------------------------------------------------------

    def connect(self):
        creds = self.cloud.credentials()
        # One connection per concurrent request (requests keeps 10).
        http = requests.Session()
        http.mount('http://', requests.adapters.HTTPAdapter(
            pool_maxsize=self.count + 2))
        self.session = self.cloud.keystone.admin_session(session=http)
        self.compute = adapter.Adapter(
            self.session, service_type='compute',
            region_name=creds['OS_REGION_NAME'],
            default_microversion=aio.COMPUTE_API_VERSION)
        self.placement = adapter.Adapter(
            self.session, service_type='placement',
            region_name=creds['OS_REGION_NAME'],
            default_microversion='1.18')
        glance = adapter.Adapter(self.session, service_type='image',
                                 region_name=creds['OS_REGION_NAME'])
        # Token and catalog before the clock runs.
        self.project_id = self.session.get_project_id()
        flavors = self.compute.get('/flavors/detail').json()['flavors']
        self.flavor = next(f for f in flavors if f['name'] == aio.FLAVOR)
        self.image_id = glance.get(
            '/v2/images', params={'name': aio.IMAGE}).json()['images'][0]['id']

    def raise_quota(self):
        """Let the project run the burst (Nova's default is 10 servers).

        What the project had is put back at the end.
        """
        path = '/os-quota-sets/%s' % self.project_id
        current = self.compute.get(path).json()['quota_set']
        self.quota = {key: current[key] for key in UNLIMITED}
        self.compute.put(path, json={'quota_set': UNLIMITED})

    def make_room(self):
        """Raise the host's allocation ratios as far as the burst needs.

        They are the ratios of the compute host's resource provider in
        Placement (the initial VCPU ratio, 4.0, admits 8 servers of one vCPU on
        2 cores), raised as an operator does for a container host; what it had
        is put back at the end. nova-compute keeps a ratio set in Placement
        when its own ``*_allocation_ratio`` options are unset, as the cloud's
        are.
        """
        providers = self.placement.get('/resource_providers', params={
            'required': aio.CONTAINER_TRAIT}).json()['resource_providers']
        self.provider = providers[0]['uuid']
        path = '/resource_providers/%s' % self.provider
        found = self.placement.get(path + '/inventories').json()
        usages = self.placement.get(path + '/usages').json()['usages']
        per_server = {'VCPU': self.flavor['vcpus'],
                      'MEMORY_MB': self.flavor['ram'],
                      'DISK_GB': self.flavor['disk']}
        inventories = found['inventories']
        self.ratios = {rc: inv['allocation_ratio']
                       for rc, inv in inventories.items()}
        raised = dict(self.ratios)
        for rc, amount in per_server.items():
            inv = inventories[rc]
            needed = (usages.get(rc, 0) + self.count * amount) / float(
                inv['total'] - inv['reserved'])
            raised[rc] = max(inv['allocation_ratio'], needed)
        self.meta['allocation_ratios'] = {'before': self.ratios,
                                          'burst': raised}
        self.put_ratios(raised)

    def put_ratios(self, ratios):
        path = '/resource_providers/%s/inventories' % self.provider
        found = self.placement.get(path).json()
        for rc, ratio in ratios.items():
            found['inventories'][rc]['allocation_ratio'] = ratio
        self.placement.put(path, json=found)

    def restore_quota(self):
        if self.quota is not None:
            self.compute.put('/os-quota-sets/%s' % self.project_id,
                             json={'quota_set': self.quota})

    def engine_settings(self):
        """The options of the cloud's nova.conf that bound the burst.

        The driver's workload limits (for the raw runs) come with them.
        """
        nova_conf = os.path.join(self.cloud.dirs['nova'], 'nova.conf')
        parsed = configparser.ConfigParser(interpolation=None)
        parsed.read(nova_conf)
        defaults = parsed['DEFAULT']
        self.meta['max_concurrent_builds'] = int(defaults.get(
            'max_concurrent_builds', 10))
        self.meta['nova_conf'] = {
            section: {k: v for k, v in parsed[section].items()
                      if k not in defaults}
            for section in ('scheduler', 'conductor')
            if parsed.has_section(section)}
        zun = zun_conf.CONF.zun
        return dict(pids_limit=int(parsed.get('zun', 'pids_limit',
                                              fallback=zun.pids_limit)),
                    stop_timeout=zun.stop_timeout)

    # -- the boots ------------------------------------------------------------

    def post(self, index):
        began = time.time()
        response = self.compute.post('/servers', json={'server': {
            'name': '%s%d' % (self.prefix, index), 'imageRef': self.image_id,
            'flavorRef': self.flavor['id'], 'networks': 'none'}})
        return response.json()['server']['id'], began, time.time()

    def listed(self, status):
        began = time.monotonic()
        servers = self.compute.get('/servers', params={
            'name': '^' + self.prefix, 'status': status}).json()['servers']
        self.poll_times.append(time.monotonic() - began)
        return {s['id'] for s in servers}

    def boot_burst(self):
        self.poll_times = []
        active_at = {}
        start = time.time()
        with concurrent.futures.ThreadPoolExecutor(self.count) as pool:
            posts = [pool.submit(self.post, i) for i in range(self.count)]
            polls = 0
            while len(active_at) < self.count:
                if time.time() - start > TIMEOUT:
                    raise RuntimeError('%d of %d servers ACTIVE after %d s'
                                       % (len(active_at), self.count,
                                          TIMEOUT))
                time.sleep(POLL_INTERVAL)
                polls += 1
                now = time.time()
                for sid in self.listed('ACTIVE') - set(active_at):
                    active_at[sid] = now
                if polls % ERROR_EVERY == 0 and self.listed('ERROR'):
                    raise RuntimeError('servers in ERROR: see %s'
                                       % self.cloud.service(
                                           'nova-compute').log_path)
                # A failed POST ends the burst now.
                for done in [p for p in posts if p.done()]:
                    done.result()
            posted = [p.result() for p in posts]
        return start, posted, active_at

    def delete_all(self):
        """Delete the burst's servers; return the seconds it took.

        Those of a failed burst go too; the wait lasts until Nova lists none.
        """
        began = time.monotonic()
        ids = [s['id'] for s in self.compute.get('/servers', params={
            'name': '^' + self.prefix}).json()['servers']]
        if ids:
            with concurrent.futures.ThreadPoolExecutor(len(ids)) as pool:
                list(pool.map(lambda sid: self.compute.delete(
                    '/servers/%s' % sid, raise_exc=False), ids))
        while self.compute.get('/servers', params={
                'name': '^' + self.prefix}).json()['servers']:
            if time.monotonic() - began > TIMEOUT:
                raise RuntimeError('servers of the burst not gone after %d s'
                                   % TIMEOUT)
            time.sleep(0.5)
        return time.monotonic() - began

    # -- the figures ----------------------------------------------------------

    def measure(self):
        self.connect()
        settings = self.engine_settings()
        self.raw = raw_engine.RawEngine(
            self.cloud.engine.url, memory_mb=self.flavor['ram'],
            vcpus=self.flavor['vcpus'], **settings)
        # The demo server's boot loaded the image into the engine.
        image_ref = images.reference(self.image_id)
        self.raise_quota()
        self.make_room()
        self.meta['load_average_start'] = os.getloadavg()
        progress('%d concurrent raw runs' % self.count)
        raw_walls = [self.raw_burst(image_ref)]
        progress('%d concurrent boots through the Nova API' % self.count)
        start, posted, active_at = self.boot_burst()
        wall = max(active_at.values()) - start
        progress('deleting the %d servers' % self.count)
        delete_wall = self.delete_all()
        # Again after the boots, so that a host getting busier or quieter
        # meanwhile moves the baseline too.
        progress('%d concurrent raw runs again' % self.count)
        raw_walls.append(self.raw_burst(image_ref))
        self.meta['load_average_end'] = os.getloadavg()
        raw_wall = sum(raw_walls) / len(raw_walls)
        self.samples['raw_walls'] = raw_walls
        self.add('wall', wall, 's')
        self.add('raw_wall', raw_wall, 's')
        self.add('nova_vs_raw', wall / raw_wall, 'ratio')
        self.add('max_concurrent_builds', self.meta['max_concurrent_builds'],
                 'count')
        self.breakdown(start, posted, active_at)
        self.add('delete_wall', delete_wall, 's')

    def raw_burst(self, image_ref):
        cids, wall = self.raw.burst(image_ref, self.count)
        self.raw.remove(cids)
        return wall

    def breakdown(self, start, posted, active_at):
        """Where the burst's time went, per server.

        The phases come from the client's clock and nova-compute's log.
        """
        events = compute_log_events(
            self.cloud.service('nova-compute').log_path,
            [sid for sid, _, _ in posted])
        phases = {name: [] for name in (
            'post', 'post_to_claim', 'claim_to_spawn', 'spawn',
            'spawn_to_built', 'built_to_seen_active')}
        spawning = []
        for sid, began, answered in posted:
            seen = events[sid]
            if set(seen) != set(LOG_EVENTS):
                raise RuntimeError('nova-compute logged %s of server %s, '
                                   'not %s' % (sorted(seen), sid,
                                               sorted(LOG_EVENTS)))
            claimed = seen['claimed'][0]
            spawned, spawn_s = seen['spawned']
            built = seen['built'][0]
            spawning.append((spawned - spawn_s, spawned))
            phases['post'].append(answered - began)
            phases['post_to_claim'].append(claimed - began)
            phases['claim_to_spawn'].append(spawned - spawn_s - claimed)
            phases['spawn'].append(spawn_s)
            phases['spawn_to_built'].append(built - spawned)
            phases['built_to_seen_active'].append(active_at[sid] - built)
        for name, values in phases.items():
            self.samples[name] = values
            self.add('%s_p50' % name, stats.percentile(values, 50), 's')
            self.add('%s_max' % name, max(values), 's')
        last_built = max(e['built'][0] for e in events.values())
        self.add('all_posted', max(a for _, _, a in posted) - start, 's')
        self.add('first_spawn_start', min(s for s, _ in spawning) - start,
                 's')
        self.add('last_built', last_built - start, 's')
        self.add('most_spawns_at_once', most_at_once(spawning), 'count')
        self.add('poll_requests', len(self.poll_times), 'count')
        self.add('poll_p50', stats.percentile(self.poll_times, 50), 's')

    def cleanup(self):
        try:
            if self.compute is not None:
                self.delete_all()
        finally:
            try:
                self.restore_quota()
                if self.ratios is not None:
                    self.put_ratios(self.ratios)
            finally:
                if self.raw is not None:
                    self.raw.remove_all()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.cloud_burst')
    parser.add_argument('--count', type=int, default=30)
    parser.add_argument('--base-dir',
                        help='measure the cloud there (brought up if '
                             'needed) and leave it; default: a new one in '
                             '/tmp, removed at the end')
    args = parser.parse_args(argv)

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)
    if args.base_dir:
        base_dir = args.base_dir
        port_base = aio.port_base(base_dir, None)
    else:
        base_dir = tempfile.mkdtemp(prefix='nova-zun-bench-aio-', dir='/tmp')
        os.rmdir(base_dir)  # up starts from nothing
        port_base = aio.free_port_base()
    cloud = aio.Cloud(base_dir, port_base, out=sys.stderr)
    bench = CloudBurst(cloud, args.count)
    try:
        progress('bringing the all-in-one cloud up in %s' % base_dir)
        began = time.monotonic()
        cloud.up()
        bench.meta['cloud_up_s'] = time.monotonic() - began
        bench.meta['base_dir'] = base_dir
        try:
            bench.measure()
        finally:
            bench.cleanup()
    finally:
        if not args.base_dir:
            progress('removing the cloud')
            cloud.clean()
    json.dump({'figures': bench.figures, 'samples': bench.samples,
               'meta': bench.meta}, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
