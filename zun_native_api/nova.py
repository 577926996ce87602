"""Nova, called with the caller's own token (keystoneauth1).

Containers are Nova servers whose flavor carries the container spec
(``[native_api] container_flavor_spec=required``); Nova knows every server
and the host it runs on, so list merges nothing by hand.
"""

import hashlib
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

_UUID = re.compile(r'^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$')


def is_uuid(value):
    return bool(_UUID.match(value or ''))


class NovaError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class NotFound(NovaError):
    def __init__(self, message='Container not found'):
        super().__init__(404, message)


def host_id(project_id, host):
    """Nova's hostId of a server of ``project_id`` on ``host``
    (nova/api/openstack/compute/views/servers.py), which every caller
    sees, admin or not."""
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
    """Nova's URL from the configuration, else the caller's catalog; None
    when there is neither."""
    return (conf.native_api.nova_endpoint or
            catalog_endpoint(conf, catalog_header, 'compute'))


def image_endpoint(conf, catalog_header):
    """Glance's URL from the configuration, else the caller's catalog;
    None when there is neither."""
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
        self.session = ks_session.Session(
            auth=token_endpoint.Token(endpoint, context.auth_token),
            timeout=conf.native_api.create_timeout)
        self.api = adapter.Adapter(
            self.session, service_type='compute', endpoint_override=endpoint,
            default_microversion=conf.native_api.nova_microversion)

    # -- plumbing -----------------------------------------------------------

    def _call(self, method, path, body=None, ok=(200, 202, 204)):
        try:
            response = self.api.request(path, method, json=body,
                                        raise_exc=False)
        except ks_exceptions.ConnectionError as exc:
            raise NovaError(503, 'Nova unreachable: %s' % exc)
        except ks_exceptions.ClientException as exc:
            raise NovaError(502, 'Nova: %s' % exc)
        if response.status_code == 404:
            raise NotFound()
        if response.status_code not in ok:
            try:
                error = next(iter(response.json().values()))
                message = error.get('message') or response.text
            except (ValueError, AttributeError, StopIteration):
                message = response.text
            status = response.status_code
            raise NovaError(status if 400 <= status < 500 else 502,
                            'Nova: %s' % message)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def is_container(self, server):
        flavor = server.get('flavor') or {}
        spec = self.conf.native_api.container_flavor_spec
        return (flavor.get('extra_specs') or {}).get(spec) == 'required'

    # -- servers ------------------------------------------------------------

    def list(self, all_projects=False, name=None):
        query = '/servers/detail'
        params = []
        if all_projects:
            params.append('all_tenants=1')
        if name:
            params.append('name=^%s$' % re.escape(name))
        if params:
            query += '?' + '&'.join(params)
        servers = self._call('GET', query)['servers']
        return [s for s in servers if self.is_container(s)]

    def get(self, ident, all_projects=False):
        """The container server with this UUID or name."""
        if is_uuid(ident):
            server = self._call('GET', '/servers/%s' % ident)['server']
            if not self.is_container(server):
                raise NotFound()
            return server
        matches = self.list(all_projects=all_projects, name=ident)
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

    # -- create -------------------------------------------------------------

    def flavor_for(self, cpu, memory_mb, disk_gb=None, runtime=None):
        """The smallest container flavor with at least ``cpu`` vCPUs,
        ``memory_mb`` MiB and ``disk_gb`` GiB, with OCI runtime
        ``runtime`` (its zun:runtime extra spec) if one is asked for."""
        flavors = self._call('GET', '/flavors/detail')['flavors']
        spec = self.conf.native_api.container_flavor_spec
        vcpus = int(math.ceil(cpu)) if cpu else 1

        def fits(flavor):
            specs = flavor.get('extra_specs') or {}
            return (specs.get(spec) == 'required' and
                    flavor['vcpus'] >= vcpus and
                    (not memory_mb or flavor['ram'] >= memory_mb) and
                    (not disk_gb or flavor.get('disk', 0) >= disk_gb) and
                    (not runtime or specs.get('zun:runtime') == runtime))
        fitting = [f for f in flavors if fits(f)]
        if not fitting:
            raise NovaError(400, 'No container flavor offers %s vCPU, %s MiB'
                                 ', %s GiB disk%s' % (
                                     vcpus, memory_mb or 'any',
                                     disk_gb or 'any',
                                     ' and runtime %s' % runtime
                                     if runtime else ''))
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
        response = glance.get('/v2/images', params={'name': image},
                              raise_exc=False)
        images = response.json().get('images', []) if response.ok else []
        if len(images) != 1:
            raise NovaError(400, 'Image %s: %s' % (
                image, 'not found' if not images else 'ambiguous name'))
        return images[0]['id']

    def create(self, name, image, flavor_id, metadata, networks,
               availability_zone=None, security_groups=None):
        body = {'name': name, 'imageRef': image, 'flavorRef': flavor_id,
                'metadata': metadata, 'networks': networks}
        if availability_zone:
            body['availability_zone'] = availability_zone
        if security_groups:
            body['security_groups'] = [{'name': g} for g in security_groups]
        server = self._call('POST', '/servers', {'server': body})['server']
        return self._call('GET', '/servers/%s' % server['id'])['server']
