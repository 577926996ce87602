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

"""The benchmarks, run inside Nova's in-process functional framework.

One Nova deployment (API, conductor, scheduler, placement, Glance fixture)
with two compute hosts: ``zun1`` runs ZunDriver on the benchmark's private
engine, ``fake1`` runs Nova's fake driver. Every boot names its host
(``availability_zone nova:<host>``), so both drivers see the same API,
scheduler and conductor, and their samples are taken in turn.
"""

import concurrent.futures
import cProfile
import io
import os
import re
import sys
import tarfile
import threading
import time
from unittest import mock
import urllib.parse

import fixtures
from nova.tests.functional.api import client as api_client

from benchmarks import memory
from benchmarks.stats import percentile
from nova_zun.runtime import labels
from nova_zun.runtime import rootfs
from nova_zun_workshop.functional import base
from nova_zun_workshop.functional import network_support
from nova_zun_workshop import images as test_images

ZUN_HOST = 'zun1'
FAKE_HOST = 'fake1'
FAKE_DRIVER = 'fake.MediumFakeDriver'
POLL = 0.1
TIMEOUT = 300
SETTLE = 3.0
CHUNK = 64 * 1024
PADDED_REPOSITORY = 'nova-zun-benchmark/padded'

#: Timed steps of a port's plug: {name: (module, function)}.
PLUG_STEPS = {
    'create_veth': ('nova_zun.privileged', 'create_veth'),
    'os_vif': ('os_vif', 'plug'),
    'move_into_netns': ('nova_zun.privileged', 'move_into_netns'),
}

_ID = re.compile(r'/(sha256:)?[0-9a-f]{64}|/nova-[0-9a-f-]{36}(-sandbox)?|'
                 r'/glance/[0-9a-f-]{36}')


def progress(message):
    # Nova's test fixtures may capture sys.stderr; the console stays ours.
    sys.__stderr__.write('[benchmarks] %s\n' % message)
    sys.__stderr__.flush()


def _engine_path(url):
    path = urllib.parse.urlparse(url).path
    path = re.sub(r'^/v[0-9.]+', '', path)
    return _ID.sub('/<id>', path)


def _by_name(samples):
    found = {}
    for calls in samples:
        for name, secs in calls:
            found.setdefault(name, []).append(secs)
    return found


def _covered(spans):
    """Seconds during which at least one of the spans was open.

    ``spans`` are ``(start, end)`` pairs; requests in flight together count
    once.
    """
    total, reached = 0.0, None
    for start, end in sorted(spans):
        if reached is None or start > reached:
            total += end - start
            reached = end
        elif end > reached:
            total += end - reached
            reached = end
    return total


class SpawnProbe:
    """Times ZunDriver.spawn and lists the engine requests each spawn makes.

    It optionally profiles the spawn too.
    """

    def __init__(self, driver, profile=False):
        self.times = []
        self.spans = []
        self.calls = []
        self.profiler = cProfile.Profile() if profile else None
        self._active = {}
        self._profiling = False
        original_spawn = driver.spawn
        api = driver.runtime._api
        original_send = api.send

        def spawn(*args, **kwargs):
            ident = threading.get_ident()
            self._active[ident] = []
            profiler = None
            if self.profiler is not None and not self._profiling:
                self._profiling = True
                profiler = self.profiler
                profiler.enable()
            start = time.monotonic()
            try:
                return original_spawn(*args, **kwargs)
            finally:
                self.times.append(time.monotonic() - start)
                self.spans.append((start, time.monotonic()))
                if profiler is not None:
                    profiler.disable()
                    self._profiling = False
                self.calls.append(self._active.pop(ident))

        def send(request, **kwargs):
            calls = self._active.get(threading.get_ident())
            if calls is None and len(self._active) == 1:
                # A spawn's own helper thread (the sandbox starting while
                # the workload is created): the one spawn in flight.
                calls, = self._active.values()
            if calls is None:
                return original_send(request, **kwargs)
            start = time.monotonic()
            try:
                return original_send(request, **kwargs)
            finally:
                calls.append(('%s %s' % (request.method,
                                         _engine_path(request.url)),
                              start, time.monotonic()))

        driver.spawn = spawn
        api.send = send
        # Every other driver method Nova calls while a boot is in flight.
        self.boot_calls = None
        for name, attr in vars(type(driver)).items():
            if name.startswith('_') or name == 'spawn' or not callable(attr):
                continue
            setattr(driver, name, self._timed(name, getattr(driver, name)))

    def _timed(self, name, method):
        def timed(*args, **kwargs):
            start = time.monotonic()
            try:
                return method(*args, **kwargs)
            finally:
                if self.boot_calls is not None:
                    self.boot_calls.append((name,
                                            time.monotonic() - start))
        return timed

    def reset(self):
        self.times = []
        self.spans = []
        self.calls = []


