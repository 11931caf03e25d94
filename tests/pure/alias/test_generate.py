"""aggregate_pci.alias.generate: the [pci] alias entries PCI flavors need,
and why a flavor cannot be one."""

import unittest

from aggregate_pci import alias, codec
from aggregate_pci.admin import models
from tests.fixtures.records import A100, NV_ANY, conf_entries, records

A100_TYPED = codec.definition_from_json(
    {"vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}
)


def generate(recs):
    """``alias-config``'s entries for these records."""
    return alias.generate(models.definitions_by_name(recs))


class AliasTest(unittest.TestCase):
    def test_or_across_aggregates_deduplicated(self):
        typed = A100.replace("{", '{"device_type":"type-PCI",')
        typed_any = NV_ANY.replace("{", '{"device_type":"type-PCI",')
        recs = records(
            ("a", ["h1"], {"pci_flavor:gpu": typed}),
            ("b", ["h2"], {"pci_flavor:gpu": typed_any}),
        )
        entries = generate(recs)
        self.assertEqual(
            [
                {
                    "name": "gpu",
                    "vendor_id": "10de",
                    "product_id": "1eb8",
                    "device_type": "type-PCI",
                },
                {
                    "name": "gpu",
                    "vendor_id": "10de",
                    "product_id": "20b5",
                    "device_type": "type-PCI",
                },
            ],
            sorted(entries, key=lambda e: e["product_id"]),
        )
        self.assertEqual(
            '{"device_type": "type-PCI", "name": "gpu", '
            '"product_id": "1eb8", "vendor_id": "10de"}',
            alias.line(entries[0]),
        )

    def test_several_entries_of_one_name_need_device_type(self):
        # Nova's get_alias_from_config raises PciInvalidAlias for a second
        # entry of a name when device_type is not set on the entries.
        recs = records(("a", ["h1"], {"pci_flavor:gpu": NV_ANY}))
        with self.assertRaises(alias.AliasConflict) as ctx:
            generate(recs)
        self.assertEqual(
            "PCI flavor 'gpu', key 'pci_flavor:gpu': it becomes 2 [pci] alias "
            "entries (one per vendor/product), and Nova accepts several entries "
            'of one name only if each sets device_type: add "device_type" to '
            "every match object of this flavor",
            str(ctx.exception),
        )

    def test_device_type_disagreement_fails_naming_aggregates(self):
        recs = records(
            ("a", [], {"pci_flavor:gpu": A100}),
            (
                "b",
                [],
                {
                    "pci_flavor:gpu": '{"device_type":"type-PF","product_id":"20b5","vendor_id":"10de"}'
                },
            ),
        )
        with self.assertRaises(alias.AliasConflict) as ctx:
            generate(recs)
        msg = str(ctx.exception)
        self.assertIn("PCI flavor 'gpu'", msg)
        self.assertIn("device_type differs", msg)
        self.assertIn("type-PF on aggregate(s) b", msg)
        self.assertIn("unset on aggregate(s) a", msg)

    def test_invalid_values_are_skipped(self):
        recs = records(("a", [], {"pci_flavor:gpu": A100, "pci_flavor:bad": "{"}))
        self.assertEqual(["gpu"], [e["name"] for e in generate(recs)])


class AliasFieldsTest(unittest.TestCase):
    def test_live_migratable_is_carried_into_the_alias(self):
        value = (
            '{"device_type":"type-VF","live_migratable":"true",'
            '"physical_network":"physnet2","product_id":"101e","vendor_id":"15b3"}'
        )
        entries = generate(records(("a", ["h1"], {"pci_flavor:vf": value})))
        self.assertEqual(
            [
                {
                    "name": "vf",
                    "vendor_id": "15b3",
                    "product_id": "101e",
                    "device_type": "type-VF",
                    "live_migratable": "true",
                }
            ],
            entries,
        )


def test_generate_and_problem():
    assert alias.generate({"a100": {"agg": A100_TYPED}}) == [
        {
            "name": "a100",
            "vendor_id": "10de",
            "product_id": "20b5",
            "device_type": "type-PCI",
        }
    ]
    assert alias.problem("a100", A100_TYPED) is None
    two = codec.definition_from_json(
        [
            {"vendor_id": "10de", "product_id": "20b5"},
            {"vendor_id": "10de", "product_id": "1db4"},
        ]
    )
    assert 'add "device_type" to every match object' in alias.problem("gpu", two)


def test_generated_entries_merge_back_unchanged():
    generated = alias.generate({"a100": {"agg": A100_TYPED}})
    merged, refused = alias.merge(conf_entries(*map(alias.line, generated)))
    assert refused == []
    assert merged["a100"].specs == (
        {"vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"},
    )
