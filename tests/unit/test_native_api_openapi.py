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

"""zun_native_api/openapi.yaml: fresh, and in step with the routes and
the schemas the handlers validate with."""

from oslo_config import cfg
import pytest

import zun_native_api
from zun_native_api import openapi
from zun_native_api import validation


@pytest.fixture(scope='module')
def doc():
    return openapi.load()


def test_checked_in_document_is_fresh(doc):
    assert openapi.document() == doc, (
        'zun_native_api/openapi.yaml is stale: regenerate it with '
        '"python -m zun_native_api.openapi > zun_native_api/openapi.yaml"')


def _flask_routes():
    app = zun_native_api.create_app(cfg.ConfigOpts())
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == 'static':
            continue
        path = rule.rule.replace('<container_ident>', '{container_ident}')
        if path != '/':
            path = path.rstrip('/')
        for method in rule.methods - {'HEAD', 'OPTIONS'}:
            routes.add((path, method.lower()))
    return routes


def test_every_route_is_documented_and_nothing_else(doc):
    documented = {(path, method) for path, methods in doc['paths'].items()
                  for method in methods}
    assert _flask_routes() == documented


def test_query_parameters_are_the_validated_ones(doc):
    for methods in doc['paths'].values():
        for op in methods.values():
            schema = validation.QUERY.get(op['operationId'])
            query = {p['name']: p for p in op['parameters']
                     if p.get('in') == 'query'}
            if schema is None:
                assert not query
                continue
            assert set(schema['properties']) == set(query)
            for name, param in query.items():
                assert schema['properties'][name] == param['schema']
                assert (name in schema['required']) == param['required']


def test_request_bodies_are_the_validated_ones(doc):
    bodies = {op['operationId']:
              op['requestBody']['content']['application/json']['schema']
              for methods in doc['paths'].values()
              for op in methods.values() if 'requestBody' in op}
    assert validation.BODY == bodies


def test_response_schemas_resolve(doc):
    import jsonschema
    error = {'errors': [{'status': 404, 'title': 'Not Found',
                         'detail': 'Container x could not be found.'}]}
    jsonschema.validate(error, openapi.response_schema('logs', 404, doc))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({'output': 'x'},
                            openapi.response_schema('execute', 200, doc))
