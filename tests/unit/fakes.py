"""One fake of Nova's compute API for the unit tests (requests-mock).

``FakeNova`` answers as Nova 2.61 does for what aggregate-pci calls:
host aggregates (list, create with 409 on a duplicate name, delete with 400
while hosts remain), the aggregate actions (add_host: 404 for an unknown
compute host, 409 if already present; remove_host: 404 if absent;
set_metadata merging, null deleting), ``flavors/detail`` with marker
pagination and ``os-services``.  A failure can be injected at call N.

Tests override single routes by registering on the same ``requests_mock``
mocker after the fake: requests-mock tries the newest matcher first.
"""

from __future__ import annotations

import collections.abc
import copy
import re

import requests

URL = "http://nova.test/v2.1"
A100 = '{"product_id":"20b5","vendor_id":"10de"}'
T4 = '{"product_id":"1eb8","vendor_id":"10de"}'
NIC = '{"product_id":"101e","vendor_id":"15b3"}'
COMPUTE_HOSTS = ("c1", "c2", "c3", "c4")


def aggregate(id_, name, hosts=(), metadata=None, uuid=None):
    """An aggregate as Nova's API shows it."""
    return {
        "id": id_,
        "name": name,
        "uuid": uuid or "uuid-%d" % id_,
        "hosts": list(hosts),
        "metadata": metadata or {},
        "availability_zone": None,
        "deleted": False,
        "created_at": "2024-01-01T00:00:00",
        "updated_at": None,
        "deleted_at": None,
    }


def error(context, status, kind, message):
    """Nova's error body, e.g. ``{"conflictingRequest": {...}}``."""
    context.status_code = status
    return {kind: {"code": status, "message": message}}


class ById(collections.abc.MutableMapping):
    """The aggregate list seen as ``{id: aggregate}`` (order kept)."""

    def __init__(self, items):
        self._items = items

    def _index(self, agg_id):
        for i, a in enumerate(self._items):
            if a["id"] == agg_id:
                return i
        raise KeyError(agg_id)

    def __getitem__(self, agg_id):
        return self._items[self._index(agg_id)]

    def __setitem__(self, agg_id, agg):
        try:
            self._items[self._index(agg_id)] = agg
        except KeyError:
            self._items.append(agg)

    def __delitem__(self, agg_id):
        del self._items[self._index(agg_id)]

    def __iter__(self):
        return iter([a["id"] for a in self._items])

    def __len__(self):
        return len(self._items)


