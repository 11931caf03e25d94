"""The admin CLI as a new operator meets it (issue 11, points 6, 7, 8,
11-15): lost races, hostile metadata, mistyped input, --version and
--help, offline runs.  requests-mock stands in for Nova (secrets:
test_secrets.py)."""

import json
import os
import subprocess
import tempfile

from oslo_config import cfg

from tests.fixtures.cli_run import AGGREGATE_PCI, run_process
from tests.fixtures.fake_nova import A100, URL, CliTestBase

SPEC = ("--vendor-id", "10de", "--product-id", "20b5")


def write_json(directory, name, doc):
    path = os.path.join(directory, name)
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path


class LostRaceTest(CliTestBase):
    def test_create_reads_back_and_reports_a_lost_race(self):
        other = '{"product_id":"1eb8","vendor_id":"10de"}'
        self.aggs[0]["metadata"] = {}
        lists = []

        def aggregates(request, context):
            lists.append(1)
            aggs = json.loads(json.dumps(self.aggs))
            if len(lists) > 1:  # another admin wrote right after us
                aggs[0]["metadata"]["pci_flavor:a100"] = other
            return {"aggregates": aggs}

        self.mock.get(URL + "/os-aggregates", json=aggregates)
        rc, out, err = self.run_cli(
            "flavor", "create", "a100", "--aggregate", "gpu-hosts", *SPEC
        )
        self.assertEqual(1, rc, out + err)
        self.assertNotIn("created", out)
        self.assertIn(
            "error: aggregate 'gpu-hosts', key 'pci_flavor:a100': lost a race: "
            "another client changed it right after our write, it now holds %s" % other,
            err,
        )

    def test_server_error_on_a_write_says_it_may_have_happened(self):
        self.aggs[0]["metadata"] = {}
        self.mock.post(
            URL + "/os-aggregates/1/action",
            status_code=500,
            json={"computeFault": {"code": 500, "message": "boom"}},
        )
        rc, _, err = self.run_cli(
            "flavor", "create", "a100", "--aggregate", "gpu-hosts", *SPEC
        )
        self.assertEqual(1, rc)
        self.assertIn("(HTTP 500); Nova may have made the change before failing", err)
        self.assertEqual(1, len(err.strip().splitlines()))


class HostileTextTest(CliTestBase):
    def test_control_characters_are_escaped_for_people(self):
        evil = '{"vendor_id":"10de","product_id":"20b5","x":"\x1b]0;pwn\x07"}'
        self.aggs[0]["metadata"]["pci_flavor:evil\x1b[2J"] = evil
        for argv in (
            ("flavor", "list"),
            ("flavor", "list", "-f", "value"),
            ("flavor", "show", "a100"),
            ("flavor", "show", "a100", "-f", "value"),
        ):
            with self.subTest(argv=argv):
                rc, out, err = self.run_cli(*argv)
                self.assertEqual(0, rc, err)
                self.assertNotIn("\x1b", out)
                self.assertNotIn("\x07", out)
        rc, out, _ = self.run_cli("flavor", "list", "-f", "value")
        self.assertIn("evil\\x1b[2J", out)
        # machine formats carry the data as it is (JSON escapes it)
        rc, out, _ = self.run_cli("flavor", "list", "-f", "json")
        names = [row["PCI Flavor"] for row in json.loads(out)]
        self.assertIn("evil\x1b[2J", names)

    def test_errors_and_check_escape_control_characters(self):
        evil = '{"vendor_id":"10de","product_id":"20b5","x":"\x1b[2J"}'
        self.aggs[0]["metadata"]["pci_flavor:a100"] = evil
        rc, out, err = self.run_cli(
            "flavor", "create", "a100", "--aggregate", "gpu-hosts", "--vendor-id",
            "10de", "--product-id", "1eb8",
        )  # fmt: skip
        self.assertEqual(1, rc)
        self.assertIn("already defined there as", err)
        self.assertIn("\\x1b[2J", err)
        self.assertNotIn("\x1b", err)
        self.mock.get(URL + "/flavors/detail", json={"flavors": []})
        rc, out, err = self.run_cli("check")
        self.assertNotIn("\x1b", out + err)

    def test_show_prints_lines_not_dict_reprs(self):
        rc, out, _ = self.run_cli("flavor", "show", "a100", "-f", "value")
        self.assertEqual(0, rc)
        self.assertIn("gpu-hosts: " + A100, out)
        self.assertNotIn("{'gpu-hosts'", out)
        rc, out, _ = self.run_cli("flavor", "show", "a100", "-f", "json")
        self.assertEqual({"gpu-hosts": A100}, json.loads(out)["definitions"])


