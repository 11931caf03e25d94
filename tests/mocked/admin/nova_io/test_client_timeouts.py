"""Nothing hangs (issue 11, point 3): the Nova API client and its CLI
options against a Nova that accepts a request and never answers (a silent
server on 127.0.0.1, tests/fixtures/hung.py)."""

import time
import unittest

from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin import errors
from aggregate_pci.admin.nova_io import client
from tests.fixtures import hung


class NovaTimeoutTest(unittest.TestCase):
    def test_library_request_times_out(self):
        server = hung.SilentServer()
        self.addCleanup(server.stop)
        sess = ks_session.Session(
            auth=noauth.NoAuth(endpoint="http://127.0.0.1:%d/v2.1" % server.port)
        )
        admin = client.PciFlavorAdmin(sess, connect_retries=0, timeout=0.5)
        start = time.monotonic()
        with self.assertRaises(errors.Unreachable) as ctx:
            admin.list_aggregates()
        self.assertLess(time.monotonic() - start, 10)
        self.assertIn(
            "no answer from the Compute API within the timeout", str(ctx.exception)
        )

    def test_flavor_create_with_timeout_option_fails_in_bounded_time(self):
        server = hung.SilentServer()
        self.addCleanup(server.stop)
        url = "http://127.0.0.1:%d/v2.1" % server.port
        proc, took = hung.run(
            "--timeout", "0.5", "--os-endpoint", url, "--os-token", "t",
            "flavor", "create", "a100", "--aggregate", "gpu",
            "--vendor-id", "10de", "--product-id", "20b5",
        )  # fmt: skip
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertLess(took, 30)  # 4 attempts of 0.5 s plus back-off
        self.assertGreaterEqual(server.accepted, 1)
        last = proc.stderr.strip().splitlines()[-1]
        self.assertTrue(
            last.startswith(
                "error: cannot list host aggregates: no answer from the "
                "Compute API within the timeout"
            ),
            proc.stderr,
        )
        self.assertIn("raise --timeout", last)
        self.assertNotIn("Traceback", proc.stderr)

    def test_default_timeout_is_set_on_the_session(self):
        from aggregate_pci.cli import common, plugin

        class Manager:
            session = ks_session.Session(auth=noauth.NoAuth(endpoint="http://x"))
            region_name = interface = None

        admin = plugin.make_client(Manager(), timeout=common.DEFAULT_TIMEOUT)
        self.assertEqual(common.DEFAULT_TIMEOUT, admin.session.timeout)
