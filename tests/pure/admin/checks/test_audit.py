"""audit's judging core: an instance's devices against its host's current
definitions, as a set (overlapping flavors), with unknown tags."""

import unittest

from aggregate_pci.admin.checks import audit
from tests.fixtures.records import records

T4_TAG = '{"vendor_id":"10de","product_id":"1db4","gpu_model":"t4"}'
V100_TAG = '{"vendor_id":"10de","product_id":"1db4","gpu_model":"v100"}'
ANY = '{"vendor_id":"10de","product_id":"1db4"}'
T4_ADDR = '{"vendor_id":"10de","product_id":"1db4","address":"0000:82:01.*"}'


def dev(addr, model, alias=None, known=True):
    return audit.Device(
        addr,
        "10de",
        "1db4",
        "type-PCI",
        tags={"gpu_model": model} if known else None,
        alias=alias,
    )


V100 = "0000:82:00.0"
T4 = "0000:82:01.0"


def alloc(requests, *devices, host="h1", uuid="i1"):
    return audit.Allocation(uuid, host, tuple(requests), tuple(devices))


class JudgeTest(unittest.TestCase):
    def verdicts(self, result):
        return [(r.instance, r.device.address, r.flavor, r.match) for r in result.rows]

    def test_matching_device_is_clean(self):
        recs = records(("g", ["h1"], {"pci_flavor:t4": T4_TAG}))
        result = audit.audit([alloc([("t4", 1)], dev(T4, "t4", "t4"))], recs)
        self.assertEqual([("i1", T4, "t4", "yes")], self.verdicts(result))
        self.assertEqual("", result.rows[0].fix)
        self.assertEqual(0, result.mismatched_instances)
        self.assertEqual([], result.warnings)

    def test_excluded_device_is_a_mismatch_with_reason(self):
        recs = records(("g", ["h1"], {"pci_flavor:t4": T4_TAG}))
        result = audit.audit([alloc([("t4", 1)], dev(V100, "v100", "t4"))], recs)
        self.assertEqual([("i1", V100, "t4", "no")], self.verdicts(result))
        self.assertIn(
            "outside the host's current definition of t4", result.rows[0].reason
        )
        self.assertEqual(1, result.mismatched_instances)
        summary = {(s.flavor, s.scope, s.name): s for s in result.summary}
        self.assertEqual(1, summary[("t4", "total", "*")].mismatched)
        self.assertEqual(1, summary[("t4", "aggregate", "g")].mismatched)
        self.assertEqual(1, summary[("t4", "host", "h1")].devices)

    def test_address_glob_needs_no_tags(self):
        recs = records(("g", ["h1"], {"pci_flavor:t4": T4_ADDR}))
        result = audit.audit(
            [
                alloc([("t4", 1)], dev(T4, "", "t4", known=False), uuid="ok"),
                alloc([("t4", 1)], dev(V100, "", "t4", known=False), uuid="bad"),
            ],
            recs,
        )
        self.assertEqual(
            {("ok", "yes"), ("bad", "no")},
            {(r.instance, r.match) for r in result.rows},
        )
        self.assertEqual([], result.warnings)

    def test_overlapping_flavors_judged_as_a_set(self):
        # Nova recorded the T4 against "any" and the V100 against "t4": the
        # instance still holds exactly what t4:1,any:1 asks for.
        recs = records(("g", ["h1"], {"pci_flavor:t4": T4_TAG, "pci_flavor:any": ANY}))
        a = alloc(
            [("t4", 1), ("any", 1)], dev(T4, "t4", "any"), dev(V100, "v100", "t4")
        )
        result = audit.audit([a], recs)
        self.assertEqual(
            {(T4, "t4", "yes"), (V100, "any", "yes")},
            {(r.device.address, r.flavor, r.match) for r in result.rows},
        )
        # two V100s for t4:1,any:1: one is left over, and only that one is wrong
        a = alloc(
            [("t4", 1), ("any", 1)],
            dev(V100, "v100", "t4"),
            dev("0000:83:00.0", "v100"),
        )
        result = audit.audit([a], recs)
        self.assertEqual(["no", "yes"], sorted(r.match for r in result.rows))
        self.assertEqual(1, result.mismatched_instances)

    def test_unknown_tags_unknown_unless_decided_either_way(self):
        recs = records(("g", ["h1"], {"pci_flavor:t4": T4_TAG}))
        result = audit.audit(
            [alloc([("t4", 1)], dev(V100, "", "t4", known=False))], recs
        )
        self.assertEqual("unknown", result.rows[0].match)
        self.assertIn("gpu_model", result.rows[0].reason)
        self.assertEqual(0, result.mismatched_instances)
        self.assertEqual(1, len(result.warnings))
        self.assertIn("--compute-conf h1=", result.warnings[0])
        self.assertEqual(
            "give --compute-conf h1=NOVA_CONF (its [pci] device_spec)",
            result.rows[0].fix,
        )
        # a different product cannot match whatever its tags: a sure "no"
        other = audit.Device("0000:84:00.0", "10de", "20b5", "type-PCI", alias="t4")
        result = audit.audit([alloc([("t4", 1)], other)], recs)
        self.assertEqual("no", result.rows[0].match)

    def test_hosts_without_tags_are_one_warning_per_set_of_definitions(self):
        # a fleet read without its computes' nova.conf: a few lines naming
        # the hosts (capped), not one line per host
        hosts = ["h%02d" % n for n in range(12)]
        recs = records(
            ("g", hosts, {"pci_flavor:t4": T4_TAG}),
            ("v", ["v1"], {"pci_flavor:t4": T4_TAG, "pci_flavor:v100": V100_TAG}),
        )
        allocs = [
            alloc([("t4", 1)], dev(V100, "", "t4", known=False), host=h, uuid=h)
            for h in hosts + ["v1"]
        ]
        warnings = audit.audit(allocs, recs).warnings
        self.assertEqual(2, len(warnings), warnings)
        self.assertTrue(
            warnings[0].startswith(
                "12 hosts ('h00', 'h01', 'h02', 'h03', 'h04', 'h05', 'h06', "
                "'h07', 'h08', 'h09' and 2 more): device tags unknown "
                "(give --compute-conf HOST=NOVA_CONF for each, or "
                "'PATTERN'=NOVA_CONF for many, "
            ),
            warnings[0],
        )
        self.assertIn("the definition of t4 there uses tags", warnings[0])
        self.assertTrue(
            warnings[1].startswith(
                "host 'v1': device tags unknown (give --compute-conf v1=NOVA_CONF, "
            ),
            warnings[1],
        )
        self.assertIn("the definition of t4, v100 there uses tags", warnings[1])

    def test_definition_gone_from_host(self):
        recs = records(
            ("g", ["h2"], {"pci_flavor:t4": T4_TAG}),
        )
        result = audit.audit([alloc([("t4", 1)], dev(T4, "t4", "t4"))], recs)
        self.assertEqual("no", result.rows[0].match)
        self.assertIn("no definition of t4", result.rows[0].reason)
        self.assertIn("cold-migrate it ('openstack server migrate'", result.rows[0].fix)
        self.assertIn(
            "or put host h1 back into an aggregate defining t4", result.rows[0].fix
        )
        summary = {(s.scope, s.name) for s in result.summary}
        self.assertIn(("aggregate", "(none)"), summary)

    def test_or_of_the_hosts_aggregates(self):
        recs = records(
            ("a", ["h1"], {"pci_flavor:gpu": T4_TAG}),
            ("b", ["h1"], {"pci_flavor:gpu": V100_TAG}),
        )
        result = audit.audit([alloc([("gpu", 1)], dev(V100, "v100", "gpu"))], recs)
        self.assertEqual("yes", result.rows[0].match)
        summary = {(s.scope, s.name) for s in result.summary}
        self.assertEqual(
            {("total", "*"), ("aggregate", "a"), ("aggregate", "b"), ("host", "h1")},
            summary,
        )

    def test_unmanaged_only_instances_are_skipped_mixed_are_judged(self):
        recs = records(("g", ["h1"], {"pci_flavor:t4": T4_TAG}))
        result = audit.audit(
            [
                alloc([("nic", 1)], dev(V100, "v100", "nic"), uuid="plain"),
                alloc(
                    [("t4", 1), ("nic", 1)],
                    dev(V100, "v100", "t4"),
                    dev(T4, "t4", "nic"),
                    uuid="mixed",
                ),
            ],
            recs,
        )
        # Nova's bookkeeping swapped them; the set is right: T4 serves t4
        self.assertEqual(
            {(T4, "t4", "yes"), (V100, "nic", "unmanaged")},
            {(r.device.address, r.flavor, r.match) for r in result.rows},
        )

    def test_fewer_devices_than_requested(self):
        recs = records(("g", ["h1"], {"pci_flavor:t4": T4_TAG}))
        result = audit.audit([alloc([("t4", 2)], dev(T4, "t4", "t4"))], recs)
        self.assertEqual("no", result.rows[0].match)
        self.assertIn("holds 1 device(s) for t4:2", result.rows[0].reason)


