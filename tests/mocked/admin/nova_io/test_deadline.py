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


def within_the_deadline(test, server):
    """Assert the product target, one request's wait within ``--timeout``
    plus 10 %, on the time the endpoint held the client's connection(s):
    from the first one accepted to the last one the client closed.  That is
    the deadline's own behaviour; the process start-up and imports before
    the first request are outside it, so a loaded CPU does not eat the
    margin, and a deadline that fires early (under 90 %) fails too."""
    waited = server.waited()
    test.assertLess(waited, TIMEOUT * 1.1, waited)
    test.assertGreaterEqual(waited, TIMEOUT * 0.9, waited)
    return waited


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
        # The deadline as the endpoint saw it (see within_the_deadline).
        waited = within_the_deadline(self, self.server)
        self.assertLessEqual(waited, took)
        self.assertIn("within the timeout", str(ctx.exception))

    def test_cli_one_error_line_within_timeout_plus_10_percent(self):
        def flavor_list(timeout):
            return hung.run(
                "--timeout", str(timeout), "--os-endpoint", self.url,
                "--os-token", "t", "flavor", "list",
            )  # fmt: skip

        proc, took = flavor_list(TIMEOUT)
        self.assertEqual(1, proc.returncode, proc.stderr)
        within_the_deadline(self, self.server)
        # The error line within TIMEOUT + 10 % of the first request; the
        # process start-up before it (imports: 2.7 s at load 4 on 2 cores)
        # is outside the deadline and not asserted.
        answered = proc.first_line_at - self.server.accept_times[0]
        self.assertLess(answered, TIMEOUT * 1.1, (answered, took))
        lines = proc.stderr.strip().splitlines()
        self.assertEqual(1, len(lines), proc.stderr)
        self.assertTrue(lines[0].startswith("error: "), lines)
        self.assertNotIn("Retrying", proc.stderr)
