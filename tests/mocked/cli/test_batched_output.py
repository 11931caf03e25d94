"""Every command's table output goes through batched_table in one place
(``common.HandlesErrors.produce_output``): a Lister's long plain table
prints the bytes cliff prints row by row, for far fewer prettytable rows;
sorting, widths, other formats and ShowOne records are left to cliff."""

import argparse
import io
import itertools
import json
import os
import tempfile
import unittest
from unittest import mock

import prettytable
from cliff import lister, show

from aggregate_pci.cli import batched_table, common
from tests.fixtures import cli_run
from tests.fixtures.fake_nova import A100

HOSTS = 1500
GHOSTS = 1200
A = "pci_passthrough:alias"


def inventory(hosts: int = HOSTS, ghosts: int = GHOSTS) -> dict:
    """``hosts`` hosts with A100s in one aggregate, a Nova flavor asking
    for two, and ``ghosts`` Nova flavors asking for an undefined name each
    (one ``check`` finding apiece)."""
    pool = {"vendor_id": "10de", "product_id": "20b5", "address": "0000:81:00.0"}
    names = ["h%05d" % i for i in range(hosts)]
    return {
        "format": "aggregate-pci-inventory",
        "version": 1,
        "aggregates": [
            {
                "name": "gpu-hosts",
                "hosts": names,
                "metadata": {"pci_flavor:a100": A100},
            }
        ],
        "hosts": {
            name: [dict(pool, count=i % 5, used=i % 3)] for i, name in enumerate(names)
        },
        "nova_flavors": [{"name": "gpu.two", "id": "7", "extra_specs": {A: "a100:2"}}]
        + [
            {"name": "f%04d" % i, "id": str(100 + i), "extra_specs": {A: "g%04d:1" % i}}
            for i in range(ghosts)
        ],
    }


def unbatched(command, parsed_args, data):
    """``batched_table.table_rows`` bypassed: cliff's own row by row."""
    return data


class SharedOutputBase(unittest.TestCase):
    def assert_same(self, want, got):
        """``want == got``, naming the first line that differs (no diff of
        thousands of lines)."""
        for field, (a, b) in enumerate(zip(want, got, strict=True)):
            if a != b and isinstance(a, str):
                lines = itertools.zip_longest(a.splitlines(), b.splitlines())
                at = next(((i, x, y) for i, (x, y) in enumerate(lines) if x != y), None)
                if at is not None:
                    self.fail("output %d, line %d: %r != %r" % (field, *at))
        self.assertEqual(want, got)

    def setUp(self):
        tty = mock.patch("sys.stdout.isatty", return_value=False)
        tty.start()
        self.addCleanup(tty.stop)

    def outputs(self, run):
        """``run()``'s (result, add_row calls) batched, and cliff's own
        result row by row."""
        add_row = prettytable.PrettyTable.add_row
        added = []

        def counted(table, row, **kw):
            added.append(row)
            return add_row(table, row, **kw)

        with mock.patch.object(prettytable.PrettyTable, "add_row", counted):
            got = run()
        with mock.patch.object(batched_table, "table_rows", unbatched):
            want = run()
        return got, len(added), want


