"""Glance and Neutron stand-ins for the loopback cloud (tools/cloud/cloud.sh).

Not Glance, not Neutron: just enough HTTP for nova-api, nova-compute and
OpenStackClient to boot, show and delete servers with the fake virt driver
(which never downloads an image nor plugs a VIF), either with ``--nic none``
or with a pre-created SR-IOV port (``--port``).

glance: version document, one image (IMAGE_ID, "cirros"), its schema.

neutron: a small in-memory Neutron modelled on Nova's own functional
NeutronFixture (nova/tests/fixtures/neutron.py):
  * networks (provider:network_type / physical_network / segmentation_id
    stored as given), subnets (IPv4/IPv6 ranges; a new port gets the next
    free address of its network's first subnet) and ports:
    POST, GET one, GET list with Neutron's ``key=value`` filters (repeated
    keys OR) and ``fields=`` projection, DELETE (a network with ports: 409);
    PUT on ports (what Nova does to bind and unbind: ``device_id``,
    ``device_owner``, ``binding:host_id``, ``binding:profile``).  A port
    with a ``binding:host_id`` is bound as ML2's SR-IOV driver would bind
    it: ``binding:vif_type`` hw_veb, ``vif_details.vlan`` the network's
    segment, status ACTIVE; clearing the host unbinds it.
  * new resources belong to the project of the caller's token (the stub
    asks keystone, where a token may validate itself) unless the body names
    one; Nova lists an instance's ports filtered by its project.
  * no extensions are advertised (Nova then binds with PUT on the port, the
    pre-"binding-extended" way, and reads provider:physical_network from
    the network); every other ``GET /v2.0/<collection>`` (security groups,
    floating IPs, ...) is an empty list; quotas are unlimited.
  Not implemented: allocation pools, DHCP ports, security groups, routers, floating IPs, trunks, QoS and resource requests,
  multi-segment networks, port binding objects (``/bindings``), policy
  (any valid token may do anything), notifications to Nova (the fake
  driver does not wait for network-vif-plugged events).

Usage: python stubs.py GLANCE_PORT NEUTRON_PORT KEYSTONE_URL
"""

