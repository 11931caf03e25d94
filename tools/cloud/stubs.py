"""Glance and Neutron stand-ins for the loopback cloud (tools/cloud.sh).

Not Glance, not Neutron: just enough HTTP for nova-api, nova-compute and
OpenStackClient to boot and show servers with ``--nic none`` and the fake
virt driver (which never downloads an image).

  glance:  version document, one image (IMAGE_ID, "cirros"), its schema.
  neutron: version documents, every ``GET /v2.0/<collection>`` an empty
           list, quotas, extensions; DELETE and PUT succeed.

Usage: python stubs.py GLANCE_PORT NEUTRON_PORT
"""

import json
import sys
import threading
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


class Neutron(Handler):
    kind = "neutron"

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith(".json"):
            path = path[:-5]
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
        parts = path.split("/")[2:]
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
        if len(parts) == 1:
            return self.reply(200, {parts[0].replace("-", "_"): []})
        return self.reply(
            404, {"NeutronError": {"message": "not found (neutron stub)"}}
        )

    def do_DELETE(self):
        self.reply(204)

    def do_PUT(self):
        self.reply(200, {})


def main():
    servers = [
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Glance),
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Neutron),
    ]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
