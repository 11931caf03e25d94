"""Issue 22, points 2 and 3: a corpus of hostile inputs, run offline against
inventory files through the standalone command (in process): each ends in
exit status 1 with exactly one ``error:`` line on stderr, no traceback and
no raw exception text; the inventory refusals name the file and the place."""

import copy
import io
import json
import os
import resource
import tempfile
import unittest
import unittest.mock

import pytest

from aggregate_pci.admin import models
from aggregate_pci.admin.checks import audit
from aggregate_pci.cli import shell

T4 = '{"vendor_id":"10de","product_id":"1db4"}'
GOOD = {
    "format": "aggregate-pci-inventory",
    "version": 1,
    "aggregates": [{"name": "gpu", "hosts": ["c1"], "metadata": {"pci_flavor:t4": T4}}],
    "hosts": {
        "c1": [
            {"vendor_id": "10de", "product_id": "1db4", "dev_type": "type-PCI",
             "count": 1, "used": 1}
        ]
    },
    "nova_flavors": [
        {"name": "gpu.t4", "id": "1", "extra_specs": {"pci_passthrough:alias": "t4:1"}}
    ],
    "allocations": [
        {"instance": "i1", "host": "c1", "requests": [{"alias": "t4", "count": 1}],
         "devices": [{"address": "0000:82:00.0", "vendor_id": "10de",
                      "product_id": "1db4", "dev_type": "type-PCI", "tags": None}]}
    ],
}  # fmt: skip

#: Raw Python exception texts that must never reach the operator.
RAW = (
    "Traceback",
    "invalid literal",
    "unhashable type",
    "object has no attribute",
    "[Errno",
    "maximum recursion",
    "NoneType",
    "KeyError",
    "not subscriptable",
    "not iterable",
    "Nova flavor None",
)


def mutate(path, value):
    """GOOD with the value at ``path`` (keys and indexes) replaced."""
    doc = copy.deepcopy(GOOD)
    target = doc
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


DELETE = object()
HOSTILE_VALUES = [
    None, True, -1, 10**12, -(10**12), 1.5, "1", "²", "١", "", "\x1b[31m",
    [], [1], {}, {"x": 1}, "a" * 10000, [[[[]]]], float("1e308"),
]  # fmt: skip
PLACES = [
    ("format",), ("version",), ("aggregates",), ("aggregates", 0),
    ("aggregates", 0, "name"), ("aggregates", 0, "hosts"),
    ("aggregates", 0, "metadata"), ("aggregates", 0, "metadata", "pci_flavor:t4"),
    ("hosts",), ("hosts", "c1"), ("hosts", "c1", 0), ("hosts", "c1", 0, "count"),
    ("hosts", "c1", 0, "used"), ("nova_flavors",), ("nova_flavors", 0),
    ("nova_flavors", 0, "name"), ("nova_flavors", 0, "extra_specs"),
    ("nova_flavors", 0, "extra_specs", "pci_passthrough:alias"),
    ("allocations",), ("allocations", 0), ("allocations", 0, "instance"),
    ("allocations", 0, "host"), ("allocations", 0, "requests"),
    ("allocations", 0, "requests", 0), ("allocations", 0, "requests", 0, "count"),
    ("allocations", 0, "requests", 0, "alias"), ("allocations", 0, "devices"),
    ("allocations", 0, "devices", 0), ("allocations", 0, "devices", 0, "tags"),
    ("allocations", 0, "devices", 0, "address"),
]  # fmt: skip
COMMANDS = [
    ["audit"],
    ["capacity"],
    ["capacity", "--fit", "t4:1"],
    ["check", "--offline"],
    ["explain", "--nova-flavor", "gpu.t4"],
    ["explain", "--request", "t4:1"],
    ["alias-config"],
]


def _inventory_cases():
    """(id, document, command) for every hostile value at every place, the
    commands taken in turn; only those a command refuses count."""
    n = 0
    for place in PLACES:
        for value in HOSTILE_VALUES + [DELETE]:
            doc = mutate(place, value)
            yield (
                "%s=%r" % ("/".join(map(str, place)), value)[:80],
                doc,
                COMMANDS[n % len(COMMANDS)],
            )
            n += 1