class BenchmarkCase(base.ZunDriverTestCase):
    """Runs :meth:`Benchmark.run_in_nova` as its only test."""

    def __init__(self, bench):
        super().__init__('runTest')
        self.bench = bench
        self.engine_url = bench.engine.url
        self.runtime = bench.runtime
        self.test_images = bench.test_images
        self.volume_dirs = bench.volume_dirs

    def setUp(self):
        super().setUp()
        # 30 and 50 servers on a 2-core host: overcommit CPU, and lift
        # the default quota of 10 instances.
        self.flags(cpu_allocation_ratio=128.0, ram_allocation_ratio=4.0,
                   disk_allocation_ratio=100.0)
        self.flags(instances=-1, cores=-1, ram=-1, group='quota')
        self.flags(compute_driver=FAKE_DRIVER)
        self._start_compute(FAKE_HOST)
        self.flags(compute_driver=self.compute_driver)
        self.start_zun_compute(ZUN_HOST)

    def runTest(self):
        self.bench.run_in_nova(self)


class NetworkBenchmarkCase(network_support.NetworkFixtureMixin,
                           BenchmarkCase):
    """The network figures, in a deployment of their own.

    Its Neutron binds ports to a private Open vSwitch (the network tests'
    fixtures).
    """

    def __init__(self, bench, switch):
        super().__init__(bench)
        self.switch = switch

    def runTest(self):
        self.bench.network_in_nova(self)


