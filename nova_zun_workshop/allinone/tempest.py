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

"""Tempest's compute API tests against a running all-in-one cloud.

``tools/tempest`` installs PyPI's ``tempest`` (pinned) in a virtualenv of
its own, makes a ``tempest init`` workspace in the cloud's base directory,
writes its ``tempest.conf`` from what the cloud has (catalog, image,
flavors, microversions, compute hosts, networking) and what the driver
supports (doc/driver.rst), runs the tests of ``tools/tempest-tests.txt``
and prints each test's result and every skip's reason. doc/tempest.rst
describes it.
"""

import argparse
import configparser
import functools
import json
import os
import re
import subprocess
import sys
import time

from nova_zun_workshop.allinone import cloud as cloud_tool
from nova_zun_workshop.allinone import configs
from nova_zun_workshop import keystone as keystone_tool

TEMPEST_VERSION = '47.0.0'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TEST_LIST = os.path.join(ROOT, 'tools', 'tempest-tests.txt')
# What needs two compute hosts and more (resize, migrations, diagnostics,
# rescue): tools/tempest --tests tools/tempest-moves.txt.
MOVES_LIST = os.path.join(ROOT, 'tools', 'tempest-moves.txt')
# Resize tests go from flavor_ref to flavor_ref_alt: a bigger container
# flavor, made when missing.
ALT_FLAVOR = 'c1.medium'
# Agents that bind ports to what a server's pod plugs (os-vif's OVS ports).
BINDING_AGENTS = ('ovn-controller', 'neutron-openvswitch-agent')
# Tempest's options that choose the tests: with one, the list is not used.
SELECTION_OPTIONS = ('--regex', '-r', '--include-list', '-w',
                     '--exclude-list', '-b', '--exclude-regex', '--smoke',
                     '-s', '--load-list', '--list-tests', '-l')

# Reads subunit v2 from stdin in Tempest's virtualenv; one JSON line a test.
_SUBUNIT_TO_JSON = r'''
import json, sys
import subunit, testtools

def emit(test):
    details = {name: content.as_text()
               for name, content in test['details'].items()}
    start, end = (test['timestamps'] + [None, None])[:2]
    print(json.dumps({
        'id': test['id'], 'status': test['status'],
        'seconds': (end - start).total_seconds() if start and end else 0,
        'reason': details.get('reason', ''),
        'traceback': details.get('traceback', '')}))

stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer,
                                          non_subunit_name='stdout')
result = testtools.StreamToDict(emit)
result.startTestRun()
stream.run(result)
result.stopTestRun()
'''


class TempestError(Exception):
    pass


def default_venv():
    cache = os.environ.get('XDG_CACHE_HOME',
                           os.path.expanduser('~/.cache'))
    return os.path.join(cache, 'nova-zun', 'tempest-' + TEMPEST_VERSION)


def ensure_venv(venv, out=sys.stdout, requirements=None):
    """``requirements`` (Tempest ``TEMPEST_VERSION`` by default) in ``venv``.

    Their dependencies are pinned by this tree's constraints.txt; a
    virtualenv that has them already is kept (it outlives clouds).
    """
    requirements = requirements or ['tempest==' + TEMPEST_VERSION]
    marker = os.path.join(venv, 'nova-zun-' + '+'.join(
        r.replace('==', '-') for r in requirements))
    if os.path.exists(marker):
        return
    print('installing %s in %s' % (' '.join(requirements), venv),
          file=out, flush=True)
    subprocess.run([sys.executable, '-m', 'venv', '--clear', venv],
                   check=True)
    result = subprocess.run(
        [os.path.join(venv, 'bin', 'pip'), 'install', '-q',
         '--disable-pip-version-check', '-c',
         os.path.join(ROOT, 'constraints.txt')] + list(requirements),
        capture_output=True, text=True)
    if result.returncode:
        raise TempestError('pip install %s failed:\n%s%s' % (
            ' '.join(requirements), result.stdout[-3000:],
            result.stderr[-3000:]))
    open(marker, 'w').close()


def read_tagged_tests(path):
    """The included and excluded regexes of a test list, and tagged ones.

    One regex a line, ``-`` before an excluded one, ``<tag>:`` before one
    that runs only where the tag's condition holds (``network:``: a cloud
    whose ports are bound); ``#`` starts a comment. Returns ``(include,
    exclude, {tag: [regex, ...]})``.
    """
    include, exclude, tagged = [], [], {}
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            tag = re.match(r'([a-z][a-z0-9.-]*):\s', line)
            if line.startswith('-'):
                exclude.append(line[1:].strip())
            elif tag:
                tagged.setdefault(tag.group(1), []).append(
                    line[tag.end():].strip())
            elif line:
                include.append(line)
    return include, exclude, tagged


