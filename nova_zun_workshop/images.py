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

"""Test images built locally from the host's busybox-static (no registry)."""

from nova_zun.runtime import labels
from nova_zun.runtime import rootfs

REPOSITORY = 'nova-zun-test/busybox'
IMAGE_KIND_TEST = 'test'

APPLETS = ('sh', 'sleep', 'echo', 'cat', 'ls', 'mkdir', 'rm', 'touch', 'ps',
           'dmesg', 'env', 'id', 'hostname', 'ip', 'ifconfig', 'nc', 'ping',
           'wget', 'mount', 'df', 'head', 'tail', 'true', 'false', 'kill',
           'grep', 'wc', 'dd', 'sync', 'stat', 'uname', 'pwd', 'seq', 'yes',
           'route', 'date', 'printf', 'od', 'hexdump', 'vi')

#: Default command of each test image, by tag.
COMMANDS = {
    # Keeps running, and exits at once on SIGTERM (PID 1 ignores signals
    # it has no handler for).
    'sleeper': ['/bin/sh', '-c',
                "trap 'exit 0' TERM; sleep 2147483647 & wait"],
    'exits': ['/bin/sh', '-c', 'exit 3'],
    'printer': ['/bin/sh', '-c',
                'echo hello from nova-zun; echo to stderr >&2; '
                "trap 'exit 0' TERM; sleep 2147483647 & wait"],
    # The all-in-one's demo image: a few lines for the console log (Tempest
    # reads more than three), then it keeps running.
    'demo': ['/bin/sh', '-c',
             'echo hello from nova-zun; echo "host: $(hostname)"; '
             'echo "kernel: $(uname -sr)"; echo "started: $(date -u)"; '
             "trap 'exit 0' TERM; sleep 2147483647 & wait"],
}


# The all-in-one's demo image: a few lines for its console log, then its
# host name to whoever connects to its port.
DEMO_PORT = 8080
DEMO = {
    'demo': ['/bin/sh', '-c',
             'echo "hello from nova-zun: $(hostname)"; '
             'ip -o -4 address show | while read -r n dev x addr rest; do '
             'echo "$dev: $addr"; done; '
             'echo "answering on tcp port %d"; '
             "trap 'exit 0' TERM; nc -ll -p %d -e hostname & wait"
             % (DEMO_PORT, DEMO_PORT)],
}


def reference(tag):
    return '%s:%s' % (REPOSITORY, tag)


def build(runtime, busybox='/bin/busybox', commands=None):
    """Build every test image (or those of ``commands``: ``{tag: argv}``).

    Returns ``{tag: reference}``.
    """
    data = rootfs.busybox_rootfs(busybox, APPLETS)
    built = {}
    for tag, command in (commands or COMMANDS).items():
        runtime.import_rootfs(data, reference(tag), command=command,
                              labels={labels.IMAGE_KIND: IMAGE_KIND_TEST})
        built[tag] = reference(tag)
    return built


def remove(runtime):
    """Remove every image the test tooling built."""
    for image in runtime.list_images({labels.IMAGE_KIND: IMAGE_KIND_TEST}):
        runtime.remove_image(image.id, force=True)
