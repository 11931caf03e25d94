"""aggregate_pci.cli.secrets: passwords, tokens and database URLs never
reach the terminal or a log."""

import logging
import os
import tempfile

from aggregate_pci.cli import secrets
from tests.fixtures.cli_run import run_process
from tests.fixtures.fake_nova import CliTestBase


class SecretsTest(CliTestBase):
    def test_mask(self):
        self.assertEqual(
            "--os-password *** --os-token=*** --db-url mysql+pymysql://u:***@h/db",
            secrets.mask(
                "--os-password hunter2 --os-token=tok123 "
                "--db-url mysql+pymysql://u:pw%40x@h/db"
            ),
        )

    def test_debug_log_masks_passwords_tokens_and_db_url(self):
        log = os.path.join(tempfile.mkdtemp(), "log")
        self.addCleanup(lambda: os.path.exists(log) and os.unlink(log))
        proc = run_process(
            "--debug", "--log-file", log,
            "--os-auth-url", "http://127.0.0.1:9/v3",
            "--os-username", "admin", "--os-password", "hunter2",
            "--os-project-name", "admin",
            "migrate", "--db-url", "mysql+pymysql://u:dbsecret@127.0.0.1:9/x",
            "--aggregate", "gpu", "--dry-run",
        )  # fmt: skip
        with open(log) as fh:
            logged = fh.read()
        self.assertIn("START with options", logged + proc.stderr)
        for secret in ("hunter2", "dbsecret"):
            self.assertNotIn(secret, proc.stdout + proc.stderr + logged)
        proc = run_process(
            "--debug", "--os-endpoint", "http://127.0.0.1:9/v2.1",
            "--os-token", "tok-secret-123", "flavor", "list",
        )  # fmt: skip
        self.assertNotIn("tok-secret-123", proc.stdout + proc.stderr)

    def test_log_filter_masks_any_logger(self):
        secrets.install_log_filter()
        record = logging.getLogger("x").makeRecord(
            "x", logging.INFO, "f", 1, "url %s", ("mysql://a:b@c/d",), None
        )
        self.assertEqual("url mysql://a:***@c/d", record.getMessage())
