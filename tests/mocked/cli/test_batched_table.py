"""Long tables batched for cliff's table formatter print the same bytes."""

import argparse
import io
import unittest
from unittest import mock

from cliff.formatters.table import TableFormatter

from aggregate_pci.cli import batched_table

COLUMNS = ("Flavor", "Scope", "Name", "Instances", "Devices")


def render(rows):
    args = argparse.Namespace(print_empty=False, max_width=0, fit_width=False)
    out = io.StringIO()
    TableFormatter().emit_list(COLUMNS, list(rows), out, args)
    return out.getvalue()


def table_args(**kw):
    values = dict(formatter="table", sort_columns=[], max_width=0, fit_width=False)
    values.update(kw)
    return argparse.Namespace(**values)


class BatchedTest(unittest.TestCase):
    rows = [("a100", "total", "*", 12, 30)] + [
        ("t4", "host", "h%d" % i, i * 37 % 1000, i) for i in range(2500)
    ]

    def test_same_bytes_as_row_by_row(self):
        self.assertEqual(render(self.rows), render(batched_table.batched(self.rows)))

    def test_rows_are_joined(self):
        out = list(batched_table.batched(self.rows, size=1000))
        self.assertEqual([self.rows[0]], out[:1])
        self.assertEqual(4, len(out))  # 1 + 1000 + 1000 + 500
        self.assertEqual("h0\nh1", out[1][2][:5])

    def test_other_cells_go_alone_in_order(self):
        rows = self.rows[:5] + [("x", "y", None, 1, 2.5)] + self.rows[5:9]
        rows += [("x", "y", "z", 1, 0.1 + 0.2), ("x", "y", "z", 2, 1e-05)]
        out = list(batched_table.batched(rows))
        self.assertEqual(rows[5], out[2])
        self.assertEqual(render(rows), render(out))

    def test_empty_and_one_row(self):
        self.assertEqual([], list(batched_table.batched([])))
        self.assertEqual(self.rows[:1], list(batched_table.batched(self.rows[:1])))

    def test_only_plain_tables(self):
        with mock.patch("sys.stdout.isatty", return_value=False):
            self.assertTrue(batched_table.applies(table_args()))
            for kw in (
                {"formatter": "value"},
                {"sort_columns": ["Name"]},
                {"max_width": 80},
                {"fit_width": True},
            ):
                self.assertFalse(batched_table.applies(table_args(**kw)), kw)
        with mock.patch("sys.stdout.isatty", return_value=True):
            self.assertFalse(batched_table.applies(table_args()))
