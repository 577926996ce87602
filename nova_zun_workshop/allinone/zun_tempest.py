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

"""zun-tempest-plugin's API tests against the all-in-one's native API.

``tools/zun-tempest`` runs Zun's own API tests (PyPI's
``zun-tempest-plugin``, pinned, with the Tempest of ``tools/tempest`` in a
virtualenv of their own) against the native API (catalog type
``container``), once per microversion: the highest the API serves and
1.20 by default. Its images stand in for Docker Hub's, which this host
cannot reach: ``cirros`` (busybox) pushed to a registry on loopback that
lives as long as the run, for ``image_driver`` docker, and ``nginx``
(busybox's httpd) as a public Glance image, for the tests that name no
image driver (the native API's default is Glance). doc/native-api.rst,
*Zun's API tests*, says more.
"""

import argparse
import io
import os
import shutil
import sys
import tarfile
import tempfile

from nova_zun.runtime import docker as docker_runtime
from nova_zun.runtime import labels
from nova_zun.runtime import rootfs
from nova_zun_workshop.allinone import cloud as cloud_tool
from nova_zun_workshop.allinone import tempest
from nova_zun_workshop import images as test_images
from nova_zun_workshop import registry as registry_tool

PLUGIN_VERSION = '4.14.0'
REQUIREMENTS = ['tempest==' + tempest.TEMPEST_VERSION,
                'zun-tempest-plugin==' + PLUGIN_VERSION]
TEST_LIST = os.path.join(tempest.ROOT, 'tools', 'zun-tempest-tests.txt')
# zun-tempest-plugin's TestContainer starts at 1.20 (TestContainerLegacy
# covers 1.1 to 1.19).
LOW_MICROVERSION = '1.20'
# From 1.27 the plugin deletes a test project's network through the API
# (DELETE /v1/networks); below, through a Docker daemon on
# tcp://localhost:2375, as on Zun's devstack: Tempest makes no project
# networks there (see the list's "project-network:" tag).
PROJECT_NETWORKS_FROM = (1, 27)
# The list's tags: network (ports bound), project-network (Tempest's
# project networks, PROJECT_NETWORKS_FROM on).
TAGS = ('network', 'project-network')
# The public Glance image the tests that name no image driver boot.
NGINX_IMAGE = 'zun-tempest-nginx'
WEB_PAGE = '<h1>Welcome to nginx!</h1>'
# Keeps running and exits at once on SIGTERM, as test_images' sleeper.
CIRROS_COMMAND = test_images.COMMANDS['sleeper']
NGINX_COMMAND = [
    '/bin/sh', '-c',
    "mkdir -p /www && echo '%s' > /www/index.html && "
    "trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait" % WEB_PAGE]
# cirros has curl; busybox has wget.
CURL = b'#!/bin/sh\nexec wget -q -O - "$@"\n'


def default_venv():
    return os.path.join(os.path.dirname(tempest.default_venv()),
                        'zun-tempest-' + PLUGIN_VERSION)


def parse_microversion(text):
    major, minor = text.split('.')
    return int(major), int(minor)


def stand_in_rootfs(busybox='/bin/busybox'):
    """A busybox root filesystem with httpd and a ``curl`` (wget)."""
    data = rootfs.busybox_rootfs(busybox, test_images.APPLETS + ('httpd',))
    buf = io.BytesIO(data)
    with tarfile.open(fileobj=buf, mode='a') as tar:
        info = tarfile.TarInfo('bin/curl')
        info.size = len(CURL)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(CURL))
    return buf.getvalue()