def read_tests(path=TEST_LIST):
    """The included, the excluded and the network regexes of a test list.

    One regex a line, ``-`` before an excluded one, ``network:`` before one
    that runs only on a cloud whose ports are bound; ``#`` starts a comment.
    """
    include, exclude, tagged = read_tagged_tests(path)
    unknown = set(tagged) - {'network'}
    if unknown:
        raise TempestError('%s: unknown tags %s' % (
            path, ', '.join(sorted(unknown))))
    return include, exclude, tagged.get('network', [])


class CloudFacts:
    """What ``tempest.conf`` says about the all-in-one in ``base_dir``."""

    def __init__(self, base_dir):
        from keystoneauth1 import adapter
        self.cloud = cloud_tool.Cloud(
            base_dir, cloud_tool.port_base(base_dir, None))
        session = self.cloud.keystone.admin_session()

        def client(service_type, **kwargs):
            return adapter.Adapter(session, service_type=service_type,
                                   interface='public',
                                   region_name=configs.REGION, **kwargs)
        self.compute = client('compute')
        self.image = client('image')
        self.network = client('network')
        self.container = client('container')
        self.catalog = {entry['type'] for entry in
                        session.auth.get_access(session).service_catalog
                        .catalog}

    def microversions(self):
        version = self.compute.get('/').json()['version']
        return version['min_version'], version['version']

    def image_id(self):
        images = self.image.get('/v2/images', params={
            'name': cloud_tool.IMAGE}).json()['images']
        if not images:
            raise TempestError('no image %s in Glance: run tools/cloud up'
                               % cloud_tool.IMAGE)
        image = images[0]
        if image['visibility'] != 'public':
            # Tempest's projects are new: they see public images only.
            raise TempestError(
                'image %s is %s, Tempest\'s projects cannot boot it: '
                'openstack image set --public %s' % (
                    cloud_tool.IMAGE, image['visibility'], image['id']))
        return image['id']

    def flavor_id(self, name, ram=None):
        flavors = self.compute.get('/flavors').json()['flavors']
        for flavor in flavors:
            if flavor['name'] == name:
                return flavor['id']
        if ram is None:
            raise TempestError('no flavor %s: run tools/cloud up' % name)
        self.cloud.cli('openstack', 'flavor', 'create', '--vcpus', '1',
                       '--ram', str(ram), '--disk', '1', '--property',
                       'trait:%s=required' % cloud_tool.CONTAINER_TRAIT, name)
        return self.flavor_id(name)

    @functools.cached_property
    def compute_hosts(self):
        """The compute hosts that are up and enabled, by name."""
        services = self.compute.get('/os-services', params={
            'binary': 'nova-compute'}).json()['services']
        return sorted(s['host'] for s in services
                      if s['state'] == 'up' and s['status'] == 'enabled')

    def computes_up(self):
        return len(self.compute_hosts)

    def scheduler_filters(self):
        """The filters nova-scheduler runs (its scheduling.conf)."""
        parser = configparser.ConfigParser(interpolation=None,
                                           strict=False)
        parser.read(self.cloud.scheduling_conf)
        return parser.get('filter_scheduler', 'enabled_filters',
                          fallback='')

    def nova_option(self, section, name, default):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(os.path.join(self.cloud.dirs['nova'], 'nova.conf'))
        return parser.get(section, name, fallback=default)

    def runs(self, service):
        """Whether the cloud runs ``service`` (one of its services)."""
        return any(s.name == service and s.pids()
                   for s in self.cloud.services)

    @functools.cached_property
    def binding_hosts(self):
        """The hosts where a live agent binds ports (none: Neutron alone)."""
        if 'network' not in self.catalog:
            return []
        agents = self.network.get('/v2.0/agents', raise_exc=False)
        if not agents.ok:
            return []
        return sorted({a['host'] for a in agents.json()['agents']
                       if a['alive'] and a['binary'] in BINDING_AGENTS})

    @functools.cached_property
    def portless_hosts(self):
        """Compute hosts up where no agent binds ports."""
        return [h for h in self.compute_hosts
                if h not in self.binding_hosts]

    @functools.cached_property
    def networking(self):
        """The external network's id when ports can be bound, else None.

        Neutron's API alone (no agent, no tenant network ``private``) makes
        no server reachable: the network tests are then off. So are they
        when some compute host binds no port (the all-in-one's hosts
        beyond the first, doc/all-in-one.rst): Tempest cannot say where its
        servers go, and a server with a port that lands on, or moves to,
        such a host fails; its servers then boot with no network.
        """
        if not self.binding_hosts or self.portless_hosts:
            return None
        private = self.network.get('/v2.0/networks', params={
            'name': 'private'}).json()['networks']
        external = self.network.get('/v2.0/networks', params={
            'router:external': 'true'}).json()['networks']
        if not (private and external):
            return None
        return external[0]['id']

    def no_networking_reason(self):
        if self.binding_hosts and self.portless_hosts:
            return 'ports are bound on %s only, not on %s' % (
                ', '.join(self.binding_hosts),
                ', '.join(self.portless_hosts))
        return 'the cloud binds no ports'

    def network_extensions(self):
        return sorted(e['alias'] for e in self.network.get(
            '/v2.0/extensions').json()['extensions'])


