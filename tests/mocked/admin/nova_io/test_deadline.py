"""Issue 22, point 1: ``--timeout`` bounds each Compute API request's total
wait, retries included, against an endpoint that accepts and never answers."""

import logging
import time
import unittest

from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin import errors
from aggregate_pci.admin.nova_io import client
from tests.fixtures import hung

TIMEOUT = 6.0


class HungComputeApiTest(unittest.TestCase):
    def setUp(self):
        self.server = hung.SilentServer()
        self.addCleanup(self.server.stop)
        self.url = "http://127.0.0.1:%d/v2.1" % self.server.port

    def test_library_total_wait_within_timeout_plus_10_percent(self):
        sess = ks_session.Session(auth=noauth.NoAuth(endpoint=self.url))
        admin = client.PciFlavorAdmin(sess, timeout=TIMEOUT)
        start = time.monotonic()
        # No retry line at WARNING (keystoneauth's own retries are off).
        with self.assertNoLogs("keystoneauth", logging.WARNING):
            with self.assertRaises(errors.Unreachable) as ctx:
                admin.list_aggregates()
        took = time.monotonic() - start
        self.assertLess(took, TIMEOUT * 1.1)
        self.assertGreaterEqual(took, TIMEOUT * 0.9)
        self.assertIn("within the timeout", str(ctx.exception))

    def test_cli_one_error_line_within_timeout_plus_10_percent(self):
        def flavor_list(timeout):
            return hung.run(
                "--timeout", str(timeout), "--os-endpoint", self.url,
                "--os-token", "t", "flavor", "list",
            )  # fmt: skip

        # The command's own cost (imports, option parsing), measured with a
        # timeout of 10 ms before and after (the CPU is shared: the larger).
        _, before = flavor_list(0.01)
        proc, took = flavor_list(TIMEOUT)
        _, after = flavor_list(0.01)
        startup = max(before, after)
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertLess(took - startup, TIMEOUT * 1.1, (took, startup))
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(1, len(lines), proc.stderr)
        self.assertTrue(lines[0].startswith("error: "), lines)
        self.assertNotIn("Retrying", proc.stderr)
