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

"""Nova, called with the caller's own token (keystoneauth1).

Containers are Nova servers whose flavor carries the container spec
(``[native_api] container_flavor_spec=required``); Nova knows every server
and the host it runs on, so list merges nothing by hand.
"""

import hashlib
import itertools
import json
import math
import re

from keystoneauth1.access import service_catalog
from keystoneauth1 import adapter
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1 import token_endpoint
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# Servers whose ports one Neutron query asks for, and the fields it reads.
PORTS_PER_QUERY = 50
PORT_FIELDS = ['id', 'device_id', 'network_id', 'fixed_ips',
               'security_groups']

_UUID = re.compile(r'^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$')
# Characters that stand for themselves (or, '.' and '_', for any one
# character) in every name filter Nova's databases apply: MySQL's and
# MariaDB's REGEXP, PostgreSQL's ~, SQLite's REGEXP (Python's re) and
# LIKE elsewhere. ASCII only: a 4-byte character fails MariaDB's regex.
_LITERAL_RUN = re.compile(r'[A-Za-z0-9_. -]+')
#: The hypervisor_type of ZunDriver's hosts.
HYPERVISOR_TYPE = 'docker'
# The last compute API microversion whose hypervisors show their vCPUs,
# memory and disk.
_HYPERVISOR_RESOURCES = '2.87'
# Most characters of an error answer quoted back or logged.
_MAX_ERROR_TEXT = 1024


def is_uuid(value):
    return bool(_UUID.match(value or ''))


#: The flavor extra spec of privileged containers (the driver's).
PRIVILEGED_SPEC = 'zun:privileged'
#: The description of the security groups made for exposed_ports (each
#: named zun-<container UUID>, as Zun names them).
EXPOSED_PORTS_GROUP = 'exposed_ports of a nova-zun container'


class NovaError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class NotFound(NovaError):
    def __init__(self, message='Container not found'):
        super().__init__(404, message)


def name_filter(name):
    """Nova's ``name`` filter for servers named exactly ``name``.

    It is a regex that matches them on every database, and maybe others (the
    caller keeps the exact matches), never one a database can reject; None when
    no part of the name is safe to send (then no filter).
    """
    runs = _LITERAL_RUN.findall(name)
    return max(runs, key=len) if runs else None


def host_id(project_id, host):
    """Nova's hostId of a server of ``project_id`` on ``host``.

    As nova/api/openstack/compute/views/servers.py makes it: every caller sees
    it, admin or not.
    """
    return hashlib.sha224((project_id + host).encode('utf-8')).hexdigest()


def catalog_endpoint(conf, catalog_header, service_type):
    """The caller's catalog URL of ``service_type``; None if none."""
    if not catalog_header:
        return None
    try:
        # keystonemiddleware sends the catalog in Identity v2's shape
        # (publicURL...), v3 tokens' too.
        catalog = service_catalog.ServiceCatalogV2(json.loads(catalog_header))
        return catalog.url_for(service_type=service_type,
                               interface=conf.native_api.nova_interface,
                               region_name=conf.native_api.nova_region)
    except (ValueError, ks_exceptions.EndpointNotFound,
            ks_exceptions.EmptyCatalog):
        return None


def compute_endpoint(conf, catalog_header):
    """Nova's URL from the configuration, else the caller's catalog.

    None when there is neither.
    """
    return (conf.native_api.nova_endpoint or
            catalog_endpoint(conf, catalog_header, 'compute'))


def image_endpoint(conf, catalog_header):
    """Glance's URL from the configuration, else the caller's catalog.

    None when there is neither.
    """
    return (conf.native_api.glance_endpoint or
            catalog_endpoint(conf, catalog_header, 'image'))


