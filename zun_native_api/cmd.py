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

"""``zun-native-api``: serve the native API with gunicorn.

    zun-native-api --config-file /etc/nova-zun/zun-native-api.conf

Listens on ``[native_api] bind_host``/``bind_port`` with ``workers``
processes of ``threads`` threads each.
"""

import sys

from gunicorn.app import base as gunicorn_base
from gunicorn.workers import gthread
from oslo_context import context as oslo_context

from zun_native_api import errors
from zun_native_api import wsgi


class _ZunShapedErrors:
    """The client's socket as gunicorn's ``Worker.handle_error`` sees it.

    The error page it sends there (``util.write_error``: its status line and an
    HTML page, in one ``sendall``) goes out in Zun's error shape with the same
    status.
    """

    def __init__(self, sock, exc):
        self._sock = sock
        self._exc = exc

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def sendall(self, data):
        status_line = data.split(b'\r\n', 1)[0].decode('latin-1')
        status = int(status_line.split(' ', 2)[1])
        # As gunicorn's page, no word of what failed inside (500).
        detail = ('An unexpected error occurred.' if status == 500
                  else str(self._exc))
        request_id = oslo_context.generate_request_id()
        body = errors.error_json(status, detail, request_id)
        head = ('%s\r\nConnection: close\r\n'
                'Content-Type: application/json\r\nContent-Length: %d\r\n'
                'x-openstack-request-id: %s\r\n\r\n'
                % (status_line, len(body), request_id))
        self._sock.sendall(head.encode('latin-1') + body)


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's threaded worker, with its own error answers in Zun's shape.

    Its own answers are those gunicorn gives before the application: to a
    request it cannot parse, or over its limits (400, 414, 417, 431, 501).
    """

    def handle_error(self, req, client, addr, exc):
        super().handle_error(req, _ZunShapedErrors(client, exc), addr, exc)


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
        self.cfg.set('worker_class', ThreadWorker)
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
