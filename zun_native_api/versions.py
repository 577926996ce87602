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