class Benchmark:

    def __init__(self, counts, engine, volume_dirs, runtime,
                 test_image_refs, raw, report, profile=None,
                 profile_burst=None):
        self.counts = counts
        self.engine = engine
        self.volume_dirs = volume_dirs
        self.runtime = runtime
        self.test_images = test_image_refs
        self.raw = raw
        self.report = report
        self.profile = profile
        self.profile_burst = profile_burst
        self.case = None

    # -- helpers ------------------------------------------------------------

    def _body(self, host, image, flavor, networks='none'):
        return {'server': {'name': 'bench', 'imageRef': image,
                           'flavorRef': flavor, 'networks': networks,
                           'availability_zone': 'nova:%s' % host}}

    def _events(self, event):
        return sum(1 for n in self.case.notifier.versioned_notifications
                   if n['event_type'] == event)

    def _check_not_error(self, server_ids):
        # One listing, not a GET per server: the API shares the CPU with
        # the boots.
        wanted = set(server_ids)
        for server in self.case.api.get_servers():
            if server['id'] in wanted and server['status'] == 'ERROR':
                raise RuntimeError('server %s went to ERROR: %s'
                                   % (server['id'], server.get('fault')))

    def _wait_event(self, event, count, server_ids):
        """Wait until Nova has sent ``count`` notifications ``event`` in all.

        Nova sends instance.create.end (reboot.end) right after it saved the
        instance ACTIVE: waiting for it costs the deployment no CPU, where
        polling the in-process API every few milliseconds would take CPU from
        the boots it measures. The servers are looked at once a second, for an
        ERROR.
        """
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.case.notifier.wait_for_versioned_notifications(
                    event, count, timeout=1.0)
                return
            except AssertionError:
                self._check_not_error(server_ids)
                if time.monotonic() > deadline:
                    raise RuntimeError('no %s for %s in %ss'
                                       % (event, server_ids, TIMEOUT))

    def _active(self, server_id):
        """The server as the API shows it: it must be ACTIVE."""
        server = self.case.api.get_server(server_id)
        if (server['status'] != 'ACTIVE' or
                server.get('OS-EXT-STS:task_state') is not None):
            raise RuntimeError('server %s is %s (task %s), not ACTIVE'
                               % (server_id, server['status'],
                                  server.get('OS-EXT-STS:task_state')))
        return server

    def boot(self, host, image, flavor, networks='none'):
        """POST /servers until the API shows it ACTIVE.

        Returns ``(server, seconds)``.
        """
        count = self._events('instance.create.end') + 1
        start = time.monotonic()
        server = self.case.api.post_server(self._body(host, image, flavor,
                                                      networks))
        self._wait_event('instance.create.end', count, [server['id']])
        server = self._active(server['id'])
        return server, time.monotonic() - start

    def soft_reboot(self, server_id):
        count = self._events('instance.reboot.end') + 1
        start = time.monotonic()
        self.case.api.post_server_action(server_id,
                                         {'reboot': {'type': 'SOFT'}})
        self._wait_event('instance.reboot.end', count, [server_id])
        self._active(server_id)
        return time.monotonic() - start

    def delete(self, server_ids):
        for server_id in server_ids:
            self.case.api.delete_server(server_id)
        deadline = time.monotonic() + TIMEOUT
        pending = set(server_ids)
        while pending and time.monotonic() < deadline:
            for server_id in list(pending):
                try:
                    server = self.case.api.get_server(server_id)
                except api_client.OpenStackApiNotFoundException:
                    pending.discard(server_id)
                    continue
                if server['status'] == 'ERROR':
                    raise RuntimeError('delete of %s failed: %s'
                                       % (server_id, server.get('fault')))
            if pending:
                time.sleep(POLL)
        if pending:
            raise RuntimeError('servers not deleted in %ss: %s'
                               % (TIMEOUT, sorted(pending)))

    def burst(self, host, image, flavor, count):
        """``count`` concurrent POST /servers; return (ids, wall s)."""
        expected = self._events('instance.create.end') + count
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            servers = list(pool.map(
                lambda _: self.case.api.post_server(
                    self._body(host, image, flavor)), range(count)))
        self.last_burst = {'start': start, 'posted': time.monotonic()}
        ids = [s['id'] for s in servers]
        self._wait_event('instance.create.end', expected, ids)
        wall = time.monotonic() - start
        # Then one listing says they are all ACTIVE.
        states = {s['id']: (s['status'], s.get('OS-EXT-STS:task_state'))
                  for s in self.case.api.get_servers()}
        wrong = {i: states.get(i) for i in ids
                 if states.get(i) != ('ACTIVE', None)}
        if wrong:
            raise RuntimeError('servers not ACTIVE after the burst: %s'
                               % wrong)
        return ids, wall

    # -- the run ------------------------------------------------------------

    def run_in_nova(self, case):
        self.case = case
        counts = self.counts
        self.flavor = case.container_flavor(vcpu=1, memory_mb=64, disk=1)
        self.image = case.glance_image_from('sleeper')
        self.image_ref = 'glance/%s:latest' % self.image
        self.probe = SpawnProbe(case.driver(ZUN_HOST),
                                profile=bool(self.profile))
        self.sequential(counts['boots'])
        self.reboot(counts['reboots'])
        self.burst_and_density(counts['burst'], counts['density'])
        self.glance(counts['glance_trials'], counts['glance_mb'])

    def sequential(self, count):
        """Figures 1 and 2, from samples taken in turn.

        Figure 1 is spawn vs raw create+start; figure 2 is boot to ACTIVE with
        ZunDriver vs the fake driver.
        """
        progress('sequential boots: 1 warm-up + %d of each' % count)
        boots = {'zun': [], 'fake': []}
        raw_runs, raw_pods, raw_pods_overlap, boot_calls = [], [], [], []
        raw_pods_warm = []
        sandbox_image = None
        for i in range(count + 1):
            for host, key in ((FAKE_HOST, 'fake'), (ZUN_HOST, 'zun')):
                if key == 'zun':
                    self.probe.boot_calls = []
                server, secs = self.boot(host, self.image, self.flavor)
                if key == 'zun':
                    boot_calls.append(self.probe.boot_calls)
                    self.probe.boot_calls = None
                self.delete([server['id']])
                boots[key].append(secs)
            if sandbox_image is None:
                sandbox_image = self.runtime.list_images(
                    {labels.IMAGE_KIND: labels.IMAGE_KIND_SANDBOX})[0].id
            cid, secs = self.raw.run(self.image_ref)
            self.raw.remove([cid])
            raw_runs.append(secs)
            cids, secs = self.raw.run_pod(self.image_ref, sandbox_image)
            self.raw.remove(cids)
            raw_pods.append(secs)
            cids, secs = self.raw.run_pod(self.image_ref, sandbox_image,
                                          overlap=True)
            self.raw.remove(cids)
            raw_pods_overlap.append(secs)
            cids, secs = self.raw.run_pod(self.image_ref, sandbox_image,
                                          warm=True)
            self.raw.remove(cids)
            raw_pods_warm.append(secs)
            if i == 0:
                # The warm-up loaded the image and built the sandbox image.
                for samples in (boots['zun'], boots['fake'], raw_runs,
                                raw_pods, raw_pods_overlap, raw_pods_warm,
                                boot_calls):
                    samples.clear()
                self.probe.reset()
                if self.probe.profiler is not None:
                    self.probe.profiler = cProfile.Profile()
        spawns = self.probe.times
        self.report.keep('spawn/driver', spawns)
        self.report.keep('spawn/raw_run', raw_runs)
        self.report.keep('spawn/raw_pod', raw_pods)
        self.report.keep('spawn/raw_pod_overlap', raw_pods_overlap)
        self.report.keep('spawn/raw_pod_warm', raw_pods_warm)
        self.report.keep('boot/zun', boots['zun'])
        self.report.keep('boot/fake', boots['fake'])
        self.report.compare('spawn/raw', spawns, raw_runs,
                            ('driver', 'raw_run'))
        # A pod is two containers: the same two made with the SDK.
        for pct in (50, 95):
            self.report.ratio('spawn/raw_pod_p%d' % pct,
                              percentile(spawns, pct),
                              percentile(raw_pods, pct))
        self.report.add('spawn/raw_pod_run_p50', percentile(raw_pods, 50),
                        's')
        # What creating the workload during the sandbox's start would
        # save, and the ratio a spawn could at best reach that way.
        self.report.add('spawn/raw_pod_overlap_run_p50',
                        percentile(raw_pods_overlap, 50), 's')
        self.report.ratio('spawn/raw_pod_overlap_vs_raw_p50',
                          percentile(raw_pods_overlap, 50),
                          percentile(raw_runs, 50))
        # A workload joining a sandbox started beforehand: the floor of a
        # spawn from a pool of warm sandboxes (README: why there is none).
        self.report.add('spawn/raw_pod_warm_run_p50',
                        percentile(raw_pods_warm, 50), 's')
        self.report.ratio('spawn/raw_pod_warm_vs_raw_p50',
                          percentile(raw_pods_warm, 50),
                          percentile(raw_runs, 50))
        self.report_engine_requests()
        self.report.meta['boot_driver_calls'] = [
            {'call': name, 'p50_s': percentile(secs, 50),
             'per_boot': len(secs) / float(len(boot_calls))}
            for name, secs in sorted(_by_name(boot_calls).items())]
        self.report.compare('boot/zun_vs_fake', boots['zun'],
                            boots['fake'], ('zun', 'fake'))
        self.report.add('boot/zun_minus_fake_p50',
                        percentile(boots['zun'], 50) -
                        percentile(boots['fake'], 50), 's')
        if self.probe.profiler is not None:
            self.probe.profiler.dump_stats(self.profile)
            self.probe.profiler = None
            progress('spawn profile written to %s' % self.profile)

    def report_engine_requests(self):
        """What each spawn asked the engine, and its wait for the answers.

        The wait is how much of the spawn was spent waiting for the engine's
        answers.
        """
        calls = self.probe.calls
        self.report.add('spawn/engine_requests', len(calls[-1]), 'count')
        waited = [_covered([(start, end) for _, start, end in spawn])
                  for spawn in calls]
        self.report.ratio('spawn/engine_wait_share_p50',
                          percentile(waited, 50),
                          percentile(self.probe.times, 50))
        self.report.add('spawn/outside_engine_p50', percentile(
            [t - w for t, w in zip(self.probe.times, waited)], 50), 's')
        by_request = {}
        for spawn in calls:
            for position, (name, start, end) in enumerate(spawn):
                by_request.setdefault((position, name), []).append(
                    end - start)
        self.report.meta['spawn_engine_requests'] = [
            {'request': name, 'p50_s': percentile(secs, 50)}
            for (_, name), secs in sorted(by_request.items())]

    def reboot(self, count):
        """Figure 4: soft reboot through Nova vs the engine's restart."""
        progress('soft reboots: %d through Nova, %d raw' % (count, count))
        server, _ = self.boot(ZUN_HOST, self.image, self.flavor)
        cid, _ = self.raw.run(self.image_ref)
        nova_times, raw_times = [], []
        self.probe.boot_calls = []
        try:
            for _ in range(count):
                nova_times.append(self.soft_reboot(server['id']))
                raw_times.append(self.raw.restart(cid))
        finally:
            calls = self.probe.boot_calls
            self.probe.boot_calls = None
            self.raw.remove([cid])
            self.delete([server['id']])
        self.report.keep('reboot/nova', nova_times)
        self.report.keep('reboot/raw', raw_times)
        # The driver's share of a reboot through Nova (the rest is Nova's
        # API, RPC and database work around it).
        self.report.add('reboot/driver_p50', percentile(
            [secs for name, secs in calls if name == 'reboot'], 50), 's')
        self.report.compare('reboot/nova_vs_raw', nova_times, raw_times,
                            ('nova', 'raw'))

    def _pods(self, server_ids):
        pods = []
        for server_id in server_ids:
            pods.append([
                self.runtime.status('nova-%s-sandbox' % server_id).id,
                self.runtime.status('nova-%s' % server_id).id])
        return pods

    def _engine_pids(self):
        return [pid for pid, cmd in self.engine.processes().items()
                if cmd.startswith(('dockerd', 'containerd '))]

    def burst_and_density(self, count, density):
        """Figures 3 (concurrent boots vs raw runs) and 6 (memory per server).

        Figure 3 sets concurrent boots against concurrent raw runs; figure 6
        sets the memory per idle server against that per bare container.
        """
        mib = float(memory.MIB)
        engine_before = memory.engine_usage(self._engine_pids())
        progress('burst: %d concurrent boots through Nova' % count)
        self.probe.boot_calls = []
        spawns_before = len(self.probe.times)
        profiler = cProfile.Profile() if self.profile_burst else None
        if profiler is not None:
            profiler.enable()
        ids, nova_wall = self.burst(ZUN_HOST, self.image, self.flavor, count)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(self.profile_burst)
            progress('burst profile written to %s' % self.profile_burst)
        burst_spawns = self.probe.times[spawns_before:]
        spans = self.probe.spans[spawns_before:]
        t0 = self.last_burst['start']
        self.report.meta['burst_timeline_s'] = {
            'all_posted': self.last_burst['posted'] - t0,
            'first_spawn_start': min(a for a, _ in spans) - t0,
            'last_spawn_start': max(a for a, _ in spans) - t0,
            'last_spawn_end': max(b for _, b in spans) - t0,
            'all_active': nova_wall}
        self.report.meta['burst_driver_calls'] = [
            {'call': name, 'count': len(secs), 'p50_s': percentile(secs, 50),
             'max_s': max(secs), 'total_s': sum(secs)}
            for name, secs in sorted(
                _by_name([self.probe.boot_calls]).items())] + [
            {'call': 'spawn', 'count': len(burst_spawns),
             'p50_s': percentile(burst_spawns, 50), 'max_s': max(burst_spawns),
             'total_s': sum(burst_spawns)}]
        self.probe.boot_calls = None
        try:
            more = max(0, density - count)
            if more:
                progress('density: %d more servers' % more)
                ids += self.burst(ZUN_HOST, self.image, self.flavor,
                                  more)[0]
            time.sleep(SETTLE)
            servers = memory.measure(self._pods(ids))
            engine_servers = memory.engine_usage(self._engine_pids())
        finally:
            progress('deleting %d servers' % len(ids))
            self.delete(ids)
        progress('burst: %d concurrent boots on the fake driver' % count)
        fake_ids, fake_wall = self.burst(FAKE_HOST, self.image, self.flavor,
                                         count)
        self.delete(fake_ids)
        progress('burst: %d concurrent raw runs' % count)
        cids, raw_wall = self.raw.burst(self.image_ref, count)
        try:
            more = max(0, density - count)
            if more:
                cids += self.raw.burst(self.image_ref, more)[0]
            time.sleep(SETTLE)
            bare = memory.measure([[cid] for cid in cids])
            engine_bare = memory.engine_usage(self._engine_pids())
        finally:
            self.raw.remove(cids)
        self.report.add('burst/nova_wall', nova_wall, 's')
        self.report.add('burst/raw_wall', raw_wall, 's')
        self.report.add('burst/fake_wall', fake_wall, 's')
        self.report.ratio('burst/nova_vs_raw', nova_wall, raw_wall)
        # Nova's own share: the same burst with a driver that does nothing.
        self.report.ratio('burst/nova_vs_fake', nova_wall, fake_wall)

        def mean(groups, key):
            return sum(g[key] for g in groups) / len(groups) / mib

        n = len(servers)
        self.report.meta['density_servers'] = n
        for key in ('pss', 'rss'):
            per_server = mean(servers, key)
            per_bare = mean(bare, key)
            self.report.add('density/server_%s' % key, per_server, 'MiB')
            self.report.add('density/bare_%s' % key, per_bare, 'MiB')
            self.report.add('density/two_bare_%s' % key, 2 * per_bare,
                            'MiB')
            self.report.ratio('density/server_vs_bare_%s' % key,
                              per_server, per_bare)
            self.report.ratio('density/server_vs_two_bare_%s' % key,
                              per_server, 2 * per_bare)
        # What the engine daemons grew by, per container set (Go heaps
        # move: an indication, not a measurement of the pods).
        self.report.add('density/engine_growth_per_server_rss',
                        (engine_servers[0] - engine_before[0]) / n / mib,
                        'MiB')
        self.report.add('density/engine_growth_per_bare_rss',
                        (engine_bare[0] - engine_before[0]) / n / mib,
                        'MiB')
        self.report.keep('density/server_pss_mib',
                         [g['pss'] / mib for g in servers])
        self.report.keep('density/bare_pss_mib',
                         [g['pss'] / mib for g in bare])

    def _padded_image(self, size_mb):
        """A Glance image of a busybox image padded by ``size_mb``.

        The image is a ``docker save`` archive with ``size_mb`` of
        incompressible padding, not in the engine.
        """
        base_tar = tarfile.open(fileobj=io.BytesIO(rootfs.busybox_rootfs(
            '/bin/busybox', test_images.APPLETS)))
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode='w') as tar:
            for member in base_tar:
                tar.addfile(member, base_tar.extractfile(member)
                            if member.isfile() else None)
            padding = os.urandom(size_mb * memory.MIB)
            info = tarfile.TarInfo('padding.bin')
            info.size = len(padding)
            tar.addfile(info, io.BytesIO(padding))
        reference = '%s:%d' % (PADDED_REPOSITORY, size_mb)
        image_id = self.runtime.import_rootfs(
            out.getvalue(), reference,
            command=test_images.COMMANDS['sleeper'],
            labels={labels.IMAGE_KIND: test_images.IMAGE_KIND_TEST})
        archive = b''.join(self.runtime.save_image(image_id))
        self.runtime.remove_image(image_id, force=True)
        return self.case.glance_image_with(archive), len(archive)

    def glance(self, trials, size_mb):
        """Figure 5: first boot of an image not in the engine.

        The first boot is compared with a Glance download plus an engine load
        done directly; a second boot of the image must download nothing.
        """
        progress('first boot from Glance: %d trial(s), %d MiB image'
                 % (trials, size_mb))
        glance_id, size = self._padded_image(size_mb)
        glance_api = self.case.glance
        direct, first, second, downloads = [], [], [], []
        for _ in range(trials):
            start = time.monotonic()
            buf = io.BytesIO()
            glance_api.download(self.case.ctxt, glance_id, data=buf)
            buf.seek(0)
            # In chunks, as the driver sends it: one 64 MiB bytes body
            # is sent very slowly through eventlet's green socket.
            loaded = self.raw.load(iter(lambda: buf.read(CHUNK), b''))
            direct.append(time.monotonic() - start)
            for ref in loaded:
                self.raw.api.remove_image(ref, force=True)
            with mock.patch.object(glance_api, 'download',
                                   wraps=glance_api.download) as download:
                one, secs = self.boot(ZUN_HOST, glance_id, self.flavor)
                first.append(secs)
                first_calls = self.probe.calls[-1]
                before = download.call_count
                two, secs = self.boot(ZUN_HOST, glance_id, self.flavor)
                second.append(secs)
                downloads.append(download.call_count - before)
            self.delete([one['id'], two['id']])
            self.raw.api.remove_image('glance/%s:latest' % glance_id,
                                      force=True)
        self.report.meta['glance_image_bytes'] = size
        # From the spawn's thread (the load itself runs in another).
        self.report.meta['glance_first_boot_engine_requests'] = [
            {'request': name, 's': end - start}
            for name, start, end in first_calls]
        self.report.keep('glance/direct', direct)
        self.report.keep('glance/first_boot', first)
        self.report.keep('glance/second_boot', second)
        d50 = percentile(direct, 50)
        self.report.add('glance/direct_p50', d50, 's')
        self.report.add('glance/first_boot_p50', percentile(first, 50), 's')
        self.report.add('glance/second_boot_p50', percentile(second, 50),
                        's')
        self.report.ratio('glance/first_boot_vs_direct_p50',
                          percentile(first, 50), d50)
        self.report.ratio('glance/load_in_boot_vs_direct_p50',
                          percentile(first, 50) - percentile(second, 50),
                          d50)
        self.report.add('glance/second_boot_downloads', max(downloads),
                        'count')

    def network_in_nova(self, case):
        """Spawns with one OVS port (os-vif) vs without, in turn."""
        count = self.counts['net_boots']
        progress('network: 1 warm-up + %d boots with one port and without'
                 % count)
        self.case = case
        flavor = case.container_flavor(vcpu=1, memory_mb=64, disk=1)
        image = case.glance_image_from('sleeper')
        driver = case.driver(ZUN_HOST)
        probe = SpawnProbe(driver)
        plugs, plugs_and_waits, dns_writes = [], [], []

        def timed(method, samples):
            def call(*args, **kwargs):
                start = time.monotonic()
                try:
                    return method(*args, **kwargs)
                finally:
                    samples.append(time.monotonic() - start)
            return call
        pods = driver._pods
        pods.plug = timed(pods.plug, plugs)
        driver._plug_and_wait = timed(driver._plug_and_wait, plugs_and_waits)
        pods.write_dns = timed(pods.write_dns, dns_writes)
        # The steps of a port's plug (nova_zun.network.VIFPlugger.plug).
        steps = {name: [] for name in PLUG_STEPS}
        for name, (module, attr) in PLUG_STEPS.items():
            case.useFixture(fixtures.MonkeyPatch(
                '%s.%s' % (module, attr),
                timed(getattr(sys.modules[module], attr), steps[name])))
        one_port = [{'uuid': case.neutron.net_a['id']}]
        spawns = {'none': [], 'port': []}
        boots = {'none': [], 'port': []}
        waits = []
        for i in range(count + 1):
            for key, networks in (('none', 'none'), ('port', one_port)):
                del plugs_and_waits[:]
                server, secs = self.boot(ZUN_HOST, image, flavor,
                                         networks=networks)
                self.delete([server['id']])
                boots[key].append(secs)
                spawns[key].append(probe.times[-1])
                if key == 'port':
                    waits.append(plugs_and_waits[-1] - plugs[-1])
            if i == 0:
                for samples in (list(spawns.values()) +
                                list(boots.values()) +
                                [plugs, waits, dns_writes] +
                                list(steps.values())):
                    del samples[:]
        self.report.keep('network/spawn_none', spawns['none'])
        self.report.keep('network/spawn_one_port', spawns['port'])
        self.report.keep('network/plug', plugs)
        self.report.compare('network/spawn_one_port_vs_none', spawns['port'],
                            spawns['none'], ('spawn_one_port', 'spawn_none'))
        self.report.ratio('network/boot_one_port_vs_none_p50',
                          percentile(boots['port'], 50),
                          percentile(boots['none'], 50))
        self.report.add('network/plug_one_port_p50', percentile(plugs, 50),
                        's')
        for name, samples in steps.items():
            self.report.add('network/plug_%s_p50' % name,
                            percentile(samples, 50), 's')
        self.report.add('network/dns_write_p50', percentile(dns_writes, 50),
                        's')
        self.report.add('network/vif_event_wait_p50', percentile(waits, 50),
                        's')