class StandInImages:
    """``cirros`` in a registry on loopback, ``nginx`` in Glance.

    The registry (its storage in ``base_dir``/zun-tempest/registry) runs
    until ``stop``; the engine keeps no copy of either image, so that the
    driver pulls them as from Docker Hub.
    """

    def __init__(self, facts, base_dir, out=sys.stdout):
        self.facts = facts
        self.out = out
        self.registry = registry_tool.LocalRegistry(
            os.path.join(base_dir, 'zun-tempest', 'registry'))
        self.cirros = None
        self.nginx = NGINX_IMAGE

    def start(self):
        runtime = docker_runtime.DockerRuntime(self.facts.cloud.engine.url)
        data = stand_in_rootfs()
        kind = {labels.IMAGE_KIND: test_images.IMAGE_KIND_TEST}
        address = self.registry.start()
        self.cirros = '%s/cirros:latest' % address
        runtime.import_rootfs(data, self.cirros, command=CIRROS_COMMAND,
                              labels=kind)
        try:
            runtime.push_image(self.cirros)
        finally:
            runtime.remove_image(self.cirros, force=True)
        print('cirros: %s (registry log %s)' % (
            self.cirros, self.registry.log_path), file=self.out, flush=True)
        if not self.facts.image.get('/v2/images', params={
                'name': NGINX_IMAGE}).json()['images']:
            self._upload_nginx(runtime, data, kind)
        print('nginx: %s (public, in Glance)' % NGINX_IMAGE, file=self.out,
              flush=True)

    def _upload_nginx(self, runtime, data, kind):
        reference = test_images.reference('zun-tempest-nginx')
        runtime.import_rootfs(data, reference, command=NGINX_COMMAND,
                              labels=kind)
        try:
            with tempfile.NamedTemporaryFile(suffix='.tar') as archive:
                for chunk in runtime.save_image(reference):
                    archive.write(chunk)
                archive.flush()
                # Public: Tempest's projects are new.
                self.facts.cloud.cli(
                    'openstack', 'image', 'create', '--container-format',
                    'docker', '--disk-format', 'raw', '--public', '--file',
                    archive.name, NGINX_IMAGE)
        finally:
            runtime.remove_image(reference, force=True)

    def stop(self):
        self.registry.stop()


def zun_tempest_conf(facts, workspace, microversion, cirros, nginx):
    """``tempest.conf`` for zun-tempest-plugin at ``microversion``.

    The plugin's range (``[container_service] min_microversion`` and
    ``max_microversion``) is that one version: each test class asks for
    the higher of its own minimum and the range's, and classes and tests
    outside the range skip.
    """
    projects = parse_microversion(microversion) >= PROJECT_NETWORKS_FROM
    conf = tempest.common_conf(facts, workspace, isolated_networks=projects)
    conf['service_available']['zun'] = 'true'
    conf['container_service'] = {
        'catalog_type': 'container',
        'min_microversion': microversion,
        'max_microversion': microversion,
        'cirros_image': cirros,
        'nginx_image': nginx,
        'wait_timeout': '120',
    }
    return conf


def test_regexes(path, facts, microversion, out=sys.stdout):
    """The include and exclude regexes of the list at ``microversion``."""
    include, exclude, tagged = tempest.read_tagged_tests(path)
    unknown = set(tagged) - set(TAGS)
    if unknown:
        raise tempest.TempestError('%s: unknown tags %s' % (
            path, ', '.join(sorted(unknown))))
    left_out = []
    if not facts.networking:
        left_out.append((facts.no_networking_reason(),
                         tagged.get('network', [])))
    if parse_microversion(microversion) < PROJECT_NETWORKS_FROM:
        left_out.append(('no project networks of Tempest\'s below %d.%d' %
                         PROJECT_NETWORKS_FROM,
                         tagged.get('project-network', [])))
    for reason, regexes in left_out:
        for regex in regexes:
            print('not run, %s: %s' % (reason, regex), file=out)
            exclude.append(regex)
    return include, exclude


def spread_classes(workspace):
    """Let stestr spread a class's tests over the workers.

    Tempest's workspace groups tests by class (``group_regex``); the
    plugin's tests are nearly all in one class (TestContainer), which would
    then run on one worker. Each worker sets the class up on its own (its
    own project and users).
    """
    path = os.path.join(workspace, '.stestr.conf')
    with open(path) as f:
        lines = f.readlines()
    kept = [line for line in lines if not line.startswith('group_regex')]
    if kept != lines:
        with open(path, 'w') as f:
            f.writelines(kept)


def tools_env(workspace, busybox='/bin/busybox'):
    """The environment of ``tempest run``: a ``ping`` on its path.

    The plugin pings floating IPs from this host with ``ping``; a host
    without one (Debian's iputils-ping) gets busybox's, linked in the
    workspace's ``bin``.
    """
    env = dict(os.environ)
    if shutil.which('ping') is None:
        tools = os.path.join(workspace, 'bin')
        os.makedirs(tools, exist_ok=True)
        link = os.path.join(tools, 'ping')
        if not os.path.lexists(link):
            os.symlink(os.path.realpath(busybox), link)
        env['PATH'] = tools + os.pathsep + env.get('PATH', '')
    return env


