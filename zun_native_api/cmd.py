"""``zun-native-api``: serve the native API with gunicorn.

    zun-native-api --config-file /etc/nova-zun/zun-native-api.conf

Listens on ``[native_api] bind_host``/``bind_port`` with ``workers``
processes of ``threads`` threads each.
"""

import sys

from gunicorn.app import base as gunicorn_base

from zun_native_api import wsgi


class _Server(gunicorn_base.BaseApplication):

    def __init__(self, conf, application):
        self.conf = conf
        self.application = application
        super().__init__()

    def load_config(self):
        opts = self.conf.native_api
        self.cfg.set('bind', ['%s:%d' % (opts.bind_host, opts.bind_port)])
        self.cfg.set('workers', opts.workers)
        self.cfg.set('threads', opts.threads)
        self.cfg.set('worker_class', 'gthread')
        # exec waits on the engine, forwarding on a peer: more than
        # gunicorn's default 30 s may pass on a slow engine.
        self.cfg.set('timeout', max(60, opts.forward_timeout + 10))
        self.cfg.set('accesslog', '-')

    def load(self):
        return self.application


def main(argv=None):
    conf, application = wsgi.init_application(
        sys.argv[1:] if argv is None else argv)
    _Server(conf, application).run()


if __name__ == '__main__':
    main()
