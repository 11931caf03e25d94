"""``aggregate-pci check`` (aggregate_pci.cli.check) over requests-mock:
exit status, nova.conf's [pci] alias as Nova reads it."""

import json
import os
import tempfile

from tests.fixtures.fake_nova import CliTestBase


class CheckTest(CliTestBase):
    """Exit status by severity; nova.conf read as Nova does."""

    def test_check_exit_status(self):
        rc, out, err = self.run_cli("check", "-f", "json")
        self.assertEqual(0, rc, out)
        self.assertEqual([], json.loads(out))
        self.flavors[0]["extra_specs"]["pci_passthrough:alias"] = "ghost:1"
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(
                '[pci]\nalias = {"name": "a100", "vendor_id": "10de", '
                '"product_id": "20b5"}\n'
            )
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.run_cli("check", "--nova-conf", f.name, "-f", "json")
        self.assertEqual(1, rc)
        subjects = {(i["Severity"], i["Subject"]) for i in json.loads(out)}
        self.assertIn(("error", "PCI flavor 'ghost'"), subjects)
        self.assertIn(("warning", "PCI flavor 'a100'"), subjects)
        self.assertIn("1 error(s)", err)

    def test_check_reads_deprecated_pci_alias_as_nova_does(self):
        # Nova still reads ``[DEFAULT] pci_alias``; check must see those
        # aliases too, not report "boots will fail" for them.
        self.flavors[0]["extra_specs"]["pci_passthrough:alias"] = "legacy:1"
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(
                '[DEFAULT]\npci_alias = {"name": "legacy", '
                '"vendor_id": "8086", "product_id": "1572"}\n'
                'pci_alias = {"name": "a100", "vendor_id": '
                '"10de", "product_id": "20b5"}\n'
            )
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.run_cli("check", "--nova-conf", f.name, "-f", "json")
        issues = {(i["Severity"], i["Subject"]): i["Problem"] for i in json.loads(out)}
        self.assertNotIn(("error", "PCI flavor 'legacy'"), issues)
        self.assertIn("it is unmanaged", issues[("warning", "PCI flavor 'legacy'")])
        self.assertEqual(0, rc, out)

    def test_table_problems_fit_a_terminal_and_long_shows_them_whole(self):
        # issue 20: a finding naming many hosts was one 700-character cell.
        self.flavors[0]["extra_specs"]["pci_passthrough:alias"] = "ghost:1"
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("[pci]\n")
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.run_cli("check", "--nova-conf", f.name, "-f", "json")
        whole = {i["Subject"]: i["Problem"] for i in json.loads(out)}
        ghost = whole["PCI flavor 'ghost'"]
        self.assertIn("define it with 'aggregate-pci flavor create ghost", ghost)
        rc, out, err = self.run_cli("check", "--nova-conf", f.name)
        self.assertEqual(1, rc)
        widest = max(len(line) for line in out.splitlines())
        self.assertLessEqual(widest, 200, out)
        self.assertNotIn("define it with", out)
        self.assertIn("problem(s) shortened: --long shows them whole", err)
        rc, out, err = self.run_cli("check", "--nova-conf", f.name, "--long")
        self.assertIn("define it with 'aggregate-pci flavor create ghost", out)
        self.assertNotIn("shortened", err)

    def test_check_missing_nova_conf(self):
        rc, _, err = self.run_cli("check", "--nova-conf", "/nonexistent/nova.conf")
        self.assertEqual(1, rc)
        self.assertIn("cannot read nova.conf '/nonexistent/nova.conf'", err)

    def test_long_lists_of_aggregates_are_cut_for_people_whole_in_json(self):
        # issue 21: at fleet scale one finding listed 1,000 aggregates and
        # their definitions, and --long padded every row of the table to it.
        aggs = [
            {
                "name": "rack-%02d" % i,
                "hosts": ["h%d" % i],
                "metadata": {
                    "pci_flavor:gpu": '{"vendor_id": "10de", "product_id": "%s"}'
                    % ("20b5" if i else "1db4")
                },
            }
            for i in range(12)
        ]
        doc = {"format": "aggregate-pci-inventory", "version": 1, "aggregates": aggs}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(doc, f)
        self.addCleanup(os.unlink, f.name)
        args = ("check", "--offline", "--inventory", f.name)
        rc, out, err = self.run_cli(*args, "-f", "json")
        self.assertEqual(1, rc, err)
        whole = {(i["Severity"], i["Subject"]): i["Problem"] for i in json.loads(out)}
        differing = whole[("error", "PCI flavor 'gpu'")]
        self.assertIn("rack-10, rack-11 (rack-00:", differing)
        self.assertNotIn("more", differing)
        rc, out, err = self.run_cli(*args, "--long")
        self.assertIn(
            "defined differently on aggregates rack-00, rack-01, rack-02, rack-03, "
            "rack-04, rack-05, rack-06, rack-07, rack-08, rack-09 and 2 more "
            "(rack-00: ",
            out,
        )
        self.assertIn("; rack-01, rack-02, rack-03", out)
        self.assertNotIn("rack-11", out.split("PCI flavor 'gpu'")[1].split("\n")[0])
        self.assertIn("and 2 more but no Nova flavor requests it", out)