def native_api_microversions(facts):
    """The native API's lowest and highest microversion (its /v1)."""
    version = facts.container.get('/').json()
    return version['min_version'], version['max_version']


def run(base_dir, venv, concurrency, microversions, extra,
        tests=TEST_LIST, out=sys.stdout):
    """Run the plugin's tests at each microversion; return an exit code.

    ``microversions`` may say ``latest``: the highest the API serves.
    """
    tempest.ensure_venv(venv, out, requirements=REQUIREMENTS)
    workspace = tempest.init_workspace(venv, base_dir, name='zun-tempest')
    spread_classes(workspace)
    env = tools_env(workspace)
    facts = tempest.CloudFacts(base_dir)
    _, highest = native_api_microversions(facts)
    microversions = [highest if v == 'latest' else v for v in microversions]
    print('native API: %s, up to %s; ports %s' % (
        facts.container.get_endpoint(), highest,
        'bound' if facts.networking else 'not bound: ' +
        facts.no_networking_reason()), file=out, flush=True)
    images = StandInImages(facts, base_dir, out)
    done = []
    try:
        images.start()
        code = 0
        for microversion in microversions:
            print('\n== microversion %s ==' % microversion, file=out,
                  flush=True)
            conf_path = os.path.join(workspace, 'etc',
                                     'tempest-%s.conf' % microversion)
            tempest.write_ini(conf_path, zun_tempest_conf(
                facts, workspace, microversion, images.cirros, images.nginx))
            include, exclude = [], []
            if not tempest.selects_tests(extra):
                include, exclude = test_regexes(tests, facts, microversion,
                                                out)
            one, counts = tempest.run_tempest(
                venv, workspace, conf_path, concurrency, extra, include,
                exclude, log_name='tempest-run-%s.log' % microversion,
                out=out, env=env)
            code = code or one
            if counts:
                done.append((microversion, counts))
    finally:
        images.stop()
    if done:
        print('', file=out)
        for microversion, counts in done:
            print('microversion %s: %s' % (microversion, _counted(counts)),
                  file=out)
        # One closing line for the whole run.
        print(_counted({key: sum(c[key] for _, c in done)
                        for key in ('passed', 'failed', 'skipped')}),
              file=out)
    return code


def _counted(counts):
    return '%(passed)d passed, %(failed)d failed, %(skipped)d skipped' % (
        counts)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='tools/zun-tempest',
        description='zun-tempest-plugin\'s API tests against the running '
                    'all-in-one\'s native API (tools/cloud up), at each '
                    'microversion asked. Arguments it does not know go to '
                    '"tempest run"; a test selection (--regex...) replaces '
                    'tools/zun-tempest-tests.txt.')
    parser.add_argument('--base-dir', default=cloud_tool.DEFAULT_BASE_DIR,
                        help='the cloud\'s (default %(default)s); the '
                             'workspace is its zun-tempest/')
    parser.add_argument('--venv', default=default_venv(),
                        help='Tempest\'s and the plugin\'s virtualenv, '
                             'kept between runs (default %(default)s)')
    parser.add_argument('--tests', default=TEST_LIST,
                        help='the test list (default %(default)s)')
    parser.add_argument('--microversion', action='append',
                        help='a microversion to run the tests at, or '
                             '"latest" (the highest the native API '
                             'serves); again for more (default: latest '
                             'and %s)' % LOW_MICROVERSION)
    parser.add_argument('--concurrency', type=int, default=2,
                        help='test workers (default %(default)s)')
    args, extra = parser.parse_known_args(argv)
    if not os.path.exists(os.path.join(args.base_dir, 'openrc')):
        print('no cloud in %s: tools/cloud --base-dir %s up' % (
            args.base_dir, args.base_dir), file=sys.stderr)
        return 1
    try:
        return run(os.path.abspath(args.base_dir), args.venv,
                   args.concurrency,
                   args.microversion or ['latest', LOW_MICROVERSION], extra,
                   tests=args.tests)
    except (tempest.TempestError,
            registry_tool.RegistryStartError) as exc:
        print('FAILED: %s' % exc, file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
