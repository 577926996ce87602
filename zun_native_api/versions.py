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

"""The version documents: ``/`` (what python-zunclient discovers the
microversion range from) and ``/v1``."""

import flask

from zun_native_api import microversion

blueprint = flask.Blueprint('versions', __name__)


def _v1(status='CURRENT'):
    return {'id': 'v1',
            'status': status,
            'min_version': str(microversion.MIN_VERSION),
            'max_version': str(microversion.MAX_VERSION),
            'links': [{'rel': 'self',
                       'href': flask.request.host_url + 'v1/'}]}


@blueprint.route('/')
def root():
    return flask.jsonify({
        'name': 'OpenStack Zun API',
        'description': 'Containers as Nova instances: the Zun-compatible '
                       'API of nova-zun.',
        'versions': [_v1()],
        'default_version': _v1()})


@blueprint.route('/v1', strict_slashes=False)
def v1():
    return flask.jsonify(_v1())
