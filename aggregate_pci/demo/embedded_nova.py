"""The embedded Nova: a real Nova in-process for the demo, the docs'
walkthroughs and the functional tests.

API, conductor, scheduler with AggregatePciFilter, in-process placement and
computes with fake libvirt PCI devices, from the functional-test harness the
``nova`` wheel ships, plus what drives it as an operator would (keystoneauth1
sessions, tokens, a nova.conf for a separate process).  Importing this module
needs Nova and its test dependencies; only the demo, the tests and tools
import it (tests/pure/test_layering.py).
"""

import collections
import contextlib
import os
import sqlite3
from unittest import mock

import fixtures
import nova.tests.functional  # noqa: F401  (must come before other Nova imports)
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session
from nova import context as nova_context
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.tests.functional.libvirt import base
from oslo_serialization import jsonutils

FILTER_PATH = "aggregate_pci.filter.AggregatePciFilter"

GPU_A100 = ("10de", "20b5")
GPU_T4 = ("10de", "1eb8")
NIC = ("15b3", "101e")


def gpu_host(bus_products, numa_node=0, info=None, iommu_base=40):
    """A HostPCIDevicesInfo (``info``, or a new empty one) with one type-PCI
    device per (bus, (vendor, product)), IOMMU groups from ``iommu_base``."""
    if info is None:
        info = fakelibvirt.HostPCIDevicesInfo(num_pci=0, num_pfs=0, num_vfs=0)
    for i, (bus, (vendor, product)) in enumerate(bus_products):
        info.add_device(
            dev_type="PCI",
            bus=bus,
            slot=0,
            function=0,
            iommu_group=iommu_base + i,
            numa_node=numa_node,
            vend_id=vendor,
            prod_id=product,
        )
    return info


class AggregatePciTestBase(base.ServersTestBase):
    """Subclasses set PCI_DEVICE_SPEC / PCI_ALIAS (lists of dicts)."""

    ADDITIONAL_FILTERS = [
        "AggregatePciFilter",
        "NUMATopologyFilter",
        "PciPassthroughFilter",
    ]
    PCI_DEVICE_SPEC = [{"vendor_id": v, "product_id": p} for v, p in (GPU_A100, GPU_T4)]
    PCI_ALIAS = [
        {
            "name": "a100",
            "vendor_id": GPU_A100[0],
            "product_id": GPU_A100[1],
            "device_type": "type-PCI",
        },
        {
            "name": "t4",
            "vendor_id": GPU_T4[0],
            "product_id": GPU_T4[1],
            "device_type": "type-PCI",
        },
    ]
    PCI_IN_PLACEMENT = False
    ADMIN_API = True
    microversion = "latest"

    def setUp(self):
        self.flags(
            device_spec=[jsonutils.dumps(x) for x in self.PCI_DEVICE_SPEC],
            alias=[jsonutils.dumps(x) for x in self.PCI_ALIAS],
            group="pci",
        )
        self.flags(
            available_filters=["nova.scheduler.filters.all_filters", FILTER_PATH],
            group="filter_scheduler",
        )
        if self.PCI_IN_PLACEMENT:
            self.flags(group="pci", report_in_placement=True)
            self.flags(group="filter_scheduler", pci_in_placement=True)
        super().setUp()
        self.ctxt = nova_context.get_admin_context()
        self.filter_calls = collections.Counter()
        host_manager = self.scheduler.manager.host_manager
        ours = [
            f
            for f in host_manager.enabled_filters
            if type(f).__name__ == "AggregatePciFilter"
        ]
        self.assertEqual(1, len(ours), "AggregatePciFilter is not enabled")
        self.agg_filter = ours[0]
        orig = self.agg_filter.filter_all

        def counting_filter_all(objs, spec):
            self.filter_calls["filter_all"] += 1
            return orig(objs, spec)

        self.agg_filter.filter_all = counting_filter_all

    # -- helpers ---------------------------------------------------------

    def keystone_session(self):
        """A keystoneauth1 session on the in-process API, as an admin."""
        return ks_session.Session(
            auth=noauth.NoAuth(endpoint=self.api.base_url),
            additional_headers={
                "X-Auth-User": "admin",
                "X-User-Id": "admin",
                "X-Auth-Project-Id": self.api.project_id,
                "X-Roles": "reader,member,admin",
            },
        )

    def make_aggregate(self, name, hosts=(), metadata=None):
        agg = self.admin_api.post_aggregate({"aggregate": {"name": name}})
        for host in hosts:
            self.admin_api.add_host_to_aggregate(agg["id"], host)
        if metadata:
            self.set_metadata(agg["id"], metadata)
        return agg

    def set_metadata(self, agg_id, metadata):
        return self.admin_api.post_aggregate_action(
            agg_id, {"set_metadata": {"metadata": metadata}}
        )

    def nova_flavor(self, spec, name="pci-flavor"):
        """A Nova flavor whose ``pci_passthrough:alias`` is ``spec``."""
        extra = {"pci_passthrough:alias": spec}
        return self._create_flavor(
            name=name + "-" + spec.replace(":", "-").replace(",", "_"), extra_spec=extra
        )

    def boot(self, flavor_id, expected_state="ACTIVE", **kwargs):
        server = self._create_server(
            flavor_id=flavor_id,
            networks="none",
            expected_state=expected_state,
            **kwargs,
        )
        return server

    def host_of(self, server):
        return server["OS-EXT-SRV-ATTR:host"]


