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

"""The serial console through the real Nova API and nova-serialproxy.

nova-serialproxy's own request handler (nova.console.websocketproxy) runs
in this process, on the test's database and message bus: it redeems the
URL's token, has the compute service validate the port, connects to the
host and port the driver gave and relays the WebSocket to it.
"""

import select
import socket
import threading
from urllib import parse as urlparse

import fixtures
from nova.console import websocketproxy
from nova import objects
import websocket

from nova_zun.runtime import labels
from nova_zun.runtime import rootfs
from nova_zun.runtime import types
from nova_zun_workshop import images as test_images

from tests.functional import base

RUNNING = types.ContainerState.RUNNING
INTERACTIVE = {'zun_command': '/bin/sh', 'zun_interactive': 'true',
               'zun_tty': 'true'}
# Long enough for a shell to answer on a loaded machine; a failing test
# waits this long once.
_WAIT_SECONDS = 30


class SerialProxy:
    """nova-serialproxy's WebSocket proxy, handling connections in threads.

    As ``nova-serialproxy`` runs it (baseproxy.proxy), but without its
    process per connection: the connection's handler needs this process's
    database and message bus.
    """

    def __init__(self):
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.port = self._listener.getsockname()[1]
        self._server = websocketproxy.NovaWebSocketProxy(
            listen_host='127.0.0.1', listen_port=self.port,
            RequestHandlerClass=websocketproxy.NovaProxyRequestHandler,
            file_only=True)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept,
                                          name='test-serialproxy')]
        self._threads[0].start()

    def _accept(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.2)
            if not ready:
                continue
            sock, address = self._listener.accept()
            handler = threading.Thread(target=self._handle,
                                       args=(sock, address))
            self._threads.append(handler)
            handler.start()

    def _handle(self, sock, address):
        try:
            self._server.top_new_client(sock, address)
        finally:
            sock.close()

    def stop(self):
        self._stop.set()
        for thread in list(self._threads):
            thread.join(_WAIT_SECONDS)
        self._listener.close()


