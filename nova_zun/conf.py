"""Every configuration option of nova-zun, in one place.

The driver reads ``[zun]`` from nova.conf; the native API reads the same
group from its own file. ``list_opts`` feeds oslo-config-generator.
"""

import os

from oslo_config import cfg

zun_group = cfg.OptGroup(
    'zun', title='nova-zun container runtime',
    help='Containers as Nova instances: the container engine and how '
         'instances map onto it.')

runtime_opts = [
    cfg.StrOpt('engine_url',
               default=os.environ.get('DOCKER_HOST',
                                      'unix:///var/run/docker.sock'),
               sample_default='$DOCKER_HOST, else '
                              'unix:///var/run/docker.sock',
               help='Endpoint of the Docker Engine API (dockerd, or Podman '
                    'through its Docker-compatible socket). Only a local '
                    'unix socket is safe: the engine is root on this host.'),
    cfg.IntOpt('engine_timeout', default=120, min=1,
               help='Seconds to wait for the engine to answer one call '
                    '(stop and restart add their own grace period).'),
    cfg.StrOpt('sandbox_binary', default='/bin/busybox',
               help='A statically linked busybox (Debian: busybox-static). '
                    'The pod sandbox image, which owns each instance\'s '
                    'network namespace, is built from it on first use; '
                    'nothing is pulled.'),
]


def register_opts(conf):
    conf.register_group(zun_group)
    conf.register_opts(runtime_opts, group=zun_group)


def list_opts():
    return [(zun_group, runtime_opts)]


CONF = cfg.CONF
register_opts(CONF)
