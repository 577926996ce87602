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

"""What tests need from the host: root, a container engine, runsc, Open
vSwitch, a local registry.

A test whose prerequisite is missing skips on a developer's machine and
fails when CI=true: CI must never pass by skipping it.
"""

import os
import unittest

import pytest


def unavailable(message):
    """End the running test: a skip, or a failure when CI=true.

    ``message`` says what the host lacks.
    """
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail('CI=true and ' + message, pytrace=False)
    # unittest's, not pytest.skip: Nova's test cases (testtools) report
    # pytest's as an error; pytest skips on either.
    raise unittest.SkipTest(message)


def require_root(why):
    """Root, which ``why`` needs (e.g. 'the network tests run as root')."""
    if os.geteuid() != 0:
        unavailable('not root: ' + why)


def require_oci_runtime(runtime, name):
    """The OCI runtime ``name`` registered with ``runtime``'s engine."""
    if name not in runtime.engine_info().runtimes:
        unavailable('%s is not registered with the engine (tools/bootstrap '
                    'installs the Debian package)' % name)