class TestSerialConsole(base.ZunDriverTestCase):

    def setUp(self):
        super().setUp()
        # The proxy's handler reopens eventlet's hub in its process of its
        # own; here it shares the test's.
        self.useFixture(fixtures.MockPatch('eventlet.hubs.use_hub'))
        self.proxy = SerialProxy()
        self.addCleanup(self.proxy.stop)
        self.flags(enabled=True, proxyclient_address='127.0.0.1',
                   base_url='ws://127.0.0.1:%d/' % self.proxy.port,
                   group='serial_console')
        self.start_zun_compute('compute1')
        self.flavor = self.container_flavor(vcpu=1, memory_mb=96)
        self.image = self.glance_image_from('sleeper')

    def console_url(self, server):
        self.api.microversion = '2.6'
        return self.api.api_post(
            '/servers/%s/remote-consoles' % server['id'],
            {'remote_console': {'protocol': 'serial', 'type': 'serial'}}
        ).body['remote_console']['url']

    def connect(self, url):
        ws = websocket.create_connection(url, timeout=_WAIT_SECONDS,
                                         subprotocols=['binary', 'base64'])
        self.addCleanup(ws.close)
        return ws

    @staticmethod
    def read_until(ws, expected):
        """What the console says until ``expected`` appears."""
        seen = b''
        while expected not in seen:
            data = ws.recv()
            if not data:
                raise AssertionError('console closed; it said %r' % seen)
            seen += data.encode() if isinstance(data, str) else data
        return seen

    def type_and_read(self, ws, marker):
        # The shell computes the answer: the terminal's echo of the line
        # alone does not hold it.
        ws.send_binary(b'echo %s-$((6*7))\n' % marker)
        return self.read_until(ws, b'%s-42' % marker)

    def target(self, server):
        """The host and port of the server's console, as the driver says."""
        info = self.driver().get_serial_console(
            self.ctxt, objects.Instance.get_by_uuid(self.ctxt, server['id']))
        return info.host, info.port

    def test_a_line_typed_into_the_console_reaches_the_shell(self):
        server = self.boot(self.image, self.flavor, metadata=INTERACTIVE)
        url = self.console_url(server)
        self.assertEqual('ws', urlparse.urlsplit(url).scheme)
        ws = self.connect(url)
        self.type_and_read(ws, b'first')
        ws.close()
        # A console can be opened again, with a new URL (tokens are
        # single-use).
        self.type_and_read(self.connect(self.console_url(server)),
                           b'again')

    def test_the_console_listens_on_the_proxy_client_address_only(self):
        server = self.boot(self.image, self.flavor, metadata=INTERACTIVE)
        host, port = self.target(server)
        self.assertEqual('127.0.0.1', host)
        # Another address of this machine is not listened on.
        self.assertRaises(ConnectionRefusedError, socket.create_connection,
                          ('127.0.0.2', port), _WAIT_SECONDS)

    def test_one_session_at_a_time(self):
        server = self.boot(self.image, self.flavor, metadata=INTERACTIVE)
        host, port = self.target(server)
        first = socket.create_connection((host, port), _WAIT_SECONDS)
        self.addCleanup(first.close)
        first.sendall(b'echo one-$((6*7))\n')
        seen = b''
        while b'one-42' not in seen:
            seen += first.recv(4096)
        # A second connection is closed at once; the first goes on.
        second = socket.create_connection((host, port), _WAIT_SECONDS)
        self.addCleanup(second.close)
        self.assertEqual(b'', second.recv(4096))
        first.sendall(b'echo two-$((6*7))\n')
        while b'two-42' not in seen:
            seen += first.recv(4096)

    def test_no_console_for_a_stopped_server(self):
        # A shell ignores the stop signal: no waiting for the kill.
        self.flags(shutdown_timeout=0)
        server = self.boot(self.image, self.flavor, metadata=INTERACTIVE)
        host, port = self.target(server)
        server = self.server_action(server, 'os-stop',
                                    expected_state='SHUTOFF')
        # Its listener went with the workload.
        self.assertRaises(ConnectionRefusedError, socket.create_connection,
                          (host, port), _WAIT_SECONDS)
        self.api.microversion = '2.6'
        response = self.api.api_post(
            '/servers/%s/remote-consoles' % server['id'],
            {'remote_console': {'protocol': 'serial', 'type': 'serial'}},
            check_response_status=False)
        self.assertEqual(409, response.status)
        self.assertIn('not running', response.body['conflictingRequest'][
            'message'])
        server = self.server_action(server, 'os-start')
        self.type_and_read(self.connect(self.console_url(server)),
                           b'started')

    def test_the_console_closes_with_the_server(self):
        server = self.boot(self.image, self.flavor, metadata=INTERACTIVE)
        host, port = self.target(server)
        ws = self.connect(self.console_url(server))
        self.type_and_read(ws, b'before')
        self._delete_server(server)
        self.assertRaises(ConnectionRefusedError, socket.create_connection,
                          (host, port), _WAIT_SECONDS)
        # The open session ended too (else this waits in vain and fails),
        # and nothing of it is left running.
        while ws.recv():
            pass
        self.assertEqual([], [t.name for t in threading.enumerate()
                              if t.name.startswith('serial-console')])

    def test_the_console_works_after_nova_compute_restarts(self):
        server = self.boot(self.image, self.flavor, metadata=INTERACTIVE)
        self.type_and_read(self.connect(self.console_url(server)),
                           b'before')
        self.restart_zun_compute('compute1')
        self.type_and_read(self.connect(self.console_url(server)),
                           b'after')

    def shell_image(self):
        """A Glance image whose own command is a shell."""
        reference = test_images.reference('shell')
        image_id = self.runtime.import_rootfs(
            rootfs.busybox_rootfs('/bin/busybox', test_images.APPLETS),
            reference, command=['/bin/sh'],
            labels={labels.IMAGE_KIND: test_images.IMAGE_KIND_TEST})
        self.addCleanup(self.runtime.remove_image, image_id, force=True)
        return self.glance_image_with(
            b''.join(self.runtime.save_image(image_id)))

    def test_a_rescued_servers_console_is_its_rescue_shell(self):
        server = self.boot(self.image, self.flavor)
        self.runtime.exec(self.workload(server).id,
                          ['/bin/sh', '-c', 'echo broken > /etc/motd'])
        server = self.server_action(server, 'rescue',
                                    {'rescue_image_ref': self.shell_image()},
                                    expected_state='RESCUE')
        ws = self.connect(self.console_url(server))
        ws.send_binary(b'cat /mnt/etc/motd\n')
        self.read_until(ws, b'broken')
        ws.close()
        self.server_action(server, 'unrescue')
        # The workload's console again (its process reads no stdin).
        self.connect(self.console_url(server)).close()