class MistypedInputTest(CliTestBase):
    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.inv_doc = {
            "format": "aggregate-pci-inventory",
            "version": 1,
            "aggregates": [
                {
                    "name": "gpu",
                    "hosts": ["c1"],
                    "metadata": {"pci_flavor:a100": A100, "pci_flavor:bad": "{x"},
                }
            ],
            "hosts": {"c1": [{"vendor_id": "10de", "product_id": "20b5", "count": 2}]},
            "nova_flavors": [
                {
                    "name": "gpu.bad",
                    "id": "1",
                    "extra_specs": {"pci_passthrough:alias": "bad:1"},
                }
            ],
        }
        self.inv = write_json(self.dir, "inv.json", self.inv_doc)

    def one_line_error(self, argv, wanted):
        rc, out, err = self.run_cli(*argv)
        self.assertEqual(1, rc, out + err)
        last = err.strip().splitlines()[-1]
        self.assertTrue(last.startswith("error: "), err)
        self.assertIn(wanted, last)
        self.assertEqual([], self.posts())
        return err

    def test_inventory_sections_of_the_wrong_kind(self):
        for section, value, wanted in (
            ("aggregates", {"gpu": {}}, "'aggregates': must be a list of aggregates"),
            ("nova_flavors", {"gpu.a100": {}}, "'nova_flavors': must be a list"),
            ("flavors", {"gpu.a100": {}}, "'flavors': must be a list"),
        ):
            with self.subTest(section=section):
                doc = dict(self.inv_doc)
                doc.pop("nova_flavors")
                doc[section] = value
                path = write_json(self.dir, "bad.json", doc)
                self.one_line_error(("capacity", "--inventory", path), wanted)

    def test_capacity_warns_about_invalid_definitions(self):
        rc, out, err = self.run_cli("capacity", "--inventory", self.inv)
        self.assertEqual(0, rc)
        self.assertIn("skipped (invalid):", err)
        self.assertIn("pci_flavor:bad", err)
        err = self.one_line_error(
            ("capacity", "--inventory", self.inv, "--fit", "gpu.bad"),
            "requests bad, which no aggregate defines validly",
        )
        self.assertIn("skipped (invalid):", err)

    def test_capacity_fit_options(self):
        self.one_line_error(
            ("capacity", "--inventory", self.inv, "--fit-spec", "a100:x"),
            "--fit-spec 'a100:x': item 'a100:x' must be NAME:COUNT with COUNT a "
            "positive integer",
        )
        proc = run_process(
            "capacity", "--inventory", self.inv, "--fit", "f", "--fit-spec", "a100:1"
        )
        self.assertEqual(2, proc.returncode)
        self.assertIn(
            "argument --fit-spec: not allowed with argument --fit", proc.stderr
        )
        self.one_line_error(
            ("capacity", "--inventory", self.inv, "--pci-flavor", "nope"),
            "PCI flavor 'nope': no aggregate in the inventory defines it",
        )

    def test_flavor_list_aggregate_by_name_id_or_uuid(self):
        for agg in ("gpu-hosts", "1", "u1"):
            rc, out, _ = self.run_cli(
                "flavor", "list", "--aggregate", agg, "-f", "value"
            )
            self.assertEqual(0, rc)
            self.assertIn("a100 gpu-hosts", out)
        self.one_line_error(
            ("flavor", "list", "--aggregate", "no-such-agg"),
            "aggregate 'no-such-agg' not found",
        )

    def test_not_found_hints_name_this_front_ends_command(self):
        for argv in (("flavor", "show", "nope"),):
            with self.subTest(argv=argv):
                err = self.one_line_error(
                    argv, "; 'aggregate-pci flavor list' shows the defined ones"
                )
                self.assertNotIn("openstack pci flavor", err)

    def test_inventory_export_hint_names_only_its_options(self):
        err = self.one_line_error(
            ("inventory", "export"), "give --config-file NOVA_CONF"
        )
        self.assertNotIn("--inventory", err)

    def test_mistyped_sqlite_path_in_nova_conf_creates_nothing(self):
        # The command parses Nova's options into the process-wide CONF (as a
        # Nova service does, once per process): clear them afterwards, so the
        # in-process Nova tests collected after this tier can parse theirs.
        self.addCleanup(cfg.CONF.clear)
        missing = os.path.join(self.dir, "typo", "nova_api.sqlite")
        conf = os.path.join(self.dir, "nova.conf")
        with open(conf, "w") as fh:
            fh.write(
                "[api_database]\nconnection = sqlite:///%s\n"
                "[database]\nconnection = sqlite:///%s\n" % (missing, missing)
            )
        self.one_line_error(
            ("capacity", "--config-file", conf),
            "sqlite database file %r does not exist (nothing was created)" % missing,
        )
        self.assertFalse(os.path.exists(missing))


