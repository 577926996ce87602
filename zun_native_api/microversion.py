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

"""Zun's API microversions: ``OpenStack-API-Version: container 1.N``."""

import microversion_parse

SERVICE_TYPE = 'container'
HEADER = 'OpenStack-API-Version'
MIN_HEADER = 'OpenStack-API-Minimum-Version'
MAX_HEADER = 'OpenStack-API-Maximum-Version'

MIN_VERSION = microversion_parse.Version(1, 1)
# Zun's own maximum, and python-zunclient's: an unmodified client then
# negotiates its latest, and every request field it sends (up to
# entrypoint, 1.40) has a version this API accepts.
MAX_VERSION = microversion_parse.Version(1, 40)


class NotAcceptable(Exception):
    """The requested microversion is malformed or out of range."""


def negotiate(headers):
    """Return the Version a request asks for; raise NotAcceptable otherwise.

    That is MIN_VERSION without a header, MAX_VERSION for ``latest``.
    """
    requested = microversion_parse.get_version(headers,
                                               service_type=SERVICE_TYPE)
    if requested is None:
        return MIN_VERSION
    if requested.strip().lower() == 'latest':
        return MAX_VERSION
    try:
        version = microversion_parse.parse_version_string(requested)
    except TypeError:
        raise NotAcceptable('Invalid value for %s header: %r'
                            % (HEADER, requested))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise NotAcceptable(
            'Version %s was requested but the minor version is not '
            'supported by this service. The supported version range is: '
            '[%s, %s].' % (version, MIN_VERSION, MAX_VERSION))
    return version


def response_headers(version=None):
    """Headers every /v1 response carries.

    ``version`` is the negotiated one, None when negotiation failed.
    """
    headers = {MIN_HEADER: str(MIN_VERSION), MAX_HEADER: str(MAX_VERSION),
               'Vary': HEADER}
    if version is not None:
        headers[HEADER] = '%s %s' % (SERVICE_TYPE, version)
    return headers