def _flag(value):
    return 'true' if value else 'false'


def common_conf(facts, workspace, isolated_networks):
    """The sections of a ``tempest.conf`` that any test set shares.

    Keystone and the admin's credentials (dynamic credentials: a project
    and users per test class), what the catalog offers, no validation;
    with ``isolated_networks``, a network, subnet and router per test
    class's project and the external network (only where ports are bound:
    ``facts.networking``).
    """
    external = facts.networking
    conf = {
        'DEFAULT': {'log_file': os.path.join(workspace, 'tempest.log')},
        'oslo_concurrency': {'lock_path': os.path.join(workspace, 'lock')},
        'auth': {
            'admin_username': 'admin',
            'admin_password': keystone_tool.ADMIN_PASSWORD,
            'admin_project_name': 'admin',
            'admin_domain_name': 'Default',
            'use_dynamic_credentials': 'true',
            'create_isolated_networks': _flag(external and
                                              isolated_networks),
        },
        'identity': {
            'uri_v3': facts.cloud.keystone_url,
            'auth_version': 'v3',
            'region': configs.REGION,
            'admin_domain_scope': 'false',
        },
        'validation': {
            # No SSH into a container: it has no sshd, keys or addresses
            # reachable from the host here.
            'run_validation': 'false',
        },
        'service_available': {
            'nova': _flag('compute' in facts.catalog),
            'glance': _flag('image' in facts.catalog),
            # Its API, which Nova uses; tests that need bound ports are
            # left out where nothing binds them (read_tests).
            'neutron': _flag('network' in facts.catalog),
            'cinder': _flag({'block-storage', 'volumev3'} &
                            facts.catalog),
            'swift': _flag('object-store' in facts.catalog),
        },
        'image-feature-enabled': {'api_v1': 'false'},
    }
    if external:
        conf['network'] = {'public_network_id': external,
                           'floating_network_name': 'public'}
        conf['network-feature-enabled'] = {
            'api_extensions': ','.join(facts.network_extensions())}
    return conf


def tempest_conf(facts, workspace):
    """``tempest.conf``'s sections for the cloud ``facts`` describes.

    Each feature flag says what this driver does (doc/driver.rst), not what
    makes tests pass.
    """
    image = facts.image_id()
    low, high = facts.microversions()
    computes = facts.computes_up()
    same_host = facts.nova_option('DEFAULT', 'allow_resize_to_same_host',
                                  'false').lower() == 'true'
    external = facts.networking
    serial = facts.runs('nova-serialproxy')
    conf = common_conf(facts, workspace, isolated_networks=True)
    conf.update({
        'compute': {
            'image_ref': image,
            # Rebuild to the same image: the cloud has one container image.
            'image_ref_alt': image,
            'flavor_ref': facts.flavor_id(cloud_tool.FLAVOR),
            'flavor_ref_alt': facts.flavor_id(ALT_FLAVOR, ram=512),
            'min_microversion': low,
            'max_microversion': high,
            'min_compute_nodes': str(computes),
            'build_timeout': '300',
        },
        'compute-feature-enabled': {
            # The scheduler hints Tempest may use (same_host,
            # different_host, server groups' policies).
            'scheduler_enabled_filters': facts.scheduler_filters(),
            # Nova's API makes the hostname of an FQDN display name.
            'hostname_fqdn_sanitization': 'true',
            # The driver: doc/driver.rst.
            'pause': 'true',
            'suspend': 'true',          # a freeze, as pause
            'console_output': 'true',
            'rescue': 'true',
            'stable_rescue': 'false',   # hw_rescue_device does not apply
            'snapshot': 'true',
            'shelve': 'true',
            # Resize on one host needs allow_resize_to_same_host; moves
            # to another host need a second compute host.
            'resize': _flag(same_host or computes > 1),
            'cold_migration': _flag(computes > 1),
            'shelve_migrate': _flag(computes > 1),
            'live_migration': 'false',  # no CRIU here (doc/driver.rst)
            'live_migrate_back_and_forth': 'false',
            'block_migration_for_live_migration': 'false',
            'volume_backed_live_migration': 'false',
            'serial_console': _flag(serial),
            'vnc_console': 'false',
            'spice_console': 'false',
            # A container has no login (the driver sets no password; Nova's
            # API makes one up unless told not to), no cloud-init and no
            # disks of its own to partition.
            'change_password': 'false',
            'enable_instance_password': facts.nova_option(
                'api', 'enable_instance_password', 'true').lower(),
            'personality': 'false',
            'config_drive': 'false',
            'metadata_service': 'false',
            'disk_config': 'false',
            'swap_volume': 'false',
            'volume_multiattach': 'false',
            'attach_encrypted_volume': 'false',
            'ide_bus': 'false',
            # Ports are plugged into the running pod, once they can be
            # bound.
            'interface_attach': _flag(external),
        },
    })
    return conf


