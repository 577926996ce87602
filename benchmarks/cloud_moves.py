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

"""Resize and cold migration on the all-in-one cloud of two compute hosts
(``tools/cloud up --computes 2``) vs doing the same by hand on the engines:

* a resize of a running server on its own host, confirmed (Nova API: POST
  ``resize`` to VERIFY_RESIZE, POST ``confirmResize`` to ACTIVE), vs
  ``docker update`` of the same CPU quota and memory limits of a plain
  container of the same image in the same engine;
* a cold migration of a server whose container has ``--written-mb`` MiB
  written (``migrate`` with the other host named, to VERIFY_RESIZE, then
  confirmed, to ACTIVE), vs ``docker commit`` of a plain container with as
  much written plus ``docker save`` from the first host's engine streamed
  into ``docker load`` of the second's.

Samples are taken in turn (one by hand, one through Nova), so a host that
gets busier slows both. ``python -m benchmarks.cloud_moves`` brings a
cloud of two hosts up in a new directory under ``/tmp`` and removes it at
the end (also on SIGTERM); ``--base-dir DIR`` uses the cloud there (of two
hosts or more, brought up if needed) and leaves it running, as it found
it. One line per figure on stdout (``name value unit``), progress on
stderr; ``--json FILE`` writes the figures, samples and metadata.
"""

import argparse
import os
import signal
import sys
import tempfile
import time
import uuid

import docker
from keystoneauth1 import adapter

from benchmarks import stats
from nova_zun import images
from nova_zun_workshop.allinone import cloud as aio

LABEL = 'org.openstack.nova-zun.benchmark'
CPU_PERIOD_US = 100000
# The bigger flavor of the resizes (the small one is the cloud's).
BIG_FLAVOR = 'c1.bench-big'
BIG = {'vcpus': 2, 'ram': 512, 'disk': 1}
# Where the written data goes in the containers.
WRITTEN = '/written-by-the-benchmark'
POLL_INTERVAL = 0.25
TIMEOUT = 600
FULL = {'resizes': 6, 'migrations': 4, 'written_mb': 100}
QUICK = {'resizes': 2, 'migrations': 2, 'written_mb': 10}


def progress(message):
    sys.stderr.write('[benchmarks] cloud moves: %s\n' % message)
    sys.stderr.flush()


