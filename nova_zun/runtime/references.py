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

"""Image references as the engine reads them (``[registry/]name[:tag]``)."""

import re

# A reference: an optional registry (a host with a dot or a port, or
# localhost), path components of lower-case letters, digits and
# separators, then a tag or a digest.
_COMPONENT = r'[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
_REFERENCE = re.compile(
    r'^(?:(?P<registry>[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+(?::[0-9]+)?|'
    r'[a-zA-Z0-9-]+:[0-9]+|localhost)/)?'
    r'(?P<path>%s(?:/%s)*)'
    r'(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?'
    r'(?:@(?P<digest>sha256:[0-9a-f]{64}))?$' % (_COMPONENT, _COMPONENT))


def registry_of(ref):
    """The registry (``host[:port]``) that a reference names.

    It is read as the engine reads it: the first component when it has a dot
    or a port or is localhost, else Docker Hub.
    """
    first, sep, _ = ref.partition('/')
    if sep and ('.' in first or ':' in first or first == 'localhost'):
        return first
    return 'docker.io'


def normalized(ref):
    """``ref`` with the tag ``latest`` when it names neither tag nor digest.

    None when it is no reference the engine would pull.
    """
    match = _REFERENCE.match(ref)
    if match is None or len(ref) > 255:
        return None
    if not match.group('tag') and not match.group('digest'):
        return ref + ':latest'
    return ref
