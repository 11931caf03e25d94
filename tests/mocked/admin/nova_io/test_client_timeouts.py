"""Nothing hangs (issue 11, point 3): a Nova that accepts a request and never
answers, a MySQL that accepts TCP and never greets.  A silent server on
127.0.0.1 (requests-mock cannot model a hang) stands in for both; it stops
itself after a bounded time."""

import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin import errors
from aggregate_pci.admin.nova_io import client
from aggregate_pci.migrate import sources
from tests.mocked.cli.test_shell import AGGREGATE_PCI


class SilentServer:
    """Accepts connections on 127.0.0.1 and never sends a byte; closes
    everything after ``lifetime`` seconds at most."""

    def __init__(self, test, lifetime=60.0):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._conns = []
        self._deadline = time.monotonic() + lifetime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        test.addCleanup(self.stop)

    def _serve(self):
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._conns.append(conn)
        for conn in self._conns:
            conn.close()
        self.sock.close()

    def stop(self):
        self._stop.set()
        self._thread.join(5)


def run_process(*argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.pop(sources_env(), None)
    start = time.monotonic()
    proc = subprocess.run(
        [AGGREGATE_PCI, *argv], capture_output=True, text=True, timeout=90, env=env
    )
    return proc, time.monotonic() - start


def sources_env():
    from aggregate_pci.cli import migrate_inputs

    return migrate_inputs.DB_URL_ENV


class NovaTimeoutTest(unittest.TestCase):
    def test_library_request_times_out(self):
        server = SilentServer(self)
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
        server = SilentServer(self)
        url = "http://127.0.0.1:%d/v2.1" % server.port
        proc, took = run_process(
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


class SqlTimeoutTest(unittest.TestCase):
    def test_mysql_that_never_greets_fails_after_the_timeout(self):
        server = SilentServer(self)
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
        server = SilentServer(self)
        with tempfile.NamedTemporaryFile("w", suffix=".url") as fh:
            fh.write("mysql+pymysql://u:secret@127.0.0.1:%d/db\n" % server.port)
            fh.flush()
            proc, took = run_process(
                "--timeout", "1", "migrate", "--db-url-file", fh.name,
                "--aggregate", "gpu", "--dry-run",
            )  # fmt: skip
        self.assertEqual(1, proc.returncode, proc.stderr)
        self.assertLess(took, 30)
        self.assertIn("(no answer within 1 s); --timeout changes it", proc.stderr)
        self.assertNotIn("secret", proc.stderr + proc.stdout)
