"""Apply, journal, undo and interrupted runs against a requests-mock Nova."""

import collections
import json
import os
import tempfile
import unittest
from unittest import mock

import requests_mock
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from aggregate_pci.admin import errors
from aggregate_pci.admin.nova_io import client
from aggregate_pci.alias import Refused
from aggregate_pci.migrate import apply, journal, target_choice, undo
from tests.fixtures.fake_nova import A100, NIC, T4, URL, FakeNova
from tests.fixtures.migration import initial_aggregates, source


class _KeepHosts(list):
    """A host list whose ``remove`` is a no-op (a Nova that says yes)."""

    def remove(self, host):
        pass


class ApplyTest(unittest.TestCase):
    def setUp(self):
        self.mock = requests_mock.Mocker()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        self.nova = FakeNova(self.mock, initial_aggregates())
        self.admin = client.PciFlavorAdmin(
            ks_session.Session(auth=noauth.NoAuth(endpoint=URL)), connect_retries=0
        )
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.journal = os.path.join(tmp.name, "migrate.journal")
        self.src = source(a100=A100, t4=T4, nic=NIC)
        # auto-style targets: one new aggregate with hosts, plus mapped ones
        self.targets = target_choice.Targets(
            {"a100": ["gpu", "pci-flavor-a100"], "t4": ["gpu"], "nic": ["nic"]},
            {"pci-flavor-a100": ["c1", "c2"]},
        )

    def run_migrate(self, **kwargs):
        return apply.migrate(self.admin, self.src, self.targets, self.journal, **kwargs)

    def posts(self):
        return [r for r in self.mock.request_history if r.method != "GET"]

    def test_dry_run_writes_nothing(self):
        report = self.run_migrate(dry_run=True)
        self.assertEqual(6, report.plan.change_count)
        self.assertEqual([], self.posts())
        # hosts are to be added, so the compute hosts are listed too
        self.assertEqual([("GET", "list"), ("GET", "services")], self.requests())
        self.assertFalse(os.path.exists(self.journal))
        self.assertIn("create aggregate 'pci-flavor-a100'", report.plan.lines())

    def test_apply_then_rerun_is_zero_changes(self):
        report = self.run_migrate()
        self.assertTrue(report.ok, report)
        self.assertEqual(6, len(report.applied))
        state = self.nova.state()
        self.assertEqual(
            (["c1"], {"pci_flavor:t4": T4, "owner": "ops", "pci_flavor:a100": A100}),
            state["gpu"],
        )
        self.assertEqual(
            (["c1", "c2"], {"pci_flavor:a100": A100}), state["pci-flavor-a100"]
        )
        self.assertEqual((["c3"], {"pci_flavor:nic": NIC}), state["nic"])
        # one metadata call per aggregate written
        set_calls = [
            r
            for r in self.posts()
            if r.method == "POST" and "set_metadata" in (r.json() or {})
        ]
        self.assertEqual(3, len(set_calls))
        before = len(self.posts())
        again = self.run_migrate()
        self.assertTrue(again.ok)
        self.assertEqual(0, again.plan.change_count)
        self.assertEqual([], again.applied)
        self.assertEqual(before, len(self.posts()))

    def test_conflicts_block_every_write(self):
        self.nova.aggs[2]["metadata"]["pci_flavor:nic"] = A100
        self.nova.aggs[1]["metadata"]["pci_flavor:t4"] = NIC
        report = self.run_migrate()
        self.assertFalse(report.ok)
        self.assertEqual(2, len(report.plan.conflicts))
        self.assertEqual([], self.posts())
        self.assertFalse(os.path.exists(self.journal))

    def test_bad_rows_block_unless_skip_invalid(self):
        self.src = source(
            bad=[Refused("row id=9", "bad JSON")], a100=A100, t4=T4, nic=NIC
        )
        self.assertFalse(self.run_migrate().ok)
        self.assertEqual([], self.posts())
        self.assertTrue(self.run_migrate(skip_invalid=True).plan.change_count)
        self.assertNotEqual([], self.posts())

    def test_journal_records_replaced_values_and_undo_restores(self):
        self.nova.aggs[1]["metadata"]["pci_flavor:t4"] = NIC
        initial = self.nova.state()
        report = self.run_migrate(replace=True)
        self.assertTrue(report.ok, report)
        intents = journal.pending_intents(self.journal)
        sets = {i["aggregate"]: i["keys"] for i in intents if i["op"] == "set_metadata"}
        self.assertEqual({"old": NIC, "new": T4}, sets["gpu"]["pci_flavor:t4"])
        self.assertEqual({"old": None, "new": A100}, sets["gpu"]["pci_flavor:a100"])
        dry = undo.undo(self.admin, self.journal, dry_run=True)
        self.assertNotEqual([], dry.applied)
        self.assertNotEqual(initial, self.nova.state())
        undone = undo.undo(self.admin, self.journal)
        self.assertTrue(undone.ok, undone)
        self.assertEqual(initial, self.nova.state())
        # a second undo has nothing left to do
        self.assertEqual([], undo.undo(self.admin, self.journal).applied)

    def test_undo_leaves_keys_changed_since_alone(self):
        initial = self.nova.state()
        self.run_migrate()
        self.nova.aggs[2]["metadata"]["pci_flavor:nic"] = T4
        report = undo.undo(self.admin, self.journal)
        self.assertFalse(report.ok)
        self.assertIn(
            "aggregate 'nic', key 'pci_flavor:nic': now holds %s" % T4,
            report.problems[0],
        )
        self.assertEqual(T4, self.nova.state()["nic"][1]["pci_flavor:nic"])
        self.assertEqual(initial["gpu"], self.nova.state()["gpu"])

    def test_read_back_reports_mismatch(self):
        self.nova.drop_host_adds = True
        report = self.run_migrate()
        self.assertFalse(report.ok)
        self.assertIn(
            "aggregate 'pci-flavor-a100': host 'c1' is missing", report.mismatches
        )

    def test_interrupted_at_every_call_then_rerun_equals_clean_run(self):
        self.run_migrate()
        clean = self.nova.state()
        total_calls = self.nova.calls
        # 2 lists (aggregates, compute hosts), 6 writes, read-back list
        self.assertEqual(9, total_calls)
        for mode in ("before", "after"):
            for n in range(1, total_calls + 1):
                with self.subTest(mode=mode, n=n):
                    # fresh state; later routes take precedence in the mocker
                    self.nova = FakeNova(self.mock, initial_aggregates())
                    if os.path.exists(self.journal):
                        os.unlink(self.journal)
                    initial = self.nova.state()
                    self.nova.fail_at, self.nova.fail_mode = n, mode
                    try:
                        first = self.run_migrate()
                    except errors.AdminError:
                        # a list before any write failed: nothing written
                        self.assertIn(n, (1, 2))
                        self.assertEqual(initial, self.nova.state())
                        first = None
                    if first is not None:
                        self.assertFalse(first.ok)
                    self.nova.fail_at = None
                    second = self.run_migrate()
                    self.assertTrue(second.ok, second)
                    self.assertEqual(clean, self.nova.state())
                    self.assertEqual(0, self.run_migrate().plan.change_count)
                    if os.path.exists(self.journal):
                        undone = undo.undo(self.admin, self.journal)
                        self.assertTrue(undone.ok, undone)
                    self.assertEqual(initial, self.nova.state())

    def test_undo_interrupted_at_every_call_then_rerun_restores_exactly(self):
        # a replaced key, new keys, a created aggregate with added hosts
        self.nova.aggs[1]["metadata"]["pci_flavor:t4"] = NIC
        initial = self.nova.state()
        self.assertTrue(self.run_migrate(replace=True).ok)
        before_undo = self.nova.calls
        self.assertTrue(undo.undo(self.admin, self.journal).ok)
        undo_calls = self.nova.calls - before_undo
        # list, 3 restores, 2 removes, delete, read-back list
        self.assertEqual(8, undo_calls)
        self.assertEqual(initial, self.nova.state())
        for mode in ("before", "after"):
            for n in range(1, undo_calls + 1):
                with self.subTest(mode=mode, n=n):
                    self.nova = FakeNova(self.mock, initial_aggregates())
                    self.nova.aggs[1]["metadata"]["pci_flavor:t4"] = NIC
                    os.unlink(self.journal)
                    self.assertTrue(self.run_migrate(replace=True).ok)
                    self.nova.fail_at = self.nova.calls + n
                    self.nova.fail_mode = mode
                    try:
                        first = undo.undo(self.admin, self.journal)
                        self.assertFalse(first.ok)
                        if n == undo_calls:  # the read-back list failed
                            self.assertIn("read-back failed", first.mismatches[0])
                        else:
                            self.assertIn("run the same undo again", first.error)
                    except errors.AdminError:
                        self.assertEqual(1, n)  # the initial list failed
                    self.nova.fail_at = None
                    again = undo.undo(self.admin, self.journal)
                    self.assertTrue(again.ok, again)
                    self.assertEqual(initial, self.nova.state())
                    self.assertEqual([], undo.undo(self.admin, self.journal).applied)

    def test_undo_after_interrupted_run_without_rerun_restores_exactly(self):
        self.nova.aggs[1]["metadata"]["pci_flavor:t4"] = NIC
        initial = self.nova.state()
        self.run_migrate(replace=True)
        total = self.nova.calls
        # calls 1 and 2 list aggregates and compute hosts: no write yet
        for mode in ("before", "after"):
            for n in range(3, total):
                with self.subTest(mode=mode, n=n):
                    self.nova = FakeNova(self.mock, initial_aggregates())
                    self.nova.aggs[1]["metadata"]["pci_flavor:t4"] = NIC
                    os.unlink(self.journal)
                    self.nova.fail_at, self.nova.fail_mode = n, mode
                    self.assertFalse(self.run_migrate(replace=True).ok)
                    self.nova.fail_at = None
                    undone = undo.undo(self.admin, self.journal)
                    self.assertTrue(undone.ok, undone)
                    self.assertEqual(initial, self.nova.state())

    def requests(self):
        """(method, what) of every request: 'list', 'create', 'delete' or
        the aggregate action's name."""
        out = []
        for r in self.mock.request_history:
            if r.method == "GET":
                out.append(
                    ("GET", "services" if r.path.endswith("/os-services") else "list")
                )
            elif r.method == "DELETE":
                out.append(("DELETE", "delete"))
            elif r.path.endswith("/action"):
                out.append(("POST", next(iter(r.json()))))
            else:
                out.append(("POST", "create"))
        return out

    def test_api_calls_are_one_per_write_plus_three_lists(self):
        report = self.run_migrate()
        self.assertTrue(report.ok, report)
        # 1 list, 1 compute-host list (hosts are to be added), set_metadata
        # on gpu and nic, create pci-flavor-a100, add c1 and c2 to it, its
        # set_metadata, 1 read-back list: no lookups
        self.assertEqual(
            [
                ("GET", "list"),
                ("GET", "services"),
                ("POST", "set_metadata"),
                ("POST", "set_metadata"),
                ("POST", "create"),
                ("POST", "add_host"),
                ("POST", "add_host"),
                ("POST", "set_metadata"),
                ("GET", "list"),
            ],
            self.requests(),
        )
        self.mock.reset_mock()
        self.assertTrue(undo.undo(self.admin, self.journal).ok)
        # 1 list, restore 3 aggregates, remove 2 hosts, delete 1 aggregate,
        # 1 read-back list
        self.assertEqual(
            {
                ("GET", "list"): 2,
                ("POST", "set_metadata"): 3,
                ("POST", "remove_host"): 2,
                ("DELETE", "delete"): 1,
            },
            collections.Counter(self.requests()),
        )

    def test_api_calls_scale_with_aggregates_and_hosts_not_their_product(self):
        existing = [
            {
                "id": i,
                "name": "old-%d" % i,
                "uuid": "u%d" % i,
                "hosts": [],
                "metadata": {},
                "availability_zone": None,
            }
            for i in range(1, 101)
        ]
        self.nova = FakeNova(self.mock, existing, ["h%d" % i for i in range(150)])
        self.mock.reset_mock()
        values = {
            "f%02d" % i: '{"product_id":"%04x","vendor_id":"10de"}' % i
            for i in range(60)
        }
        self.src = source(**values)
        # 50 new aggregates of 3 hosts each, 10 flavors on existing ones
        mapping, hosts = {}, {}
        for i, name in enumerate(sorted(values)):
            if i < 50:
                mapping[name] = ["new-%d" % i]
                hosts["new-%d" % i] = ["h%d" % (3 * i + j) for j in range(3)]
            else:
                mapping[name] = ["old-%d" % i]
        self.targets = target_choice.Targets(mapping, hosts)
        report = self.run_migrate()
        self.assertTrue(report.ok, report)
        self.assertEqual(50 + 150 + 60, len(report.applied))
        self.assertEqual(
            {
                ("GET", "list"): 2,
                ("GET", "services"): 1,
                ("POST", "create"): 50,
                ("POST", "add_host"): 150,
                ("POST", "set_metadata"): 60,
            },
            collections.Counter(self.requests()),
        )
        self.mock.reset_mock()
        # no host to add: no compute-host list
        self.assertEqual(0, self.run_migrate().plan.change_count)
        self.assertEqual([("GET", "list")] * 2, self.requests())
        self.mock.reset_mock()
        self.assertTrue(undo.undo(self.admin, self.journal).ok)
        self.assertEqual(
            {
                ("GET", "list"): 2,
                ("POST", "set_metadata"): 60,
                ("POST", "remove_host"): 150,
                ("DELETE", "delete"): 50,
            },
            collections.Counter(self.requests()),
        )
        self.assertEqual(100, len(self.nova.aggs))

    def test_undo_keeps_created_aggregate_that_gained_a_host(self):
        initial = self.nova.state()
        self.run_migrate()
        new = next(a for a in self.nova.aggs.values() if a["name"] == "pci-flavor-a100")
        new["hosts"].append("c9")
        for dry_run in (True, False):
            report = undo.undo(self.admin, self.journal, dry_run=dry_run)
            self.assertFalse(report.ok)
            self.assertEqual(1, len(report.problems), report.problems)
            self.assertIn(
                "aggregate 'pci-flavor-a100' still has host(s) c9", report.problems[0]
            )
        self.assertEqual((["c9"], {}), self.nova.state()["pci-flavor-a100"])
        self.assertEqual(initial["gpu"], self.nova.state()["gpu"])
        self.assertEqual(initial["nic"], self.nova.state()["nic"])

    def test_undo_leaves_another_aggregate_of_the_created_name_alone(self):
        initial = self.nova.state()
        self.run_migrate()
        created = next(
            i for i, a in self.nova.aggs.items() if a["name"] == "pci-flavor-a100"
        )
        # someone deleted it and made an unrelated, empty one of that name
        del self.nova.aggs[created]
        self.nova.aggs[99] = {
            "id": 99,
            "name": "pci-flavor-a100",
            "uuid": "u99",
            "hosts": [],
            "metadata": {},
            "availability_zone": None,
        }
        report = undo.undo(self.admin, self.journal)
        self.assertFalse(report.ok)
        self.assertIn(
            "aggregate 'pci-flavor-a100' has id 99, but the "
            "migration created id %d" % created,
            report.problems[0],
        )
        self.assertIn(99, self.nova.aggs)
        self.assertEqual(initial["gpu"], self.nova.state()["gpu"])
        self.assertEqual(initial["nic"], self.nova.state()["nic"])

    def test_undo_reads_back_and_reports_what_did_not_happen(self):
        initial = self.nova.state()
        self.targets.hosts["nic"] = ["c3", "c4"]  # add c4 to an existing one
        self.assertTrue(self.run_migrate().ok)
        self.assertEqual(["c3", "c4"], self.nova.state()["nic"][0])
        # Nova answers remove_host with 200 but keeps the host
        self.nova.aggs[2]["hosts"] = _KeepHosts(self.nova.aggs[2]["hosts"])
        report = undo.undo(self.admin, self.journal)
        self.assertFalse(report.ok)
        self.assertIsNone(report.error)
        self.assertEqual(
            ["aggregate 'nic': host 'c4' is still there"], report.mismatches
        )
        self.assertNotIn("undo", [r["event"] for r in journal.read(self.journal)])
        # once Nova behaves, the same undo finishes and is marked done
        self.nova.aggs[2]["hosts"] = list(self.nova.aggs[2]["hosts"])
        again = undo.undo(self.admin, self.journal)
        self.assertTrue(again.ok, again)
        self.assertEqual(initial, self.nova.state())
        self.assertEqual("undo", list(journal.read(self.journal))[-1]["event"])

    def test_unknown_hosts_block_the_plan_before_any_write(self):
        initial = self.nova.state()
        # c9 and c8 are in no service (a stale inventory); ctl1 runs only a
        # conductor, so it is no compute host either
        self.targets.hosts["pci-flavor-a100"] = ["c1", "c9", "ctl1"]
        self.targets.hosts["nic"] = ["c3", "c8", "c9"]
        for dry_run in (True, False):
            with self.subTest(dry_run=dry_run):
                self.mock.reset_mock()
                report = self.run_migrate(dry_run=dry_run)
                self.assertFalse(report.ok)
                self.assertTrue(report.plan.blocked)
                self.assertEqual([], report.applied)
                self.assertEqual(
                    [("GET", "list"), ("GET", "services")], self.requests()
                )
                self.assertEqual(initial, self.nova.state())
                self.assertFalse(os.path.exists(self.journal))
                # one error naming every unknown host and its aggregates
                self.assertEqual(1, len(report.plan.errors), report.plan.errors)
                error = report.plan.errors[0]
                self.assertIn(
                    "3 host(s) to add are not compute hosts Nova "
                    "knows: host 'c8' (for aggregate 'nic'); host "
                    "'c9' (for aggregates 'nic', 'pci-flavor-a100'); "
                    "host 'ctl1' (for aggregate 'pci-flavor-a100')",
                    error,
                )
                self.assertIn(
                    "re-export it with 'inventory export', or remove these "
                    "hosts from it",
                    error.render(),
                )
                self.assertNotIn("'c1'", error)
                self.assertIn("ERROR " + error.render(), report.plan.lines())
        # without the unknown hosts the same targets apply completely
        self.targets.hosts["pci-flavor-a100"] = ["c1"]
        self.targets.hosts["nic"] = ["c3"]
        self.assertTrue(self.run_migrate().ok)

    def test_unknown_hosts_reported_with_conflicts(self):
        self.nova.aggs[2]["metadata"]["pci_flavor:nic"] = A100
        self.targets.hosts["pci-flavor-a100"] = ["c1", "c9"]
        report = self.run_migrate()
        self.assertEqual(1, len(report.plan.conflicts))
        self.assertEqual(1, len(report.plan.errors))
        self.assertIn("host 'c9'", report.plan.errors[0])
        self.assertEqual([], self.posts())

    def test_no_host_to_add_makes_no_compute_host_list(self):
        self.targets = target_choice.Targets(
            {"t4": ["gpu"], "nic": ["nic"]}, {"gpu": ["c1"]}
        )  # c1 is there already
        report = self.run_migrate(dry_run=True)
        self.assertTrue(report.ok, report)
        self.assertEqual([("GET", "list")], self.requests())

    def test_compute_host_list_refused_or_failing_writes_nothing(self):
        for status, body, error in (
            (
                403,
                {
                    "forbidden": {
                        "code": 403,
                        "message": "Policy doesn't "
                        "allow os_compute_api:os-services:list",
                    }
                },
                errors.NotAdmin,
            ),
            (
                500,
                {"computeFault": {"code": 500, "message": "boom"}},
                errors.AdminError,
            ),
        ):
            with self.subTest(status=status):
                self.mock.get(URL + "/os-services", status_code=status, json=body)
                for dry_run in (True, False):
                    with self.assertRaises(error) as ctx:
                        self.run_migrate(dry_run=dry_run)
                    self.assertIn("list compute services", str(ctx.exception))
                    self.assertIn("HTTP %d" % status, str(ctx.exception))
                self.assertEqual([], self.posts())
                self.assertFalse(os.path.exists(self.journal))

    def test_failure_message_says_how_to_continue(self):
        self.nova.fail_at = 4
        report = self.run_migrate()
        self.assertIn("re-run the same command", report.error)
        self.assertIn("--undo " + self.journal, report.error)
        records = list(journal.read(self.journal))
        self.assertIn("failed", [r["event"] for r in records])

    def test_journal_write_failure_stops_and_reports_writes_made(self):
        initial = self.nova.state()
        real_done = journal.Journal.done
        calls = []

        def done(self_, seq, **fields):
            calls.append(seq)
            if len(calls) == 2:  # disk full after the second write
                raise journal.JournalError("cannot write journal: disk full")
            return real_done(self_, seq, **fields)

        with mock.patch.object(journal.Journal, "done", done):
            report = self.run_migrate()
        self.assertFalse(report.ok)
        self.assertIn("cannot write journal: disk full", report.error)
        self.assertIn("Stopped after 2 write(s)", report.error)
        self.assertEqual(2, len(report.applied), report.applied)
        # every write made has its intent on disk: undo restores exactly
        self.assertTrue(undo.undo(self.admin, self.journal).ok)
        self.assertEqual(initial, self.nova.state())

    def test_torn_last_journal_line_is_ignored(self):
        self.run_migrate()
        with open(self.journal, "a") as fh:
            fh.write('{"event": "intent", "op"')
        self.assertTrue(undo.undo(self.admin, self.journal).ok)
        records = list(journal.read(self.journal))  # torn line was cut
        self.assertEqual("undo", records[-1]["event"])
        with open(self.journal, "a") as fh:
            fh.write("\nnot json\n{}\n")
        with self.assertRaises(journal.JournalError):
            journal.pending_intents(self.journal)

    def test_journal_lines_are_json(self):
        self.run_migrate()
        with open(self.journal) as fh:
            for line in fh:
                json.loads(line)
