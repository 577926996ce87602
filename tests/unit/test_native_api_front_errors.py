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

"""Errors answered before the API in Zun's shape: what keystonemiddleware
answers itself (errors.FrontErrors) and gunicorn's own error pages
(cmd.ThreadWorker)."""

import json
import socket
from unittest import mock

from gunicorn.http import errors as gunicorn_errors
import webob
import webob.exc

from zun_native_api import cmd
from zun_native_api import errors


def _call(app, path='/v1/containers'):
    response = webob.Request.blank(path, environ={
        errors.ENV_REQUEST_ID: 'req-1'}).get_response(app)
    return response


def _api(environ, start_response):
    start_response('404 NOT FOUND', [('Content-Type', 'text/plain')])
    return [b'the API said so']


def test_a_refusal_of_the_front_layers_is_in_zuns_shape():
    def front(api):
        def refuse(environ, start_response):
            return webob.exc.HTTPServiceUnavailable(
                headers=[('WWW-Authenticate', 'Keystone uri="k"')])(
                    environ, start_response)
        return refuse

    response = _call(errors.FrontErrors(front, _api))
    assert 503 == response.status_int
    assert 'application/json' == response.content_type
    assert 'Keystone uri="k"' == response.headers['WWW-Authenticate']
    (error,) = response.json['errors']
    assert (503, 'Service Unavailable', 'req-1') == (
        error['status'], error['title'], error['request_id'])
    assert 'temporarily unable' in error['detail']


def test_keystonemiddlewares_message_is_the_detail():
    body = {'error': {'code': 401, 'title': 'Unauthorized',
                      'message': 'The request you have made requires '
                                 'authentication.'}}

    def front(api):
        return webob.exc.HTTPUnauthorized(body=json.dumps(body).encode(),
                                          content_type='application/json')

    (error,) = _call(errors.FrontErrors(front, _api)).json['errors']
    assert body['error']['message'] == error['detail']


def test_what_the_api_answers_passes_as_it_is():
    response = _call(errors.FrontErrors(lambda api: api, _api))
    assert (404, b'the API said so', 'text/plain') == (
        response.status_int, response.body, response.content_type)


def test_gunicorns_error_page_goes_out_in_zuns_shape():
    sock = mock.create_autospec(socket.socket, instance=True)
    page = (b'HTTP/1.1 414 URI Too Long\r\nConnection: close\r\n'
            b'Content-Type: text/html\r\nContent-Length: 5\r\n\r\n<html>')
    cmd._ZunShapedErrors(sock, gunicorn_errors.LimitRequestLine(
        5000, 4094)).sendall(page)
    (sent,), _ = sock.sendall.call_args
    head, _, body = sent.partition(b'\r\n\r\n')
    lines = head.decode().split('\r\n')
    assert 'HTTP/1.1 414 URI Too Long' == lines[0]
    assert 'Content-Type: application/json' in lines
    (error,) = json.loads(body)['errors']
    assert 'x-openstack-request-id: %s' % error['request_id'] in lines
    assert (414, 'Request URI Too Long',
            'Request Line is too large (5000 > 4094)') \
        == (error['status'], error['title'], error['detail'])


def test_gunicorns_500_says_nothing_of_what_failed():
    sock = mock.create_autospec(socket.socket, instance=True)
    cmd._ZunShapedErrors(sock, KeyError('secret')).sendall(
        b'HTTP/1.1 500 Internal Server Error\r\n\r\n')
    (sent,), _ = sock.sendall.call_args
    (error,) = json.loads(sent.partition(b'\r\n\r\n')[2])['errors']
    assert 'An unexpected error occurred.' == error['detail']