import ipaddress
import json
import random
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IMAGE_ID = "5d0e6c8a-2d4e-4f8a-9a55-6c2b1c1f0a01"
IMAGE = {
    "id": IMAGE_ID,
    "name": "cirros",
    "status": "active",
    "visibility": "public",
    "protected": False,
    "os_hidden": False,
    "disk_format": "raw",
    "container_format": "bare",
    "size": 1048576,
    "virtual_size": 1048576,
    "min_disk": 0,
    "min_ram": 0,
    "checksum": "0" * 32,
    "owner": "admin",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "tags": [],
    "file": f"/v2/images/{IMAGE_ID}/file",
    "self": f"/v2/images/{IMAGE_ID}",
    "schema": "/v2/schemas/image",
    "os_hash_algo": None,
    "os_hash_value": None,
}
# Nova keeps only the schema's own properties as image attributes (the rest
# become image properties), so every field of IMAGE is declared.
IMAGE_SCHEMA = {
    "name": "image",
    "properties": {k: {} for k in IMAGE},
    "additionalProperties": {"type": "string"},
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    kind = "?"

    def log_message(self, fmt, *args):
        sys.stderr.write(
            f"{self.kind} {self.command} {self.path} " + (fmt % args) + "\n"
        )

    def reply(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def base(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"


class Glance(Handler):
    kind = "glance"

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path in ("", "/versions"):
            return self.reply(
                200,
                {
                    "versions": [
                        {
                            "id": "v2.16",
                            "status": "CURRENT",
                            "links": [{"rel": "self", "href": self.base() + "/v2/"}],
                        }
                    ]
                },
            )
        if path == "/v2/schemas/image":
            return self.reply(200, IMAGE_SCHEMA)
        if path == "/v2/images":
            return self.reply(
                200,
                {
                    "images": [IMAGE],
                    "schema": "/v2/schemas/images",
                    "first": "/v2/images",
                },
            )
        if path == f"/v2/images/{IMAGE_ID}":
            return self.reply(200, IMAGE)
        return self.reply(404, {"message": "not found (glance stub)"})


class NeutronState:
    """Networks, subnets and ports, in memory (lost when the stub stops)."""

    def __init__(self, keystone_url):
        self.lock = threading.Lock()
        self.keystone_url = keystone_url
        self.tokens = {}  # token -> project id (tokens are random, never logged)
        self.collections = {"networks": {}, "subnets": {}, "ports": {}}

    def project_of(self, token):
        """The project of a keystone token (keystone lets a token validate
        itself), or None when keystone refuses it."""
        if not token:
            return None
        with self.lock:
            if token in self.tokens:
                return self.tokens[token]
        req = urllib.request.Request(
            self.keystone_url + "/v3/auth/tokens?nocatalog",
            headers={"X-Auth-Token": token, "X-Subject-Token": token},
        )
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                body = json.load(resp)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            sys.stderr.write(f"neutron: keystone refused a token: {exc}\n")
            return None
        project = (body["token"].get("project") or {}).get("id")
        with self.lock:
            self.tokens[token] = project
        return project


def identity(body, project):
    """The fields every Neutron resource has (tags: none)."""
    return {
        "id": str(uuid.uuid4()),
        "name": body.get("name", ""),
        "description": body.get("description", ""),
        "tenant_id": project,
        "project_id": project,
        "tags": [],
    }


def new_network(body, project):
    """A network as Neutron ML2 shows it (provider extension included)."""
    return {
        **identity(body, project),
        "status": "ACTIVE",
        "admin_state_up": body.get("admin_state_up", True),
        "shared": body.get("shared", False),
        "router:external": body.get("router:external", False),
        "port_security_enabled": body.get("port_security_enabled", True),
        "mtu": body.get("mtu", 1500),
        "subnets": [],
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "provider:network_type": body.get("provider:network_type"),
        "provider:physical_network": body.get("provider:physical_network"),
        # Neutron converts it: OpenStackClient sends the option's text.
        "provider:segmentation_id": (
            int(body["provider:segmentation_id"])
            if body.get("provider:segmentation_id") is not None
            else None
        ),
    }


def new_subnet(body, project):
    """A subnet: gateway the first host of the range unless given."""
    first = next(iter(ipaddress.ip_network(body["cidr"], strict=False).hosts()), None)
    return {
        **identity(body, project),
        "network_id": body["network_id"],
        "ip_version": body.get("ip_version", 4),
        "cidr": body.get("cidr"),
        "gateway_ip": body.get("gateway_ip", first and str(first)),
        "enable_dhcp": body.get("enable_dhcp", True),
        "allocation_pools": body.get("allocation_pools", []),
        "dns_nameservers": [],
        "host_routes": [],
    }


def new_port(body, project):
    """An unbound port (no security groups; fixed_ips: see allocate_ip)."""
    mac = "fa:16:3e:" + ":".join("%02x" % random.randint(0, 255) for _ in range(3))
    return {
        **identity(body, project),
        "network_id": body["network_id"],
        "mac_address": body.get("mac_address", mac),
        "admin_state_up": body.get("admin_state_up", True),
        "status": "DOWN",
        "device_id": body.get("device_id", ""),
        "device_owner": body.get("device_owner", ""),
        "fixed_ips": [],
        "ip_allocation": "immediate",
        "allowed_address_pairs": [],
        "extra_dhcp_opts": [],
        "security_groups": [],
        "port_security_enabled": False,
        "resource_request": None,
        "binding:vnic_type": body.get("binding:vnic_type", "normal"),
        "binding:host_id": "",
        "binding:profile": body.get("binding:profile") or {},
        "binding:vif_type": "unbound",
        "binding:vif_details": {},
    }


NEW = {"networks": new_network, "subnets": new_subnet, "ports": new_port}


def allocate_ip(port, body, state):
    """Neutron's IPAM, reduced: the port gets the lowest free address of its
    network's first subnet (after the gateway); ``fixed_ips: []`` in the
    request makes an IP-less port (``ip_allocation`` none); a network
    without subnets gives no address (Nova then refuses the port, as with
    real Neutron)."""
    if body.get("fixed_ips") == []:
        port["ip_allocation"] = "none"
        return
    net = state.collections["networks"][port["network_id"]]
    if not net["subnets"]:
        return
    subnet = state.collections["subnets"][net["subnets"][0]]
    used = {subnet["gateway_ip"]} | {
        ip["ip_address"]
        for p in state.collections["ports"].values()
        for ip in p["fixed_ips"]
        if ip["subnet_id"] == subnet["id"]
    }
    for host in ipaddress.ip_network(subnet["cidr"], strict=False).hosts():
        if str(host) not in used:
            port["fixed_ips"] = [{"subnet_id": subnet["id"], "ip_address": str(host)}]
            return


def matches(resource, query):
    """Neutron's list filters: every key equal to one of its values."""
    for key, wanted in query.items():
        if key in ("fields", "limit", "marker", "sort_key", "sort_dir"):
            continue
        value = resource.get(key)
        if isinstance(value, bool):
            if str(value).lower() not in (w.lower() for w in wanted):
                return False
        elif value is None or str(value) not in wanted:
            return False
    return True


def project_fields(resource, query):
    fields = query.get("fields")
    if not fields:
        return resource
    return {k: v for k, v in resource.items() if k in fields or k == "id"}


def update_port(port, body, network):
    """Apply a PUT; a binding:host_id binds the port (ML2 with an SR-IOV
    mechanism driver: vif_type hw_veb, the network's VLAN), an empty one
    unbinds it."""
    port.update({k: v for k, v in body.items() if k not in ("id", "network_id")})
    if "binding:profile" in body:
        port["binding:profile"] = body["binding:profile"] or {}
    host = port.get("binding:host_id") or ""
    port["binding:host_id"] = host
    if host:
        port["binding:vif_type"] = "hw_veb"
        segment = network.get("provider:segmentation_id") if network else None
        port["binding:vif_details"] = {
            "port_filter": False,
            "vlan": str(segment or 0),
            "connectivity": "l2",
        }
        port["status"] = "ACTIVE"
    else:
        port["binding:vif_type"] = "unbound"
        port["binding:vif_details"] = {}
        port["status"] = "DOWN"


class Neutron(Handler):
    kind = "neutron"
    state = None  # NeutronState, set by main()

    def route(self):
        """(path, [collection, id...], query) of the request."""
        path, _, qs = self.path.partition("?")
        path = path.rstrip("/")
        if path.endswith(".json"):
            path = path[:-5]
        query = {}
        for key, value in urllib.parse.parse_qsl(qs, keep_blank_values=True):
            query.setdefault(key.replace("[]", ""), []).append(value)
        return path, path.split("/")[2:], query

    def error(self, code, kind, message):
        """A Neutron error body (what the clients turn into exceptions)."""
        body = {"type": kind, "message": message + " (neutron stub)", "detail": ""}
        return self.reply(code, {"NeutronError": body})

    def not_found(self, what):
        return self.error(404, "NotFound", f"{what} could not be found")

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def do_GET(self):
        path, parts, query = self.route()
        if path == "":
            return self.reply(
                200,
                {
                    "versions": [
                        {
                            "id": "v2.0",
                            "status": "CURRENT",
                            "links": [{"rel": "self", "href": self.base() + "/v2.0/"}],
                        }
                    ]
                },
            )
        if path == "/v2.0":
            return self.reply(200, {"resources": []})
        if parts and parts[0] == "quotas":
            return self.reply(
                200,
                {
                    "quota": {
                        "port": -1,
                        "network": -1,
                        "subnet": -1,
                        "security_group": -1,
                        "security_group_rule": -1,
                    }
                },
            )
        store = self.state.collections.get(parts[0]) if parts else None
        if store is None:
            if len(parts) == 1:
                return self.reply(200, {parts[0].replace("-", "_"): []})
            return self.not_found(path)
        singular = parts[0][:-1]
        with self.state.lock:
            if len(parts) == 1:
                found = [
                    project_fields(r, query)
                    for r in store.values()
                    if matches(r, query)
                ]
                return self.reply(200, {parts[0]: found})
            if len(parts) == 2 and parts[1] in store:
                return self.reply(
                    200, {singular: project_fields(store[parts[1]], query)}
                )
        return self.not_found(f"{singular} {parts[1:]}")

    def do_POST(self):
        _, parts, _ = self.route()
        if len(parts) != 1 or parts[0] not in NEW:
            return self.not_found(self.path)
        singular = parts[0][:-1]
        project = self.state.project_of(self.headers.get("X-Auth-Token"))
        if project is None:
            return self.reply(401, {"error": "authentication required"})
        body = self.body().get(singular) or {}
        project = body.get("project_id") or body.get("tenant_id") or project
        with self.state.lock:
            networks = self.state.collections["networks"]
            if singular != "network" and body.get("network_id") not in networks:
                return self.not_found(f"network {body.get('network_id')}")
            try:
                resource = NEW[parts[0]](body, project)
            except (KeyError, ValueError) as exc:
                return self.error(400, "BadRequest", f"invalid {singular}: {exc!r}")
            if singular == "port":
                allocate_ip(resource, body, self.state)
            self.state.collections[parts[0]][resource["id"]] = resource
            if singular == "subnet":
                networks[body["network_id"]]["subnets"].append(resource["id"])
            return self.reply(201, {singular: resource})

    def do_PUT(self):
        _, parts, _ = self.route()
        store = self.state.collections.get(parts[0]) if parts else None
        if store is None:  # what the empty stub always answered
            return self.reply(200, {})
        if len(parts) != 2 or parts[1] not in store:
            return self.not_found(self.path)
        singular = parts[0][:-1]
        body = self.body().get(singular) or {}
        with self.state.lock:
            resource = store[parts[1]]
            if singular == "port":
                network = self.state.collections["networks"].get(resource["network_id"])
                update_port(resource, body, network)
            else:
                resource.update({k: v for k, v in body.items() if k != "id"})
            return self.reply(200, {singular: resource})

    def do_DELETE(self):
        _, parts, _ = self.route()
        store = self.state.collections.get(parts[0]) if parts else None
        if store is None:  # what the empty stub always answered
            return self.reply(204)
        if len(parts) != 2 or parts[1] not in store:
            return self.not_found(self.path)
        with self.state.lock:
            if parts[0] == "networks" and any(
                p["network_id"] == parts[1]
                for p in self.state.collections["ports"].values()
            ):
                return self.error(
                    409,
                    "NetworkInUse",
                    f"Unable to complete operation on network {parts[1]}: "
                    "one or more ports are in use",
                )
            resource = store.pop(parts[1])
            if parts[0] == "networks":
                subnets = self.state.collections["subnets"]
                for sid in resource["subnets"]:
                    subnets.pop(sid, None)
            elif parts[0] == "subnets":
                net = self.state.collections["networks"].get(resource["network_id"])
                if net and parts[1] in net["subnets"]:
                    net["subnets"].remove(parts[1])
        return self.reply(204)


def main():
    Neutron.state = NeutronState(sys.argv[3].rstrip("/"))
    servers = [
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Glance),
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Neutron),
    ]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