class CommandTablesTest(SharedOutputBase):
    """``check`` and ``capacity`` (no mixin of their own) from an
    inventory of 1,500 hosts and 1,200 findings."""

    @classmethod
    def setUpClass(cls):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(inventory(), f)
        cls.inv = f.name

    @classmethod
    def tearDownClass(cls):
        os.unlink(cls.inv)

    def cli(self, *argv):
        return self.outputs(lambda: cli_run.run(argv))

    def assert_batched(self, *argv, rows):
        got, added, want = self.cli(*argv)
        self.assert_same(want, got)
        self.assertEqual(rows + 4, len(got[1].splitlines()))  # 3 above, 1 below
        self.assertLess(added, 10, argv)  # 1 + ceil((rows - 1) / 1000)
        return got

    def assert_row_by_row(self, *argv, rows):
        """The same output, each row handed to prettytable alone (``rows``
        of them; 0 for a format without prettytable)."""
        got, added, want = self.cli(*argv)
        self.assert_same(want, got)
        self.assertEqual(rows, added, argv)
        return got

    def test_capacity_fit(self):
        rc, out, err = self.assert_batched(
            "capacity", "--inventory", self.inv, "--fit", "gpu.two", rows=HOSTS + 1
        )
        self.assertEqual(0, rc, err)
        self.assertIn("| host  | h01499 |         2 |\n+-------", out)

    def test_capacity(self):
        self.assert_batched("capacity", "--inventory", self.inv, rows=HOSTS + 2)

    def test_check_offline(self):
        rc, out, err = self.assert_batched(
            "check", "--offline", "--inventory", self.inv, rows=GHOSTS
        )
        self.assertEqual(0, rc, err)
        self.assertIn("| warning  | PCI flavor 'g1199' | Nova flavor(s) f1199", out)

    def test_column_selection_is_batched_too(self):
        fit = ("capacity", "--inventory", self.inv, "--fit", "gpu.two")
        self.assert_batched(*fit, "-c", "Instances", "-c", "Name", rows=HOSTS + 1)

    def test_sorting_and_widths_go_row_by_row(self):
        fit = ("capacity", "--inventory", self.inv, "--fit", "gpu.two")
        for extra in (
            ("--sort-column", "Instances"),
            ("--sort-column", "name", "--sort-descending"),
            ("--max-width", "24"),
            ("--fit-width",),
        ):
            with self.subTest(extra=extra):
                self.assert_row_by_row(*fit, *extra, rows=HOSTS + 1)
        check = ("check", "--offline", "--inventory", self.inv)
        rc, out, err = self.assert_row_by_row(
            *check, "--sort-column", "Subject", "--sort-descending", rows=GHOSTS
        )
        self.assertLess(out.index("'g1199'"), out.index("'g0000'"))
        rc, out, err = self.assert_row_by_row(*check, "--max-width", "80", rows=GHOSTS)
        lines = out.splitlines()
        self.assertEqual(80, max(map(len, lines)))
        self.assertGreater(len(lines), 2 * GHOSTS)  # each problem wrapped

    def test_other_formats_untouched(self):
        fit = ("capacity", "--inventory", self.inv, "--fit", "gpu.two")
        for fmt in ("value", "csv", "json", "yaml"):
            with self.subTest(fmt=fmt):
                self.assert_row_by_row(*fit, "-f", fmt, rows=0)
        check = ("check", "--offline", "--inventory", self.inv)
        self.assert_row_by_row(*check, "-f", "value", rows=0)

    def test_terminal_goes_row_by_row(self):
        with (
            mock.patch("sys.stdout.isatty", return_value=True),
            mock.patch("cliff.utils.terminal_width", return_value=None),
        ):
            self.assert_row_by_row(
                "capacity", "--inventory", self.inv, "--fit", "gpu.two", rows=HOSTS + 1
            )


class Rows(common.HandlesErrors, lister.Lister):
    """A Lister of the project's: 2,500 rows, some with line breaks,
    None, floats and a row of another length's worth of types."""

    def take_action(self, parsed_args):
        rows = [("first", 1, 0.5)]
        rows += [("r%d" % i, i * 37 % 1000, i / 7) for i in range(2500)]
        rows[700] = ("two\nlines", None, 1e-05)
        rows[1800] = ("esc\x1b[31m", 3, float("inf"))
        return ("Name", "Count", "Ratio"), rows


class Record(common.HandlesErrors, show.ShowOne):
    """A ShowOne of the project's: one record's fields."""

    def take_action(self, parsed_args):
        return ("name", "hosts", "definition"), ("a100", "c1,c2", '{"vendor_id": 1}')


def run_command(cls, *argv):
    """``cls`` run as cliff runs it: (exit status, stdout)."""
    app = argparse.Namespace(
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        options=argparse.Namespace(debug=False),
    )
    command = cls(app, None)
    status = command.run(command.get_parser("test").parse_args(list(argv)))
    return status, app.stdout.getvalue()


class GenericCommandsTest(SharedOutputBase):
    def test_any_lister(self):
        for argv in ((), ("-f", "value"), ("--sort-column", "Count")):
            with self.subTest(argv=argv):
                got, added, want = self.outputs(
                    lambda argv=argv: run_command(Rows, *argv)
                )
                self.assert_same(want, got)
                # first | 699 | the None row | 1000 | 800
                self.assertEqual({(): 5, ("-f", "value"): 0}.get(argv, 2501), added)
        self.assertIn("| two\\x0alines |", got[1])

    def test_show_one_is_not_batched(self):
        for argv in ((), ("-f", "value"), ("-c", "hosts")):
            with self.subTest(argv=argv):
                with mock.patch.object(
                    batched_table, "batched", wraps=batched_table.batched
                ) as spy:
                    got, _, want = self.outputs(
                        lambda argv=argv: run_command(Record, *argv)
                    )
                self.assert_same(want, got)
                spy.assert_not_called()
        got = run_command(Record)[1]
        self.assertIn("| hosts      | c1,c2            |", got)


if __name__ == "__main__":
    unittest.main()