def write_ini(path, sections):
    parser = configparser.ConfigParser(interpolation=None)
    for name, options in sections.items():
        if name != 'DEFAULT':
            parser.add_section(name)
        for key, value in options.items():
            parser.set(name, key, value)
    with open(path, 'w') as f:
        parser.write(f)


def init_workspace(venv, base_dir, name='tempest'):
    """A ``tempest init`` workspace in ``base_dir``/``name``.

    Tempest's list of workspaces stays there too, not in the user's home.
    """
    top = os.path.join(base_dir, name)
    workspace = os.path.join(top, 'workspace')
    if not os.path.exists(os.path.join(workspace, '.stestr.conf')):
        os.makedirs(top, exist_ok=True)
        subprocess.run([os.path.join(venv, 'bin', 'tempest'), 'init',
                        '--workspace-path',
                        os.path.join(top, 'workspaces.yaml'),
                        '--name', 'nova-zun-aio' + (
                            '' if name == 'tempest' else '-' + name),
                        workspace],
                       check=True, capture_output=True)
    return workspace


def results(venv, workspace):
    """The last run's tests: id, status, seconds, skip reason, traceback."""
    stream = subprocess.run([os.path.join(venv, 'bin', 'stestr'), 'last',
                             '--subunit'], cwd=workspace,
                            capture_output=True, check=True).stdout
    parsed = subprocess.run([os.path.join(venv, 'bin', 'python'), '-c',
                             _SUBUNIT_TO_JSON], input=stream,
                            capture_output=True, check=True).stdout
    return [json.loads(line) for line in parsed.splitlines()]


def report(tests, out=sys.stdout):
    """Print each test's result; return (passed, failed, skipped)."""
    counts = {'passed': 0, 'failed': 0, 'skipped': 0}
    reasons = {}
    for test in tests:
        status = test['status']
        if status in ('success', 'xfail'):
            counts['passed'] += 1
            print('PASS %s (%.1fs)' % (test['id'], test['seconds']),
                  file=out)
        elif status == 'skip':
            counts['skipped'] += 1
            print('SKIP %s: %s' % (test['id'], test['reason']), file=out)
            reasons.setdefault(test['reason'], []).append(test['id'])
        else:
            counts['failed'] += 1
            print('FAIL %s (%s)\n%s' % (test['id'], status,
                                        test['traceback']), file=out)
    if reasons:
        print('\nskipped, by reason:', file=out)
        for reason, ids in sorted(reasons.items()):
            print('  %d: %s' % (len(ids), reason), file=out)
    return counts


def selects_tests(extra):
    """Whether ``tempest run`` arguments choose tests of their own."""
    return any(arg.split('=', 1)[0] in SELECTION_OPTIONS for arg in extra)