class Nova:
    """One caller's view of Nova."""

    def __init__(self, conf, context, catalog_header=None):
        self.conf = conf
        self.context = context
        endpoint = compute_endpoint(conf, catalog_header)
        if not endpoint:
            raise NovaError(503, 'No compute endpoint: set [native_api] '
                                 'nova_endpoint or register one in the '
                                 'catalog')
        self._image_endpoint = image_endpoint(conf, catalog_header)
        self._catalog_header = catalog_header
        self.session = ks_session.Session(
            auth=token_endpoint.Token(endpoint, context.auth_token),
            timeout=conf.native_api.create_timeout)
        self.api = adapter.Adapter(
            self.session, service_type='compute', endpoint_override=endpoint,
            default_microversion=conf.native_api.nova_microversion)

    # -- plumbing -----------------------------------------------------------

    def _call(self, method, path, body=None, ok=(200, 202, 204), params=None,
              api=None, service='Nova', microversion=None):
        """``method path`` on ``api`` (Nova's by default); the answer's JSON.

        keystoneauth encodes the query ``params``; ``microversion`` replaces
        the configured one. Raises NotFound for Nova's 404 (Glance's is no
        missing container), NovaError otherwise: a 4xx as the service said,
        a failure of the service as 502 or 503 (logged).
        """
        kwargs = {'microversion': microversion} if microversion else {}
        try:
            response = (api or self.api).request(
                path, method, json=body, params=params, raise_exc=False,
                **kwargs)
        except ks_exceptions.ConnectionError as exc:
            raise _failure(503, service, method, path,
                           '%s unreachable: %s' % (service, exc))
        except ks_exceptions.ClientException as exc:
            raise _failure(502, service, method, path,
                           '%s: %s' % (service, exc))
        if response.status_code == 404 and service == 'Nova':
            raise NotFound()
        if response.status_code not in ok:
            status = response.status_code
            message = '%s: %s' % (service, _error_message(response))
            if 400 <= status < 500:
                raise NovaError(status, message)
            raise _failure(502, service, method, path, message, response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _pages(self, path, key, params=None, microversion=None):
        """Every item of Nova's list ``path`` (``key`` in its answers).

        They are read page after page: Nova answers at most its ``max_limit``
        at a time, with a next link while more follow.
        """
        params = dict(params or {})
        while True:
            page = self._call('GET', path, params=params,
                              microversion=microversion)
            items = page[key]
            yield from items
            if not items or not any(link.get('rel') == 'next' for link
                                    in page.get(key + '_links') or ()):
                return
            params['marker'] = items[-1]['id']

    def is_container(self, server):
        flavor = server.get('flavor') or {}
        spec = self.conf.native_api.container_flavor_spec
        return (flavor.get('extra_specs') or {}).get(spec) == 'required'

    # -- servers ------------------------------------------------------------

    def list(self, all_projects=False, name=None, marker=None):
        """Container servers, in Nova's order, fetched as the caller iterates.

        Only those named exactly ``name`` if given, after the server ``marker``
        if given; a page is fetched at a time.
        """
        params = {}
        if all_projects:
            params['all_tenants'] = '1'
        if name is not None and name_filter(name):
            params['name'] = name_filter(name)
        if marker:
            params['marker'] = marker
        for server in self._pages('/servers/detail', 'servers', params):
            if (self.is_container(server) and
                    (name is None or server.get('name') == name)):
                yield server

    def get(self, ident, all_projects=False):
        """The container server with this UUID or name."""
        if is_uuid(ident):
            server = self._call('GET', '/servers/%s' % ident)['server']
            if not self.is_container(server):
                raise NotFound()
            return server
        matches = list(itertools.islice(
            self.list(all_projects=all_projects, name=ident), 2))
        if not matches:
            raise NotFound()
        if len(matches) > 1:
            raise NovaError(409, 'Multiple containers exist with the name '
                                 '%s; use the UUID' % ident)
        return matches[0]

    def host_of(self, server, hosts):
        """The compute host of ``server``, one of ``hosts``, or None."""
        host = server.get('OS-EXT-SRV-ATTR:host')
        if host:
            return host
        wanted = server.get('hostId')
        for candidate in hosts:
            if host_id(server.get('tenant_id', ''), candidate) == wanted:
                return candidate
        return None

    def rename(self, server_id, name):
        return self._call('PUT', '/servers/%s' % server_id,
                          {'server': {'name': name}})['server']

    def action(self, server_id, action, body=None):
        self._call('POST', '/servers/%s/action' % server_id,
                   {action: body})

    def delete(self, server_id, force=False):
        if force:
            self._call('POST', '/servers/%s/action' % server_id,
                       {'forceDelete': None})
        else:
            self._call('DELETE', '/servers/%s' % server_id)

    # -- hosts (admin) ------------------------------------------------------

    def container_hypervisors(self):
        """Nova's hypervisors that run containers, in detail.

        With their resources: Nova reports them up to microversion 2.87.
        """
        return [h for h in self._pages('/os-hypervisors/detail',
                                       'hypervisors',
                                       microversion=_HYPERVISOR_RESOURCES)
                if h.get('hypervisor_type') == HYPERVISOR_TYPE]

    def compute_services(self):
        return self._call('GET', '/os-services',
                          params={'binary': 'nova-compute'})['services']

    # -- create -------------------------------------------------------------

    def flavor_for(self, cpu, memory_mb, disk_gb=None, runtime=None,
                   privileged=False):
        """The smallest container flavor with the resources asked for.

        That is at least ``cpu`` vCPUs, ``memory_mb`` MiB and ``disk_gb`` GiB,
        with OCI runtime ``runtime`` (its zun:runtime extra spec) if one is
        asked for; privileged (zun:privileged) if and only if ``privileged``.
        Those are private flavors too: Nova lists them to admins only when
        asked (is_public none).
        """
        flavors = self._pages('/flavors/detail', 'flavors',
                              {'is_public': 'none'} if privileged else None)
        spec = self.conf.native_api.container_flavor_spec
        vcpus = int(math.ceil(cpu)) if cpu else 1

        def fits(flavor):
            specs = flavor.get('extra_specs') or {}
            return (specs.get(spec) == 'required' and
                    flavor['vcpus'] >= vcpus and
                    (not memory_mb or flavor['ram'] >= memory_mb) and
                    (not disk_gb or flavor.get('disk', 0) >= disk_gb) and
                    (not runtime or specs.get('zun:runtime') == runtime) and
                    (specs.get(PRIVILEGED_SPEC) == 'true') == privileged)
        fitting = [f for f in flavors if fits(f)]
        if not fitting:
            raise NovaError(400, 'No container flavor offers %s vCPU, %s MiB'
                                 ', %s GiB disk%s' % (
                                     vcpus, memory_mb or 'any',
                                     disk_gb or 'any',
                                     ' and runtime %s' % runtime
                                     if runtime else '') +
                                 (' that is privileged' if privileged
                                  else ''))
        return min(fitting, key=lambda f: (f['vcpus'], f['ram'],
                                           f.get('disk', 0)))

    def image_id(self, image):
        if is_uuid(image):
            return image
        if not self._image_endpoint:
            raise NovaError(400, 'Image %s: give a Glance image UUID (no '
                                 'image endpoint to look names up)' % image)
        glance = adapter.Adapter(self.session, service_type='image',
                                 endpoint_override=self._image_endpoint)
        # Glance reads "<operator>:<value>" (name=in:a,b): the operator
        # eq, given, keeps a name with a colon (cirros:latest) whole.
        images = self._call('GET', '/v2/images', api=glance,
                            service='Glance',
                            params={'name': 'eq:' + image,
                                    'limit': 2})['images']
        if len(images) != 1:
            raise NovaError(400, 'Image %s: %s' % (
                image, 'not found' if not images else 'ambiguous name'))
        return images[0]['id']

    def project_network(self):
        """Zun's network for a container without nets; None if none.

        As Zun picks it: the oldest network of the caller's project that is
        not shared, else the oldest shared one; external networks (an
        admin project owns ``public``) are never a container's. None also
        when the caller's catalog has no network endpoint.
        """
        neutron = self._neutron(required=False)
        if neutron is None:
            return None
        for params in ({'project_id': self.context.project_id,
                        'shared': False}, {'shared': True}):
            networks = self._call(
                'GET', '/v2.0/networks', api=neutron, service='Neutron',
                params=dict(params, **{'router:external': False}))[
                    'networks']
            if networks:
                return min(networks, key=lambda n: n['created_at'])['id']
        return None

    # -- Neutron, as the caller -------------------------------------------

    def _neutron(self, required=True):
        """Neutron's API (configuration, else catalog).

        None when there is none and it is not ``required``; else 503.
        """
        endpoint = (self.conf.native_api.neutron_endpoint or
                    catalog_endpoint(self.conf, self._catalog_header,
                                     'network'))
        if not endpoint:
            if not required:
                return None
            raise NovaError(503, 'No network endpoint: set [native_api] '
                                 'neutron_endpoint or register one in the '
                                 'catalog')
        return adapter.Adapter(self.session, service_type='network',
                               endpoint_override=endpoint)

    def _neutron_call(self, method, path, body=None, ok=(200, 201, 204),
                      params=None):
        return self._call(method, path, body, ok=ok, params=params,
                          api=self._neutron(), service='Neutron')

    def ports_of(self, server_ids):
        """The caller's Neutron ports of these servers: ``{id: [port]}``.

        None when there is no network endpoint, or Neutron does not answer
        (the views then show what Nova says: addresses by network name,
        groups by name). Asked 50 servers at a time (query length).
        """
        neutron = self._neutron(required=False)
        if neutron is None:
            return None
        server_ids = list(server_ids)
        found = {server_id: [] for server_id in server_ids}
        try:
            for start in range(0, len(server_ids), PORTS_PER_QUERY):
                for port in self._call(
                        'GET', '/v2.0/ports', api=neutron,
                        service='Neutron', params={
                            'device_id': server_ids[
                                start:start + PORTS_PER_QUERY],
                            'fields': PORT_FIELDS})['ports']:
                    found.setdefault(port['device_id'], []).append(port)
        except NovaError as exc:
            LOG.warning('Ports of %d containers not read: %s',
                        len(server_ids), exc.message)
            return None
        return found

    def network_id(self, network):
        """The id of the caller's network ``network`` (UUID or name)."""
        if is_uuid(network):
            return network
        if self._neutron(required=False) is None:
            raise NovaError(400, 'Network %s: give its UUID (no network '
                                 'endpoint to look names up)' % network)
        found = self._neutron_call('GET', '/v2.0/networks',
                                   params={'name': network})['networks']
        if len(found) != 1:
            raise NovaError(400 if found else 404, 'Network %s: %s' % (
                network, 'ambiguous name' if found else 'not found'))
        return found[0]['id']

    def expose_ports(self, name, ports):
        """A new security group ``name`` opening ``ports``; its id.

        ``ports`` are ``<port>/<protocol>``: an ingress rule each, from
        anywhere (IPv4, as Zun opens them). Nothing is left made when a rule
        is refused.
        """
        group = self._neutron_call('POST', '/v2.0/security-groups', {
            'security_group': {'name': name,
                               'description': EXPOSED_PORTS_GROUP}})[
                                   'security_group']
        try:
            for port in ports:
                number, protocol = port.split('/')
                self._neutron_call('POST', '/v2.0/security-group-rules', {
                    'security_group_rule': {
                        'security_group_id': group['id'],
                        'direction': 'ingress', 'ethertype': 'IPv4',
                        'protocol': protocol,
                        'port_range_min': int(number),
                        'port_range_max': int(number),
                        'remote_ip_prefix': '0.0.0.0/0'}})
        except NovaError:
            self.delete_security_group(group['id'])
            raise
        return group['id']

    def rename_security_group(self, group_id, name):
        self._neutron_call('PUT', '/v2.0/security-groups/%s' % group_id,
                           {'security_group': {'name': name}})

    def exposed_ports_groups(self, name=None):
        """The caller's project's groups of exposed ports (``name`` only)."""
        params = {'description': EXPOSED_PORTS_GROUP,
                  'project_id': self.context.project_id}
        if name:
            params['name'] = name
        return self._neutron_call('GET', '/v2.0/security-groups',
                                  params=params)['security_groups']

    def delete_security_group(self, group_id):
        """Delete it; False while ports use it (Neutron's 409)."""
        try:
            self._neutron_call('DELETE',
                               '/v2.0/security-groups/%s' % group_id)
        except NovaError as exc:
            if exc.status == 409:
                return False
            if exc.status != 404:
                raise
        return True

    # -- interfaces ---------------------------------------------------------

    def interfaces(self, server_id):
        return self._call('GET', '/servers/%s/os-interface'
                          % server_id)['interfaceAttachments']

    def attach_interface(self, server_id, net_id=None, port_id=None,
                         fixed_ip=None):
        attachment = {}
        if port_id:
            attachment['port_id'] = port_id
        else:
            attachment['net_id'] = net_id
            if fixed_ip:
                attachment['fixed_ips'] = [{'ip_address': fixed_ip}]
        try:
            return self._call('POST', '/servers/%s/os-interface' % server_id,
                              {'interfaceAttachment': attachment})[
                                  'interfaceAttachment']
        except NotFound:
            # The server was found just before: what Nova did not find is
            # the network or the port.
            raise NovaError(400, 'Network %s not found' % net_id
                            if net_id else 'Port %s not found' % port_id)

    def detach_interface(self, server_id, port_id):
        try:
            self._call('DELETE', '/servers/%s/os-interface/%s'
                       % (server_id, port_id))
        except NotFound:
            pass  # detached meanwhile

    def set_metadata(self, server_id, metadata):
        """Set the server metadata ``metadata``; other keys stay.

        A key whose value is None is deleted.
        """
        for key in [k for k, v in metadata.items() if v is None]:
            try:
                self._call('DELETE', '/servers/%s/metadata/%s'
                           % (server_id, key))
            except NotFound:
                pass
        kept = {k: v for k, v in metadata.items() if v is not None}
        if kept:
            self._call('POST', '/servers/%s/metadata' % server_id,
                       {'metadata': kept})

    def create(self, name, image, flavor_id, metadata, networks,
               availability_zone=None, security_groups=None, hostname=None,
               hints=None, user_data=None):
        """Boot a server; ``hints`` are Nova's scheduler hints."""
        body = {'name': name, 'imageRef': image, 'flavorRef': flavor_id,
                'metadata': metadata, 'networks': networks}
        if user_data:
            body['user_data'] = user_data
        if hostname:
            body['hostname'] = hostname
        if availability_zone:
            body['availability_zone'] = availability_zone
        if security_groups:
            body['security_groups'] = [{'name': g} for g in security_groups]
        request = {'server': body}
        if hints:
            request['os:scheduler_hints'] = hints
        server = self._call('POST', '/servers', request)['server']
        return self._call('GET', '/servers/%s' % server['id'])['server']


def _error_message(response):
    """What a failed answer of Nova or Glance says, shortened.

    Nova's answer is ``{"badRequest": {"message"}}``, Glance's is text.
    """
    try:
        error = next(iter(response.json().values()))
        message = error.get('message') or response.text
    except (ValueError, AttributeError, StopIteration):
        message = response.text
    return message.strip()[:_MAX_ERROR_TEXT]


def _failure(status, service, method, path, message, response=None):
    """A NovaError for a failure of Nova or Glance, logged with its cause.

    The caller sees only the message.
    """
    request_id = response is not None and (
        response.headers.get('x-openstack-request-id') or
        response.headers.get('x-compute-request-id'))
    LOG.error('%s %s failed (%s answered %s, request %s): %s', method,
              path, service,
              response.status_code if response is not None else 'nothing',
              request_id or '-', message)
    return NovaError(status, message)