class FakeNova:
    """Nova's compute API over ``mock``, with a failure injected at call N.

    ``aggregates`` is the list Nova holds (tests may change it in place;
    ``aggs`` is the same list by id), ``flavors`` the Nova flavors (without
    ``links``), served ``page_size`` at a time after ``marker`` (all of
    them when None); ``servers`` as ``servers/detail`` shows them at 2.61
    (``flavor`` with ``extra_specs``).  ``compute_hosts`` are the nova-compute services (a
    nova-conductor runs on ``ctl1``); adding any other host is refused as
    Nova refuses it.

    ``fail_mode`` "before": call N fails without effect; "after": call N
    takes effect but its response is lost (connection error).  ``calls``
    counts the calls the fake answered.
    """

    def __init__(
        self,
        mock,
        aggregates=(),
        compute_hosts=COMPUTE_HOSTS,
        flavors=(),
        page_size=None,
        servers=(),
    ):
        self.aggregates = list(aggregates)
        self.aggs = ById(self.aggregates)
        self.flavors = list(flavors)
        self.servers = list(servers)
        self.page_size = page_size
        self.compute_hosts = list(compute_hosts)
        self.calls = 0
        self.fail_at = None
        self.fail_mode = "before"
        self.drop_host_adds = False
        mock.get(URL + "/os-aggregates", json=self._guard(self._list))
        mock.get(URL + "/os-services", json=self._guard(self._services))
        mock.get(URL + "/flavors/detail", json=self._guard(self._flavors))
        mock.get(URL + "/servers/detail", json=self._guard(self._servers))
        mock.post(URL + "/os-aggregates", json=self._guard(self._create))
        mock.post(
            re.compile(URL + r"/os-aggregates/\d+/action"),
            json=self._guard(self._action),
        )
        mock.delete(
            re.compile(URL + r"/os-aggregates/\d+"), json=self._guard(self._delete)
        )

    def state(self):
        """{name: (hosts, metadata)}: what the tests compare."""
        return {
            a["name"]: (sorted(a["hosts"]), dict(a["metadata"]))
            for a in self.aggregates
        }

    def _guard(self, handler):
        def reply(request, context):
            self.calls += 1
            failing = self.calls == self.fail_at
            if failing and self.fail_mode == "before":
                raise requests.exceptions.ConnectionError("injected before")
            body = handler(request, context)
            if failing:
                raise requests.exceptions.ConnectionError("injected after")
            return body

        return reply

    @staticmethod
    def _agg_id(request):
        return int(request.path.split("/")[3])

    def _list(self, request, context):
        return {"aggregates": copy.deepcopy(self.aggregates)}

    def _services(self, request, context):
        services = [
            {
                "id": i,
                "binary": "nova-compute",
                "host": h,
                "zone": "nova",
                "status": "enabled",
                "state": "up",
            }
            for i, h in enumerate(self.compute_hosts, 1)
        ]
        services.append(
            {
                "id": 0,
                "binary": "nova-conductor",
                "host": "ctl1",
                "zone": "internal",
                "status": "enabled",
                "state": "up",
            }
        )
        binary = request.qs.get("binary")
        return {
            "services": [s for s in services if not binary or s["binary"] in binary]
        }

    def _flavors(self, request, context):
        marker = request.qs.get("marker", [None])[0]
        ids = [str(f["id"]).lower() for f in self.flavors]
        start = ids.index(marker) + 1 if marker in ids else 0
        if marker is not None and marker not in ids:
            return error(context, 400, "badRequest", "marker %s not found" % marker)
        end = None if self.page_size is None else start + self.page_size
        page = self.flavors[start:end]
        return {"flavors": [dict(f, links=[]) for f in copy.deepcopy(page)]}

    def _servers(self, request, context):
        """``servers/detail`` (all projects): after ``marker``, all at once."""
        marker = request.qs.get("marker", [None])[0]
        ids = [str(s["id"]).lower() for s in self.servers]
        start = ids.index(marker) + 1 if marker in ids else 0
        return {"servers": copy.deepcopy(self.servers[start:])}

    def _create(self, request, context):
        name = request.json()["aggregate"]["name"]
        if any(a["name"] == name for a in self.aggregates):
            return error(context, 409, "conflictingRequest", "exists")
        new_id = max(self.aggs, default=0) + 1
        new = {
            "id": new_id,
            "name": name,
            "uuid": "u%d" % new_id,
            "hosts": [],
            "metadata": {},
            "availability_zone": None,
        }
        self.aggregates.append(new)
        # as Nova: the create response has no hosts or metadata
        return {
            "aggregate": {
                k: v for k, v in new.items() if k not in ("hosts", "metadata")
            }
        }

    def _missing(self, request, context):
        agg_id = self._agg_id(request)
        if agg_id in self.aggs:
            return None
        return error(
            context, 404, "itemNotFound", "Aggregate %d could not be found." % agg_id
        )

    def _action(self, request, context):
        missing = self._missing(request, context)
        if missing:
            return missing
        a = self.aggs[self._agg_id(request)]
        body = request.json()
        if "add_host" in body:
            host = body["add_host"]["host"]
            if host not in self.compute_hosts:  # as Nova: ComputeHostNotFound
                return error(
                    context,
                    404,
                    "itemNotFound",
                    "Compute host %s could not be found." % host,
                )
            if host in a["hosts"]:  # as Nova: AggregateHostExists
                return error(
                    context,
                    409,
                    "conflictingRequest",
                    "host %s already in aggregate" % host,
                )
            if not self.drop_host_adds:
                a["hosts"].append(host)
        elif "remove_host" in body:
            host = body["remove_host"]["host"]
            if host not in a["hosts"]:  # as Nova: AggregateHostNotFound
                return error(
                    context, 404, "itemNotFound", "Cannot remove host %s" % host
                )
            a["hosts"].remove(host)
        else:
            for k, v in body["set_metadata"]["metadata"].items():
                if v is None:
                    a["metadata"].pop(k, None)
                else:
                    a["metadata"][k] = v
        return {"aggregate": copy.deepcopy(a)}

    def _delete(self, request, context):
        missing = self._missing(request, context)
        if missing:
            return missing
        a = self.aggs[self._agg_id(request)]
        if a["hosts"]:  # as Nova: InvalidAggregateAction
            return error(context, 400, "badRequest", "Host aggregate is not empty")
        del self.aggs[self._agg_id(request)]
        context.status_code = 200
        return {}
