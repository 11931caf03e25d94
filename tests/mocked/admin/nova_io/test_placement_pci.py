"""Placement's PCI providers and allocations through a keystoneauth1 session
(requests-mock stands in for Placement): the query and microversion, the
amounts per consumer, failures as one line naming Placement, and a silent
Placement given up on within ``--timeout``."""

import time
import unittest

import requests_mock
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin import errors
from aggregate_pci.admin.nova_io import placement_pci
from tests.fixtures import hung

URL = "http://placement.test/placement"
RPS = [
    {"uuid": "rp-1", "name": "compute1_0000:81:00.0"},
    {"uuid": "rp-2", "name": "compute1_0000:82:00.0"},
]


def reader(url=URL, timeout=5.0):
    sess = ks_session.Session(auth=noauth.NoAuth(endpoint=url))
    return placement_pci.PlacementPci(sess, timeout=timeout)


class PlacementPciTest(unittest.TestCase):
    def setUp(self):
        self.mock = self.enterContext(requests_mock.Mocker())

    def test_providers_by_trait_with_microversion(self):
        self.mock.get(URL + "/resource_providers", json={"resource_providers": RPS})
        self.assertEqual(
            {"compute1_0000:81:00.0": "rp-1", "compute1_0000:82:00.0": "rp-2"},
            reader().providers(),
        )
        request = self.mock.last_request
        self.assertEqual({"required": ["compute_managed_pci_device"]}, request.qs)
        self.assertEqual("placement 1.18", request.headers["OpenStack-API-Version"])

    def test_allocations_per_consumer(self):
        self.mock.get(
            URL + "/resource_providers/rp-1/allocations",
            json={"allocations": {"i1": {"resources": {"CUSTOM_GPU": 1}},
                                  "i2": {"resources": {"CUSTOM_GPU": 0}}}},
        )  # fmt: skip
        self.mock.get(
            URL + "/resource_providers/rp-2/allocations",
            json={"allocations": {"i1": {"resources": {"CUSTOM_VF": 2}}}},
        )
        self.assertEqual(
            {"i1": {"compute1_0000:81:00.0": 1, "compute1_0000:82:00.0": 2}},
            reader().allocations({r["name"]: r["uuid"] for r in RPS}),
        )

    def test_failures_are_one_line_naming_placement(self):
        self.mock.get(URL + "/resource_providers", status_code=403, json={})
        with self.assertRaises(errors.NotAdmin) as ctx:
            reader().providers()
        self.assertTrue(
            str(ctx.exception).startswith(
                "admin role required: Placement refused to list Placement's "
                "PCI resource providers (HTTP 403"
            ),
            str(ctx.exception),
        )
        self.mock.get(URL + "/resource_providers", status_code=500, json={})
        with self.assertRaises(errors.AdminError) as ctx:
            reader().providers()
        self.assertIn("Placement failed to list Placement's PCI resource "
                      "providers", str(ctx.exception))  # fmt: skip
        self.assertIn("(HTTP 500)", str(ctx.exception))


class SilentPlacementTest(unittest.TestCase):
    def test_gives_up_within_the_timeout(self):
        server = hung.SilentServer()
        self.addCleanup(server.stop)
        start = time.monotonic()
        with self.assertRaises(errors.Unreachable) as ctx:
            reader("http://127.0.0.1:%d/placement" % server.port, 0.5).providers()
        self.assertLess(time.monotonic() - start, 10)
        self.assertIn(
            "cannot list Placement's PCI resource providers: the Placement API "
            "did not answer",
            str(ctx.exception),
        )