class WithoutNovaTest(CliTestBase):
    def test_commands_reading_nova_say_where_to_run(self):
        import importlib.util
        from unittest import mock

        real = importlib.util.find_spec

        def find_spec(name, *args, **kwargs):
            return None if name == "nova" else real(name, *args, **kwargs)

        conf = "/nonexistent/nova.conf"  # not read: Nova is checked first
        with mock.patch.object(importlib.util, "find_spec", find_spec):
            for argv, wanted in (
                (("capacity", "--config-file", conf), "or give --inventory FILE"),
                (("inventory", "export", "--config-file", conf), "container)\n"),
                (("demo",), "needs Nova with its test harness"),
            ):
                with self.subTest(argv=argv):
                    rc, out, err = self.run_cli(*argv)
                    self.assertEqual(1, rc, out + err)
                    self.assertNotIn("No module named", err)
                    self.assertTrue(err.startswith("error: "), err)
                    self.assertIn(wanted, err)
                    self.assertEqual(1, len(err.strip().splitlines()), err)


class OfflineTest(CliTestBase):
    """check, alias-config and migrate --dry-run from files alone: no
    credentials, no request."""

    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.inv = write_json(
            self.dir,
            "inv.json",
            {
                "format": "aggregate-pci-inventory",
                "version": 1,
                "aggregates": [
                    {
                        "name": "gpu",
                        "hosts": ["c1"],
                        "metadata": {"pci_flavor:a100": A100},
                    }
                ],
                "hosts": {
                    "c1": [{"vendor_id": "10de", "product_id": "20b5", "count": 1}]
                },
                "nova_flavors": [
                    {
                        "name": "gpu.t4",
                        "id": "2",
                        "extra_specs": {"pci_passthrough:alias": "t4:1"},
                    }
                ],
            },
        )

    def run_offline(self, *argv):
        # No credentials at all, in a real process: nothing to authenticate.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        return subprocess.run(
            [AGGREGATE_PCI, *argv], capture_output=True, text=True, timeout=60, env=env
        )

    def test_check_and_alias_config_offline(self):
        proc = self.run_offline("check", "--inventory", self.inv, "--offline")
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn("gpu.t4", proc.stdout)  # requests t4, defined nowhere
        self.assertIn("1 PCI flavor key(s) on 1 aggregate(s)", proc.stderr)
        proc = self.run_offline("alias-config", "--inventory", self.inv)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('alias = {"name": "a100"', proc.stdout)

    def test_migrate_dry_run_offline(self):
        conf = os.path.join(self.dir, "nova.conf")
        with open(conf, "w") as fh:
            fh.write(
                '[pci]\nalias = {"name": "t4", "vendor_id": "10de", '
                '"product_id": "1eb8", "device_type": "type-PCI"}\n'
            )
        proc = self.run_offline(
            "migrate", "--nova-conf", conf, "--aggregate", "gpu",
            "--dry-run", "--offline", "--inventory", self.inv,
        )  # fmt: skip
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn("plan: set pci_flavor:t4=", proc.stdout)
        self.assertIn("dry run: 1 change(s) planned, 0 key(s) already", proc.stdout)
        proc = self.run_offline(
            "migrate", "--nova-conf", conf, "--aggregate", "gpu", "--offline"
        )
        self.assertEqual(1, proc.returncode)
        self.assertIn("--offline plans from an inventory file", proc.stderr)


class VersionHelpTest(CliTestBase):
    def test_version_is_the_package_version(self):
        proc = run_process("--version")
        # pbr's version from git: the last tag, or setup.cfg's next release
        # with .devN (issue 20)
        self.assertRegex(
            proc.stdout + proc.stderr, r"^aggregate-pci \d+\.\d+\.\d+(\.dev\d+)?\n$"
        )

    def test_help_is_short_and_whole(self):
        proc = run_process("--help")
        self.assertEqual(0, proc.returncode)
        self.assertLess(len(proc.stdout.splitlines()), 140)
        self.assertIn("--os-password", proc.stdout)
        self.assertIn("--timeout SECONDS", proc.stdout)
        self.assertNotIn("``", proc.stdout)
        self.assertIn("--os-* options.", proc.stdout.replace("\n", " "))

    def test_every_option_has_help(self):
        for argv in (
            ("flavor", "create"),
            ("flavor", "delete"),
            ("flavor", "show"),
            ("flavor", "list"),
            ("migrate",),
            ("capacity",),
            ("check",),
            ("alias-config",),
        ):
            with self.subTest(argv=argv):
                proc = run_process("help", *argv)
                self.assertEqual(0, proc.returncode, proc.stderr)
                section, missing = None, []
                lines = proc.stdout.splitlines()
                for i, ln in enumerate(lines):
                    if ln and not ln.startswith(" "):
                        section = ln
                        continue
                    if section not in ("positional arguments:", "options:"):
                        continue
                    if ln.startswith("  ") and not ln.startswith("   "):
                        nxt = lines[i + 1] if i + 1 < len(lines) else ""
                        inline = len(ln.strip().split("  ", 1)) > 1
                        if not inline and not nxt.startswith("      "):
                            missing.append(ln.strip())
                self.assertEqual([], missing)
