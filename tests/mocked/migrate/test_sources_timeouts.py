"""Nothing hangs (issue 11, point 3): the migration's table source and
``migrate --timeout`` against a MySQL that accepts TCP and never greets (a
silent server on 127.0.0.1, tests/fixtures/hung.py)."""

import tempfile
import time
import unittest

from aggregate_pci.migrate import sources
from tests.fixtures import hung


class SqlTimeoutTest(unittest.TestCase):
    def test_mysql_that_never_greets_fails_after_the_timeout(self):
        server = hung.SilentServer()
        self.addCleanup(server.stop)
        url = "mysql+pymysql://u:secret@127.0.0.1:%d/db" % server.port
        start = time.monotonic()
        with self.assertRaises(sources.SourceError) as ctx:
            sources.read_table(url, timeout=1)
        took = time.monotonic() - start
        self.assertLess(took, 10)
        self.assertEqual(1, server.accepted)  # one attempt, no retries
        msg = str(ctx.exception)
        # The library names no front end's option; the command adds it.
        self.assertIn("(no answer within 1 s); the timeout changes it", msg)
        self.assertNotIn("secret", msg)

    def test_migrate_cli_timeout_option(self):
        server = hung.SilentServer()
        self.addCleanup(server.stop)
        with tempfile.NamedTemporaryFile("w", suffix=".url") as fh:
            fh.write("mysql+pymysql://u:secret@127.0.0.1:%d/db\n" % server.port)
            fh.flush()
            proc, took = hung.run(
                "--timeout", "1", "migrate", "--db-url-file", fh.name,
                "--aggregate", "gpu", "--dry-run",
            )  # fmt: skip
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertLess(took, 30)
        self.assertIn("(no answer within 1 s); --timeout changes it", proc.stderr)
        self.assertNotIn("secret", proc.stderr + proc.stdout)