def write_nova_conf(test):
    """A nova.conf pointing at file copies of the harness's API, cell0 and
    cell1 databases (the harness's may be in-memory SQLite, which another
    process cannot open), with the cell mappings rewritten to the copies."""
    from nova import context as nova_context
    from nova.db.api import api as api_db
    from nova.db.main import api as main_db

    tmp = test.useFixture(fixtures.TempDir()).path

    def copy(engine, name):
        path = os.path.join(tmp, name)
        raw = engine.raw_connection()
        try:
            with contextlib.closing(sqlite3.connect(path)) as dst:
                raw.driver_connection.backup(dst)
        finally:
            raw.close()
        return path

    api_path = copy(api_db.get_engine(), "api.sqlite")
    paths = {}
    # cell0 too: it holds the servers that got "No valid host".
    for name in ("cell0", "cell1"):
        with nova_context.target_cell(test.ctxt, test.cell_mappings[name]) as cctxt:
            paths[name] = copy(main_db.get_engine(context=cctxt), name + ".sqlite")
    cell_path = paths["cell1"]
    with contextlib.closing(sqlite3.connect(api_path)) as db, db:
        for name, path in paths.items():
            db.execute(
                "UPDATE cell_mappings SET database_connection = ? WHERE name = ?",
                ("sqlite:///" + path, name),
            )
    conf = os.path.join(tmp, "nova.conf")
    with open(conf, "w") as f:
        f.write(
            "[DEFAULT]\nstate_path = %s\n[api_database]\nconnection = "
            "sqlite:///%s\n[database]\nconnection = sqlite:///%s\n"
            % (tmp, api_path, cell_path)
        )
    return conf


#: Tokens the embedded API accepts with ``accept_tokens``: {token: (user, roles)}.
TOKENS = {
    "admin-token": ("admin", "reader,member,admin"),
    "member-token": ("demo", "reader,member"),
}


def accept_tokens(test, tokens=TOKENS):
    """Let the in-process API authenticate ``X-Auth-Token`` as keystonemiddleware
    would (token -> user, project, roles headers), so CLIs that only send a
    token (``--os-auth-type admin_token``) reach it; unknown tokens get 401.

    The harness stubs keystonemiddleware with a context built from the
    ``X-Auth-User``/``X-Roles`` headers its own clients send; this wraps that
    stub, leaving requests with those headers as they were.
    """
    from nova import context as nova_context
    from nova.api import auth as nova_auth

    stub = nova_auth.NovaKeystoneContext.__dict__["_create_context"]
    stub = getattr(stub, "__func__", stub)

    def from_token(env, **kwargs):
        if "HTTP_X_AUTH_USER" not in env:
            known = tokens.get(env.get("HTTP_X_AUTH_TOKEN"))
            if known is None:
                return nova_context.RequestContext(None, None, **kwargs)
            env = dict(
                env,
                HTTP_X_AUTH_USER=known[0],
                HTTP_X_ROLES=known[1],
                HTTP_X_AUTH_PROJECT_ID=test.api.project_id,
            )
        return stub(env, **kwargs)

    test.useFixture(
        fixtures.MonkeyPatch(
            "nova.api.auth.NovaKeystoneContext._create_context",
            staticmethod(from_token),
        )
    )


def without_os_env(**extra):
    """os.environ without OS_* variables (openstack.config turns any of them,
    e.g. the harness's OS_WSGI__API_PASTE_CONFIG, into an "envvars" cloud
    with password auth) plus ``extra``, for a CLI run in-process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(extra)
    return mock.patch.dict(os.environ, env, clear=True)