if __name__ == "__main__":
    unittest.main()


class RepeatedShapesTest(unittest.TestCase):
    """audit judges an instance shape (aggregates, requests, devices) once
    and reuses the verdict: what names the instance or host stays its own."""

    def test_shared_device_objects_keep_each_host_in_the_rows(self):
        recs = records(
            ("g", ["h1", "h2"], {"pci_flavor:t4": T4_TAG}),
            ("other", ["h3"], {"pci_flavor:t4": V100_TAG}),
        )
        held = dev(V100, "v100", "t4")  # one object, as the reader shares it
        allocs = [
            alloc([("t4", 1)], held, host=h, uuid="i-" + h) for h in ("h1", "h2", "h3")
        ]
        result = audit.audit(allocs, recs)
        self.assertEqual(
            [("i-h1", "h1", "no"), ("i-h2", "h2", "no"), ("i-h3", "h3", "yes")],
            [(r.instance, r.host, r.match) for r in result.rows],
        )
        summary = {(s.flavor, s.scope, s.name): s for s in result.summary}
        self.assertEqual(
            (3, 2),
            (
                summary[("t4", "total", "*")].instances,
                summary[("t4", "total", "*")].mismatched,
            ),
        )
        self.assertEqual(2, summary[("t4", "aggregate", "g")].devices)
        self.assertEqual(1, summary[("t4", "aggregate", "other")].devices)

    def test_undefined_flavor_names_the_host_of_each_instance(self):
        recs = records(("g", ["h1"], {"pci_flavor:t4": T4_TAG}))
        held = dev(T4, "t4", "t4")
        allocs = [alloc([("t4", 1)], held, host=h, uuid="i-" + h) for h in ("h8", "h9")]
        result = audit.audit(allocs, recs)
        self.assertEqual(["no", "no"], [r.match for r in result.rows])
        self.assertIn(
            "put host h9 back into an aggregate defining t4", result.rows[1].fix
        )

    def test_counts_without_rows_agree_with_the_rows(self):
        # The exporter and --summary count the verdicts; no row is built.
        recs = records(("g", ["h1", "h2"], {"pci_flavor:t4": T4_TAG}))
        allocs = [
            alloc([("t4", 1)], dev(V100, "v100", "t4"), host="h1", uuid="bad"),
            alloc([("t4", 1)], dev(T4, "", "t4", known=False), host="h2", uuid="u"),
            alloc([("t4", 2)], dev(T4, "t4", "t4"), dev(T4, "t4", "t4"), uuid="ok"),
            alloc([("other", 1)], dev(T4, "t4", "other"), uuid="none"),
        ]
        result = audit.audit(allocs, recs)
        self.assertEqual(
            [("t4", "h1", "bad", "no"), ("t4", "h1", "ok", "yes")]
            + [("t4", "h1", "ok", "yes"), ("t4", "h2", "u", "unknown")],
            list(result.device_verdicts()),
        )
        self.assertNotIn("rows", vars(result))
        counts = (result.instances, result.devices, result.count("unknown"))
        self.assertEqual((3, 4, 1), counts)
        self.assertEqual(1, result.mismatched_instances)
        self.assertEqual(1, len(result.warnings))
        self.assertEqual(
            [(r.flavor, r.host, r.instance, r.match) for r in result.rows],
            list(result.device_verdicts()),
        )