class CloudMoves:

    def __init__(self, cloud, resizes, migrations, written_mb):
        self.cloud = cloud
        self.resizes = resizes
        self.migrations = migrations
        self.written_mb = written_mb
        self.report = stats.Report()
        self.report.meta.update(resizes=resizes, migrations=migrations,
                                written_mb=written_mb)
        self.name = 'bench-moves-%s' % uuid.uuid4().hex[:8]
        self.server = None
        self.disabled = []
        self.made_flavor = None
        self.engines = {}

    # -- setup ----------------------------------------------------------------

    def connect(self):
        creds = self.cloud.credentials()
        session = self.cloud.keystone.admin_session()
        self.compute = adapter.Adapter(
            session, service_type='compute',
            region_name=creds['OS_REGION_NAME'],
            default_microversion=aio.COMPUTE_API_VERSION)
        glance = adapter.Adapter(session, service_type='image',
                                 region_name=creds['OS_REGION_NAME'])
        self.image_id = glance.get('/v2/images', params={
            'name': aio.IMAGE}).json()['images'][0]['id']
        flavors = {f['name']: f for f in self.compute.get(
            '/flavors/detail').json()['flavors']}
        self.small = flavors[aio.FLAVOR]
        self.big = flavors.get(BIG_FLAVOR) or self.make_flavor()
        self.hosts = [c.host for c in self.cloud.computes[:2]]
        for compute in self.cloud.computes[:2]:
            self.engines[compute.host] = docker.APIClient(
                base_url=compute.engine.url, version='auto', timeout=300)

    def make_flavor(self):
        flavor = self.compute.post('/flavors', json={'flavor': dict(
            BIG, name=BIG_FLAVOR)}).json()['flavor']
        self.made_flavor = flavor['id']
        self.compute.post('/flavors/%s/os-extra_specs' % flavor['id'],
                          json={'extra_specs': {
                              'trait:%s' % aio.CONTAINER_TRAIT: 'required'}})
        return flavor

    # -- Nova -----------------------------------------------------------------

    def status(self):
        server = self.compute.get('/servers/%s' % self.server).json()[
            'server']
        return server['status'], server['OS-EXT-SRV-ATTR:host']

    def wait(self, wanted):
        deadline = time.monotonic() + TIMEOUT
        while True:
            status, host = self.status()
            if status == wanted:
                return host
            if status == 'ERROR' or time.monotonic() > deadline:
                raise RuntimeError('server %s is %s, not %s: see the '
                                   'nova-compute logs in %s' % (
                                       self.server, status, wanted,
                                       self.cloud.log_dir))
            time.sleep(POLL_INTERVAL)

    def action(self, body, microversion=None):
        kwargs = {'microversion': microversion} if microversion else {}
        self.compute.post('/servers/%s/action' % self.server, json=body,
                          **kwargs)

    def boot(self, host):
        self.server = self.compute.post('/servers', json={'server': {
            'name': self.name, 'imageRef': self.image_id,
            'flavorRef': self.small['id'], 'networks': 'none',
            'host': host}}, microversion='2.74').json()['server']['id']
        self.wait('ACTIVE')

    def set_service(self, host, status):
        services = self.compute.get('/os-services', params={
            'binary': 'nova-compute', 'host': host},
            microversion='2.53').json()['services']
        self.compute.put('/os-services/%s' % services[0]['id'],
                         json={'status': status}, microversion='2.53')

    def resize(self, flavor):
        """Resize to ``flavor`` and confirm; return the seconds."""
        began = time.monotonic()
        self.action({'resize': {'flavorRef': flavor['id']}})
        self.wait('VERIFY_RESIZE')
        self.action({'confirmResize': None})
        host = self.wait('ACTIVE')
        return time.monotonic() - began, host

    def migrate(self, host):
        """Cold migrate to ``host`` and confirm; return the seconds."""
        began = time.monotonic()
        self.action({'migrate': {'host': host}}, microversion='2.56')
        self.wait('VERIFY_RESIZE')
        self.action({'confirmResize': None})
        landed = self.wait('ACTIVE')
        seconds = time.monotonic() - began
        if landed != host:
            raise RuntimeError('migrated to %s, not %s' % (landed, host))
        return seconds

    def workload(self):
        return 'nova-%s' % self.server

    # -- the engines ----------------------------------------------------------

    def write(self, engine, container):
        """Write ``written_mb`` MiB of random data into ``container``."""
        run = engine.exec_create(container, [
            'dd', 'if=/dev/urandom', 'of=' + WRITTEN, 'bs=1M',
            'count=%d' % self.written_mb])
        engine.exec_start(run)
        if engine.exec_inspect(run['Id'])['ExitCode']:
            raise RuntimeError('dd in %s failed' % container)

    def plain_container(self, engine, flavor):
        """A running container of the image, with ``flavor``'s limits."""
        cid = engine.create_container(
            images.reference(self.image_id), labels={LABEL: 'moves'},
            host_config=engine.create_host_config(
                network_mode='none', **self.limits(flavor)))['Id']
        engine.start(cid)
        return cid

    @staticmethod
    def limits(flavor):
        memory = '%dm' % flavor['ram']
        return {'mem_limit': memory, 'memswap_limit': memory,
                'cpu_period': CPU_PERIOD_US,
                'cpu_quota': flavor['vcpus'] * CPU_PERIOD_US}

    def docker_update(self, engine, cid, flavor):
        limits = self.limits(flavor)
        began = time.monotonic()
        engine.update_container(cid, mem_limit=limits['mem_limit'],
                                memswap_limit=limits['memswap_limit'],
                                cpu_quota=limits['cpu_quota'])
        return time.monotonic() - began

    def commit_save_load(self, source, cid, destination):
        """``docker commit``, then ``save`` streamed into ``load``."""
        began = time.monotonic()
        image = source.commit(cid)['Id']
        loaded = destination.load_image(source.get_image(image),
                                        quiet=False)
        for _ in loaded:
            pass
        seconds = time.monotonic() - began
        for engine in (destination, source):
            engine.remove_image(image, force=True)
        return seconds

    # -- the figures ----------------------------------------------------------

    def measure(self):
        self.connect()
        first, second = self.hosts
        meta = self.report.meta
        meta['load_average_start'] = os.getloadavg()
        meta['hosts'] = self.hosts
        engine = self.engines[second]
        # Same host: the other one disabled while the server resizes.
        progress('server %s on %s' % (self.name, second))
        self.boot(second)
        plain = self.plain_container(engine, self.small)
        self.set_service(first, 'disabled')
        self.disabled.append(first)
        nova, by_hand = [], []
        flavors = [self.big, self.small]
        for trial in range(self.resizes):
            flavor = flavors[trial % 2]
            progress('resize %d of %d to %s' % (trial + 1, self.resizes,
                                                flavor['name']))
            by_hand.append(self.docker_update(engine, plain, flavor))
            seconds, host = self.resize(flavor)
            if host != second:
                raise RuntimeError('resized to %s, not on %s' % (host,
                                                                 second))
            nova.append(seconds)
        self.set_service(first, 'enabled')
        self.disabled.remove(first)
        self.report.compare('moves/resize_same_host_vs_docker_update',
                            nova, by_hand,
                            ('resize_same_host', 'docker_update'))
        self.report.keep('moves/resize_same_host', nova)
        self.report.keep('moves/docker_update', by_hand)
        # Cold migrations, the server's files written first, one way and
        # back; by hand always from the first host's engine to the
        # second's.
        progress('%d MiB written in the server and a plain container' %
                 self.written_mb)
        self.write(engine, self.workload())
        source = self.engines[first]
        plain = self.plain_container(source, self.small)
        self.write(source, plain)
        nova, by_hand = [], []
        for trial in range(self.migrations):
            to = self.hosts[trial % 2]
            progress('migration %d of %d to %s' % (trial + 1,
                                                   self.migrations, to))
            by_hand.append(self.commit_save_load(source, plain,
                                                 self.engines[second]))
            nova.append(self.migrate(to))
        self.report.compare('moves/cold_migration_vs_commit_save_load',
                            nova, by_hand,
                            ('cold_migration', 'commit_save_load'))
        self.report.keep('moves/cold_migration', nova)
        self.report.keep('moves/commit_save_load', by_hand)
        self.report.add('moves/written', self.written_mb, 'MiB')
        meta['load_average_end'] = os.getloadavg()

    def cleanup(self):
        for host in list(self.disabled):
            self.set_service(host, 'enabled')
        if self.server:
            self.compute.delete('/servers/%s' % self.server,
                                raise_exc=False)
            deadline = time.monotonic() + TIMEOUT
            while self.compute.get('/servers/%s' % self.server,
                                   raise_exc=False).ok:
                if time.monotonic() > deadline:
                    raise RuntimeError('server %s not gone' % self.server)
                time.sleep(0.5)
        if self.made_flavor:
            self.compute.delete('/flavors/%s' % self.made_flavor)
        for engine in self.engines.values():
            for container in engine.containers(
                    all=True, filters={'label': [LABEL + '=moves']}):
                engine.remove_container(container['Id'], force=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.cloud_moves')
    parser.add_argument('--quick', action='store_true',
                        help='%(resizes)d resizes, %(migrations)d '
                             'migrations, %(written_mb)d MiB written'
                        % QUICK)
    parser.add_argument('--resizes', type=int)
    parser.add_argument('--migrations', type=int)
    parser.add_argument('--written-mb', type=int)
    parser.add_argument('--base-dir',
                        help='measure the cloud there (brought up with two '
                             'compute hosts if needed) and leave it; '
                             'default: a new one in /tmp, removed at the end')
    parser.add_argument('--json', help='write figures, samples and metadata')
    args = parser.parse_args(argv)
    counts = dict(QUICK if args.quick else FULL)
    for key in counts:
        if getattr(args, key) is not None:
            counts[key] = getattr(args, key)

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, terminate)
    if args.base_dir:
        base_dir = args.base_dir
        port_base = aio.port_base(base_dir, None)
        computes = aio.kept(base_dir, 'computes', None, 2, int)
        isolation = aio.kept(base_dir, 'tenant-isolation', None, 'off')
    else:
        base_dir = tempfile.mkdtemp(prefix='nova-zun-bench-moves-',
                                    dir='/tmp')
        os.rmdir(base_dir)  # up starts from nothing
        port_base = aio.free_port_base(computes=2)
        computes = 2
        isolation = 'off'
    if computes < 2:
        parser.error('%s has one compute host: moves need two' % base_dir)
    cloud = aio.Cloud(base_dir, port_base, computes=computes,
                      tenant_isolation=isolation, out=sys.stderr)
    bench = CloudMoves(cloud, **counts)
    try:
        progress('the all-in-one cloud of %d hosts in %s' % (
            computes, base_dir))
        cloud.up()
        try:
            bench.measure()
        finally:
            bench.cleanup()
    finally:
        if not args.base_dir:
            progress('removing the cloud')
            cloud.clean()
    for line in bench.report.lines():
        print(line)
    if args.json:
        with open(args.json, 'w') as f:
            f.write(bench.report.to_json())
    return 0


if __name__ == '__main__':
    sys.exit(main())
