"""aggregate_pci.cli.shell: the commands it registers, the installed
command in a process (tracebacks only with --debug, an unreachable endpoint
in one line), and error messages suggesting only commands that exist."""

import os
import re
import socket
import unittest

from aggregate_pci.admin.nova_io import client
from aggregate_pci.cli import shell
from tests.fixtures.cli_run import run_process
from tests.fixtures.fake_nova import CliTestBase


class ShellTest(CliTestBase):
    """Commands registered with the shell."""

    def test_demo_registered(self):
        rc, out, err = self.run_cli("help", "demo")
        self.assertEqual(0, rc, err)
        self.assertIn("Run the end-to-end demo on an in-process Nova", out)
        # The scenario is fixed: no options that would do nothing.
        self.assertNotIn("--hosts", out)


def free_port():
    """A local TCP port nothing listens on (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


class CliProcessTest(unittest.TestCase):
    """The installed ``aggregate-pci`` in a process: what an operator sees."""

    def test_no_traceback_by_default_traceback_with_debug(self):
        proc = run_process("capacity", "--inventory", "/nonexistent/inv.json")
        self.assertEqual(1, proc.returncode)
        self.assertEqual(
            "error: cannot read inventory '/nonexistent/inv.json': "
            "No such file or directory\n",
            proc.stderr,
        )
        proc = run_process(
            "--debug", "capacity", "--inventory", "/nonexistent/inv.json"
        )
        self.assertEqual(1, proc.returncode)
        self.assertIn("Traceback (most recent call last)", proc.stderr)
        self.assertIn("AdminError: cannot read inventory", proc.stderr)

    def test_unreachable_endpoint_retried_one_line(self):
        sock, port = free_port()
        self.addCleanup(sock.close)
        url = "http://127.0.0.1:%d/v2.1" % port
        proc = run_process("--os-endpoint", url, "--os-token", "t", "flavor", "list")
        self.assertEqual(1, proc.returncode)
        self.assertNotIn("Traceback", proc.stderr)
        # Retried within --timeout; retry lines only with --debug (issue 22).
        self.assertEqual(0, proc.stderr.count("Retrying in"))
        self.assertEqual(1, len(proc.stderr.strip().splitlines()), proc.stderr)
        last = proc.stderr.strip().splitlines()[-1]
        self.assertTrue(
            last.startswith(
                "error: cannot list host aggregates: the Compute API is unreachable ("
            ),
            last,
        )
        self.assertIn(url, last)
        self.assertEqual("", proc.stdout)


class AdminTokenBesideCloudTest(unittest.TestCase):
    def test_token_and_endpoint_win_over_os_cloud(self):
        # issue 20: with OS_CLOUD set, --os-token/--os-endpoint failed with
        # "Token.__init__() got an unexpected keyword argument 'auth_url'".
        import subprocess
        import tempfile

        from tests.fixtures.cli_run import AGGREGATE_PCI

        sock, port = free_port()
        self.addCleanup(sock.close)
        with tempfile.TemporaryDirectory() as tmp:
            clouds = os.path.join(tmp, "clouds.yaml")
            with open(clouds, "w") as f:
                f.write(
                    "clouds:\n  admin:\n    auth:\n"
                    "      auth_url: http://127.0.0.1:%d/v3\n"
                    "      username: admin\n      password: pw\n"
                    "      project_name: admin\n" % port
                )
            env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
            env.update(OS_CLOUD="admin", OS_CLIENT_CONFIG_FILE=clouds)
            url = "http://127.0.0.1:%d/v2.1" % port
            proc = subprocess.run(
                [AGGREGATE_PCI, "--os-endpoint", url, "--os-token", "t",
                 "--timeout", "5", "flavor", "list"],
                capture_output=True, text=True, timeout=60, env=env,
            )  # fmt: skip
        self.assertEqual(1, proc.returncode)
        self.assertNotIn("unexpected keyword", proc.stderr)
        self.assertIn("Compute API is unreachable", proc.stderr)
        self.assertIn(url, proc.stderr)


class SuggestedCommandsTest(unittest.TestCase):
    def test_every_suggested_aggregate_pci_command_exists(self):
        """Error messages point only at commands that exist."""
        from stevedore import extension

        registered = {
            name.replace("_", " ")
            for name in extension.ExtensionManager(shell.COMMAND_GROUP).names()
        }
        root = os.path.dirname(os.path.dirname(os.path.dirname(client.__file__)))
        sources = [
            os.path.join(top, n)
            for top, _, names in os.walk(root)
            for n in names
            if n.endswith(".py")
        ]
        mentioned = set()
        hinted = set()
        for path in sources:
            with open(path, encoding="utf-8") as f:
                # join implicitly concatenated literals split over lines
                text = re.sub(r'"\s*\n\s*"', "", f.read())
            mentioned.update(re.findall(r"'aggregate-pci ([a-z-]+(?: [a-z-]+)?)", text))
            # Hints name the command; each front end spells it (issue 19).
            hinted.update(re.findall(r'\bcommand="([a-z-]+(?: [a-z-]+)?)', text))
        self.assertIn("alias-config", hinted)
        self.assertIn("flavor create", hinted)
        mentioned |= hinted
        self.assertTrue(mentioned)
        for words in sorted(mentioned):
            self.assertTrue(
                words in registered or words.split()[0] in registered,
                "error messages suggest 'aggregate-pci %s', which is "
                "not a command" % words,
            )
