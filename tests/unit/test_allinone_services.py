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

"""All-in-one service processes: readiness, failures that name the
service and its log, stop of the whole session."""

import sys

import pytest

from nova_zun_workshop.allinone import services
from nova_zun_workshop import processes


def _service(tmp_path, name, code):
    return services.Service(name, [sys.executable, '-c', code],
                            str(tmp_path), str(tmp_path),
                            socket_path=str(tmp_path / 'sock'))


def test_a_service_that_exits_is_named_with_its_log(tmp_path):
    service = _service(tmp_path, 'broken',
                       'import sys; print("no config here"); sys.exit(3)')
    assert service.start()
    with pytest.raises(services.ServiceError) as error:
        service.wait_ready(30)
    message = str(error.value)
    assert message.startswith('broken exited; its log is %s'
                              % service.log_path)
    assert 'no config here' in message


def test_a_running_service_is_ready_reused_and_stopped(tmp_path):
    # Listens on its unix socket, with a child in its session.
    service = _service(tmp_path, 'listener', (
        'import socket, subprocess, sys, time\n'
        'child = subprocess.Popen([sys.executable, "-c", '
        '"import time; time.sleep(600)"])\n'
        's = socket.socket(socket.AF_UNIX)\n'
        's.bind(sys.argv[1] if len(sys.argv) > 1 else "%s")\n'
        's.listen()\n'
        'time.sleep(600)\n' % (tmp_path / 'sock')))
    assert service.start()
    try:
        service.wait_ready(30)
        members = service.pids()
        assert 2 == len(members)
        assert not service.start()  # running: reused
        assert services.pss_kib(members) > 0
    finally:
        service.stop(timeout=10)
    assert service.pid is None
    assert not [p for p in members if processes.running(p)]