def run_tempest(venv, workspace, conf_path, concurrency, extra,
                include=(), exclude=(), log_name='tempest-run.log',
                out=sys.stdout, env=None):
    """``tempest run`` with ``conf_path`` and these regexes; print a report.

    ``include`` and ``exclude`` are used unless ``extra`` (more ``tempest
    run`` arguments) selects tests itself; ``env`` is its environment (this
    one's by default). Returns ``(exit code, counts)``, the counts ``None``
    for a listing (``--list-tests``).
    """
    command = [os.path.join(venv, 'bin', 'tempest'), 'run',
               '--config-file', conf_path,
               '--concurrency', str(concurrency)]
    if not selects_tests(extra):
        lists = os.path.dirname(conf_path)
        for name, regexes in (('include', include), ('exclude', exclude)):
            with open(os.path.join(lists, name + '.txt'), 'w') as f:
                f.write(''.join(r + '\n' for r in regexes))
        command += ['--include-list', os.path.join(lists, 'include.txt'),
                    '--exclude-list', os.path.join(lists, 'exclude.txt')]
    command += list(extra)
    print('running: %s' % ' '.join(command), file=out, flush=True)
    began = time.monotonic()
    log = os.path.join(workspace, log_name)
    with open(log, 'w') as f:
        code = subprocess.run(command, cwd=workspace, stdout=f,
                              stderr=subprocess.STDOUT, env=env).returncode
    seconds = time.monotonic() - began
    if '--list-tests' in extra or '-l' in extra:
        with open(log) as f:
            print(f.read(), file=out)
        return code, None
    try:
        tests = results(venv, workspace)
    except subprocess.CalledProcessError:
        tests = []
    counts = report(tests, out)
    print('\n%d passed, %d failed, %d skipped in %.0f s (concurrency %d; '
          'log %s)' % (counts['passed'], counts['failed'],
                       counts['skipped'], seconds, concurrency, log),
          file=out, flush=True)
    if not tests:
        print('tempest ran no test (exit code %d): see %s' % (code, log),
              file=out)
        return code or 1, counts
    return (1 if counts['failed'] or code else 0), counts


def run(base_dir, venv, concurrency, extra, out=sys.stdout,
        tests=TEST_LIST):
    """Run Tempest against the cloud in ``base_dir``; return an exit code.

    ``tests`` is the test list (``read_tests``) used when ``extra`` selects
    none.
    """
    ensure_venv(venv, out)
    workspace = init_workspace(venv, base_dir)
    facts = CloudFacts(base_dir)
    conf_path = os.path.join(workspace, 'etc', 'tempest.conf')
    write_ini(conf_path, tempest_conf(facts, workspace))
    print('tempest.conf: %s' % conf_path, file=out, flush=True)
    print('compute hosts: %s; %s' % (
        ', '.join(facts.compute_hosts),
        'ports bound on each' if facts.networking else
        facts.no_networking_reason() + ': servers boot with no network'),
        file=out, flush=True)
    include, exclude = [], []
    if not selects_tests(extra):
        include, exclude, network = read_tests(tests)
        if not facts.networking:
            reason = facts.no_networking_reason()
            for regex in network:
                print('not run, %s: %s' % (reason, regex), file=out)
            exclude += network
    code, _ = run_tempest(venv, workspace, conf_path, concurrency, extra,
                          include, exclude, out=out)
    return code


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='tools/tempest',
        description='Tempest\'s compute API tests against a running '
                    'all-in-one cloud (tools/cloud up). Arguments it does '
                    'not know go to "tempest run"; a test selection '
                    '(--regex...) replaces tools/tempest-tests.txt.')
    parser.add_argument('--base-dir', default=cloud_tool.DEFAULT_BASE_DIR,
                        help='the cloud\'s (default %(default)s); the '
                             'workspace is its tempest/')
    parser.add_argument('--venv', default=default_venv(),
                        help='Tempest\'s virtualenv, kept between runs '
                             '(default %(default)s)')
    parser.add_argument('--tests', default=TEST_LIST,
                        help='the test list: one regex a line, "-" before '
                             'an excluded one, "network:" before one that '
                             'needs bound ports (default %(default)s)')
    # Two: each worker mostly waits on the cloud (Keystone, Neutron and
    # Nova on MariaDB take concurrent projects and users).
    parser.add_argument('--concurrency', type=int, default=2,
                        help='test workers (default %(default)s)')
    args, extra = parser.parse_known_args(argv)
    if not os.path.exists(os.path.join(args.base_dir, 'openrc')):
        print('no cloud in %s: tools/cloud --base-dir %s up' % (
            args.base_dir, args.base_dir), file=sys.stderr)
        return 1
    try:
        return run(os.path.abspath(args.base_dir), args.venv,
                   args.concurrency, extra, tests=args.tests)
    except TempestError as exc:
        print('FAILED: %s' % exc, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