def _option_cases():
    """Hostile command-line values with a good inventory."""
    requests = [
        "", " ", ":", "t4:", ":1", "t4:²", "t4:١", "t4:0", "t4:-1", "t4:1.5",
        "t4:1,", ",", "t4:1,,t4:1", "t4:99999999999999999999", "\x1b[31m:1",
        "t4:1\x07", "a" * 5000 + ":1", "t4:+1", "t4: 1 ", "t4:1_0", "t4:0x1",
        "t4:1e3", "t4:١٢", "t4:𝟙",
    ]  # fmt: skip
    for r in requests:
        yield "explain --request %r" % r[:40], ["explain", "--request", r]
        yield "capacity --fit %r" % r[:40], ["capacity", "--fit", r]
    for name in ["", "nope", "\x1b]0;x\x07", "a" * 3000]:
        yield "explain --nova-flavor %r" % name[:40], ["explain", "--nova-flavor", name]


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    status = shell.main(argv, stdout=out, stderr=err, admin_factory=_no_nova)
    return status, out.getvalue(), err.getvalue()


def _no_nova():
    raise AssertionError("an offline command called Nova")


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        yield d


def _write(workdir, name, doc):
    path = os.path.join(workdir, name)
    with open(path, "w") as fh:
        if isinstance(doc, str):
            fh.write(doc)
        else:
            json.dump(doc, fh)
    return path


def assert_one_error(status, stdout, stderr):
    assert status == 1, (status, stdout, stderr)
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    for raw in RAW:
        assert raw not in stderr, stderr
    assert "\x1b" not in stderr and "\x07" not in stderr, stderr


def assert_refused_or_answered(status, stdout, stderr):
    """A refusal (one error line, exit 1) or an answer (no error line; exit
    1 is a finding: a request that cannot land, a mismatch), never raw
    exception text or a terminal escape."""
    if "error:" in stderr:
        assert_one_error(status, stdout, stderr)
        return
    assert status in (0, 1), (status, stderr)
    # A finding says something (cliff's own handler of an exception that
    # escaped would log it elsewhere, exit 1 and print nothing here).
    assert status == 0 or stdout.strip() or stderr.strip(), status
    for raw in RAW:
        assert raw not in stdout + stderr, stderr
    assert "\x1b" not in stdout + stderr and "\x07" not in stdout + stderr


INVENTORY_CASES = list(_inventory_cases())
OPTION_CASES = list(_option_cases())


def test_corpus_size():
    assert len(INVENTORY_CASES) + len(OPTION_CASES) + len(FILE_CASES) >= 200


@pytest.mark.parametrize(
    "doc,command", [c[1:] for c in INVENTORY_CASES], ids=[c[0] for c in INVENTORY_CASES]
)
def test_hostile_inventory(workdir, doc, command):
    path = _write(workdir, "inv.json", doc)
    assert_refused_or_answered(*run(command + ["--inventory", path]))


@pytest.mark.parametrize(
    "argv", [c[1] for c in OPTION_CASES], ids=[c[0] for c in OPTION_CASES]
)
def test_hostile_option(workdir, argv):
    path = _write(workdir, "good.json", GOOD)
    assert_refused_or_answered(*run(argv + ["--inventory", path]))


FILE_CASES = [
    ("not json", "{"),
    ("empty", ""),
    ("deep list", "[" * 100000 + "]" * 100000),
    ("deep object", '{"a":' * 100000 + "1" + "}" * 100000),
    ("deep inside", json.dumps(dict(GOOD, x=[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]))),
    ("nan", '{"format": NaN}'),
    ("array", "[]"),
    ("string", '"x"'),
    ("bom", "\ufeff{}"),
    ("binary", "\x00\x01\x02"),
]


