"""Issue 22, point 7: undo of a 2,000-key migration onto one aggregate
writes in parts sized for Nova's one-transaction-per-key deletes, counts
honestly what Nova applied when a part times out (read back), and its error
names the first keys and a count, not every key."""

import dataclasses
import os
import tempfile
import unittest

from aggregate_pci.admin import errors, models
from aggregate_pci.admin.nova_io import aggregates
from aggregate_pci.migrate import journal, undo

KEYS = ["pci_flavor:f%04d" % i for i in range(2000)]


class SlowNova:
    """An admin whose aggregate 'gpu' holds the 2,000 migrated keys; the
    ``fail_on``-th metadata write applies half of its keys, then times
    out (as Nova does when its per-key transactions outlast the timeout)."""

    def __init__(self, fail_on=None):
        self.agg = models.Aggregate(1, "gpu", None, ("c1",), {k: "v" for k in KEYS})
        self.calls = []
        self.fail_on = fail_on

    def list_aggregates(self):
        return [self.agg]

    def find_aggregate(self, name):
        return self.agg

    def set_metadata(self, agg, changes, dry_run=False):
        self.calls.append(len(changes))
        if dry_run:
            return []
        meta = dict(self.agg.metadata)
        keys = sorted(changes)
        applied = keys[: len(keys) // 2] if len(self.calls) == self.fail_on else keys
        for k in applied:
            if changes[k] is None:
                meta.pop(k, None)
            else:
                meta[k] = changes[k]
        self.agg = dataclasses.replace(self.agg, metadata=meta)
        if len(self.calls) == self.fail_on:
            raise errors.Unreachable(
                "cannot set metadata %s on aggregate 'gpu': no answer from "
                "the Compute API within the timeout" % aggregates.keys_text(changes)
            )
        return []


class UndoPartsTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.path = os.path.join(tmp.name, "journal.jsonl")
        j = journal.Journal(self.path)
        seq = j.intent(
            "set_metadata", aggregate="gpu",
            keys={k: {"old": None, "new": "v"} for k in KEYS},
        )  # fmt: skip
        j.done(seq)

    def test_parts_sized_for_slow_deletes(self):
        nova = SlowNova()
        report = undo.undo(nova, self.path)
        self.assertIsNone(report.error)
        self.assertTrue(all(n <= undo.UNDO_PART_KEYS for n in nova.calls), nova.calls)
        self.assertEqual(2000, sum(nova.calls))
        self.assertEqual(2000, len(report.applied))
        self.assertEqual({}, nova.agg.metadata)

    def test_timed_out_part_counted_by_read_back(self):
        nova = SlowNova(fail_on=3)
        report = undo.undo(nova, self.path)
        # Two whole parts, then half of the third, read back.
        half = undo.UNDO_PART_KEYS // 2
        self.assertEqual(2 * undo.UNDO_PART_KEYS + half, len(report.applied))
        self.assertEqual(2000 - len(report.applied), len(nova.agg.metadata))
        self.assertIn(
            "read back: Nova applied %d of those %d key(s)"
            % (half, undo.UNDO_PART_KEYS),
            report.error,
        )
        self.assertIn(
            "Undo stopped after %d write(s)" % len(report.applied), report.error
        )
        self.assertLess(len(report.error), 1000, report.error)
        # Run again: finishes the rest.
        again = undo.undo(SlowNovaFrom(nova), self.path)
        self.assertIsNone(again.error)

    def test_keys_text(self):
        self.assertEqual("a, b", aggregates.keys_text(["b", "a"]))
        self.assertEqual(
            "pci_flavor:f0000, pci_flavor:f0001, pci_flavor:f0002 and 1997 more "
            "(2000 keys)",
            aggregates.keys_text(KEYS),
        )


def SlowNovaFrom(previous):
    nova = SlowNova()
    nova.agg = previous.agg
    return nova
