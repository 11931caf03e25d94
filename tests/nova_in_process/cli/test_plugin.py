"""``openstack pci flavor ...`` (aggregate_pci.cli.plugin) through the real
OpenStackClient shell on an in-process Nova, and the standalone shell with
the usual --os-* options."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

# isort: split

import contextlib
import io
import json
from unittest import mock

import fixtures

from tests.fixtures import cli_run
from tests.fixtures import nova_harness as support
from tests.fixtures.nova_harness import (
    GPU_A100,
    GPU_T4,
    accept_tokens,
    without_os_env,
)


class OpenStackClientPluginTest(support.AggregatePciTestBase):
    """``openstack pci flavor ...`` through the real OpenStackClient shell
    (entry points, plugin client factory, OSC's keystoneauth1 session)."""

    def setUp(self):
        super().setUp()
        self.start_compute(
            "compute1", pci_info=support.gpu_host([(0x81, GPU_A100), (0x82, GPU_T4)])
        )
        accept_tokens(self)
        self.agg = self.make_aggregate("gpu-hosts", hosts=["compute1"])

    def openstack(self, *argv, token="admin-token"):
        from openstackclient import shell as osc_shell

        out, err = io.StringIO(), io.StringIO()
        with (
            without_os_env(HOME=self.useFixture(fixtures.TempDir()).path),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            rc = osc_shell.OpenStackShell().run(
                [
                    "--os-auth-type",
                    "admin_token",
                    "--os-endpoint",
                    self.api.base_url,
                    "--os-token",
                    token,
                ]
                + list(argv)
            )
        return rc, out.getvalue(), err.getvalue()

    def metadata(self):
        return self.admin_api.api_get("/os-aggregates/%s" % self.agg["id"]).body[
            "aggregate"
        ]["metadata"]

    def test_flavor_commands_through_openstackclient(self):
        rc, out, err = self.openstack(
            "pci",
            "flavor",
            "create",
            "a100",
            "--aggregate",
            "gpu-hosts",
            "--vendor-id",
            "10de",
            "--product-id",
            "20b5",
            "-f",
            "json",
        )
        self.assertEqual(0, rc, err)
        value = '{"product_id":"20b5","vendor_id":"10de"}'
        self.assertEqual(
            ("created", value),
            (json.loads(out)["result"], json.loads(out)["new_value"]),
        )
        self.assertEqual({"pci_flavor:a100": value}, self.metadata())

        rc, out, err = self.openstack("pci", "flavor", "list", "-f", "json")
        self.assertEqual(0, rc, err)
        self.assertEqual(
            [
                {
                    "PCI Flavor": "a100",
                    "Aggregate": "gpu-hosts",
                    "Hosts": ["compute1"],
                    "Definition": value,
                    "Error": "",
                }
            ],
            json.loads(out),
        )
        rc, out, err = self.openstack(
            "pci", "flavor", "show", "a100", "-f", "value", "-c", "hosts"
        )
        self.assertEqual((0, "compute1"), (rc, out.strip()), err)
        rc, out, err = self.openstack("pci", "flavor", "alias-config", "--no-section")
        self.assertEqual(0, rc, err)
        self.assertEqual(
            '{"name": "a100", "product_id": "20b5", "vendor_id": "10de"}\n', out
        )

        # a member token: the plugin's 403 handling, nothing changed
        rc, out, err = self.openstack(
            "pci", "flavor", "delete", "a100", token="member-token"
        )
        self.assertEqual(1, rc)
        self.assertIn("error: admin role required", err)
        self.assertNotIn("Traceback", err)
        self.assertEqual({"pci_flavor:a100": value}, self.metadata())

        rc, out, err = self.openstack(
            "pci", "flavor", "delete", "a100", "-f", "value", "-c", "Result"
        )
        self.assertEqual((0, "deleted"), (rc, out.strip()), err)
        self.assertEqual({}, self.metadata())

    def test_offline_capable_commands_authenticate_when_they_need_nova(self):
        # check, alias-config and migrate do not make OSC authenticate up
        # front (they can run from files); on Nova they authenticate late,
        # with the plugin's timeout option on the session (issue 11).
        self.set_metadata(
            self.agg["id"],
            {"pci_flavor:a100": '{"product_id":"20b5","vendor_id":"10de"}'},
        )
        rc, out, err = self.openstack(
            "--os-pci-flavor-timeout", "7", "pci", "flavor", "alias-config"
        )
        self.assertEqual(0, rc, err)
        self.assertIn('"name": "a100"', out)
        rc, out, err = self.openstack("pci", "flavor", "check", "-f", "json")
        self.assertEqual(0, rc, err)
        self.assertIn("1 PCI flavor key(s) on 1 aggregate(s)", err)

    def test_plugin_client_factory_is_used(self):
        from aggregate_pci.cli import plugin

        made = []
        real = plugin.make_client

        def spy(instance, **kwargs):
            client = real(instance, **kwargs)
            made.append((instance.session, client))
            return client

        with mock.patch.object(plugin, "make_client", spy):
            rc, out, err = self.openstack("pci", "flavor", "list", "-f", "json")
        self.assertEqual((0, []), (rc, json.loads(out)), err)
        self.assertEqual(1, len(made))
        self.assertIs(made[0][0], made[0][1].session)

    def test_standalone_shell_with_os_options(self):
        """``aggregate-pci`` with the usual --os-* options (no injected
        client): osc-lib's auth and session end to end."""
        with without_os_env():
            rc, out, err = cli_run.run(
                [
                    "--os-endpoint",
                    self.api.base_url,
                    "--os-token",
                    "admin-token",
                    "flavor",
                    "create",
                    "t4",
                    "--aggregate",
                    "gpu-hosts",
                    "--vendor-id",
                    "10de",
                    "--product-id",
                    "1eb8",
                    "-f",
                    "value",
                    "-c",
                    "result",
                ]
            )
        self.assertEqual((0, "created"), (rc, out.strip()), err)
        self.assertIn("pci_flavor:t4", self.metadata())
        with without_os_env():
            rc, out, err = cli_run.run(
                [
                    "--os-endpoint",
                    self.api.base_url,
                    "--os-token",
                    "bogus",
                    "flavor",
                    "list",
                ]
            )
        self.assertEqual(1, rc)
        self.assertIn("authentication failed", err)
        self.assertNotIn("Traceback", err)