@pytest.mark.parametrize(
    "text", [c[1] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_hostile_file(workdir, text):
    path = _write(workdir, "bad.json", text)
    status, out, err = run(["capacity", "--inventory", path])
    assert_one_error(status, out, err)
    assert path in err


class NamedRefusalsTest(unittest.TestCase):
    """Each refusal names the file and the place (JSON path)."""

    def check(self, doc, place, command=("audit",)):
        with tempfile.TemporaryDirectory() as d:
            path = _write(d, "inv.json", doc)
            status, out, err = run([*command, "--inventory", path])
        assert_one_error(status, out, err)
        self.assertIn(path, err)
        self.assertIn(place, err)
        return err

    def test_negative_count(self):
        doc = mutate(("allocations", 0, "requests", 0, "count"), -1)
        self.check(doc, "allocations[0].requests[0].count")

    def test_huge_count_refused_without_allocating(self):
        doc = mutate(("allocations", 0, "requests", 0, "count"), 10**12)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.check(doc, "allocations[0].requests[0].count")
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        self.assertLess(grown_kb, 100_000)

    def test_list_valued_metadata(self):
        doc = mutate(("aggregates", 0, "metadata", "other"), ["x"])
        self.check(doc, 'aggregates[0].metadata["other"]', ("capacity",))

    def test_non_ascii_digit_in_flavor_spec(self):
        doc = mutate(
            ("nova_flavors", 0, "extra_specs", "pci_passthrough:alias"), "t4:١"
        )
        self.check(
            doc, 'nova_flavors[0].extra_specs["pci_passthrough:alias"]', ("capacity",)
        )

    def test_deep_nesting(self):
        self.check(
            dict(GOOD, x=[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]),
            '$["x"]',
            ("capacity",),
        )


class AuditArithmeticTest(unittest.TestCase):
    def test_count_is_not_expanded(self):
        recs = models.pci_flavor_records(
            models.Aggregate(1, "gpu", None, ("c1",), {"pci_flavor:t4": T4})
        )
        dev = audit.Device(
            "0000:82:00.0", "10de", "1db4", "type-PCI", tags={}, alias="t4"
        )
        alloc = audit.Allocation("i1", "c1", (("t4", 10**12),), (dev,))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = audit.audit([alloc], recs)
        self.assertLess(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, 100_000
        )
        self.assertEqual(["no"], [r.match for r in result.rows])


class OneErrorPathTest(unittest.TestCase):
    def test_empty_request_names_the_option(self):
        with tempfile.TemporaryDirectory() as d:
            path = _write(d, "good.json", GOOD)
            status, out, err = run(["explain", "--request", "", "--inventory", path])
        assert_one_error(status, out, err)
        self.assertIn("--request", err)

    def test_superscript_digit_refused(self):
        with tempfile.TemporaryDirectory() as d:
            path = _write(d, "good.json", GOOD)
            status, out, err = run(
                ["explain", "--request", "t4:²", "--inventory", path]
            )
        assert_one_error(status, out, err)
        self.assertIn("--request", err)

    def test_missing_output_directory(self):
        with tempfile.TemporaryDirectory() as d:
            path = _write(d, "good.json", GOOD)
            target = os.path.join(d, "no", "such", "dir", "out.prom")
            status, out, err = run(
                ["exporter", "--once", "--textfile", target, "--inventory", path]
            )
        assert_one_error(status, out, err)
        self.assertIn(target, err)

    def test_unexpected_exception_is_one_line(self):
        from aggregate_pci.admin.capacity import report

        orig = report.capacity if hasattr(report, "capacity") else None
        with tempfile.TemporaryDirectory() as d:
            path = _write(d, "good.json", GOOD)
            with unittest.mock.patch(
                "aggregate_pci.admin.inventory_read.from_json",
                side_effect=ValueError("raw secret text"),
            ):
                status, out, err = run(["capacity", "--inventory", path])
        del orig
        assert_one_error(status, out, err)
        self.assertNotIn("raw secret text", err)
        self.assertIn("'aggregate-pci capacity' failed unexpectedly (ValueError)", err)
        self.assertIn("--inventory %s" % path, err)
        self.assertIn("run again with --debug", err)


class OpenStackClientTest(unittest.TestCase):
    def test_unexpected_exception_is_one_line_in_osc_too(self):
        from openstackclient import shell as osc

        with tempfile.TemporaryDirectory() as d:
            path = _write(d, "good.json", GOOD)
            err = io.StringIO()
            with (
                unittest.mock.patch(
                    "aggregate_pci.admin.inventory_read.from_json",
                    side_effect=ValueError("raw secret text"),
                ),
                unittest.mock.patch("sys.stderr", err),
                unittest.mock.patch.dict(os.environ, {}, clear=False) as env,
            ):
                for name in [k for k in env if k.startswith("OS_")]:
                    del env[name]
                status = osc.main(["pci", "flavor", "capacity", "--inventory", path])
        assert_one_error(status, "", err.getvalue())
        self.assertIn(
            "error: 'openstack pci flavor capacity' failed unexpectedly "
            "(ValueError) on --inventory %s; run again with --debug" % path,
            err.getvalue(),
        )
        self.assertNotIn("raw secret text", err.getvalue())


class DbUrlTest(unittest.TestCase):
    def test_bad_charset_is_one_line(self):
        with tempfile.TemporaryDirectory() as d:
            path = _write(d, "good.json", GOOD)
            status, out, err = run(
                ["migrate", "--db-url",
                 "mysql+pymysql://u:secret@127.0.0.1:1/db?charset=bogus",
                 "--inventory", path, "--offline", "--dry-run", "--aggregate", "gpu"]
            )  # fmt: skip
        assert_one_error(status, out, err)
        self.assertIn("?charset=", err)
        self.assertNotIn("secret", err)
