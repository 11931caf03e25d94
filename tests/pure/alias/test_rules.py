"""aggregate_pci.alias.rules: NAME:COUNT and [pci] alias merging as Nova
judges them."""

import unittest

import pytest

from aggregate_pci import alias
from tests.fixtures.records import conf_entries as entries


@pytest.mark.parametrize(
    "spec, want",
    [
        ("a100:2", {"a100": 2}),
        ("a100:1, t4:2", {"a100": 1, "t4": 2}),
        ("a100:1,a100:2", {"a100": 3}),
        ("a100", {"a100": 1}),
        ("a100:x", {"a100": 0}),
        ("", {}),
        (None, {}),
        (" , ", {}),
    ],
)
def test_parse_request(spec, want):
    assert alias.parse_request(spec) == want


def test_parse_alias_spec():
    """Spaces around items, and no spec at all."""
    assert alias.parse_request("a, b:2") == {"a": 1, "b": 2}
    assert alias.parse_request(None) == {}


def test_parse_request_strict_as_novas_validator():
    assert alias.parse_request("a100:1, t4:2,a100:1", strict=True) == {
        "a100": 2,
        "t4": 2,
    }
    for spec, item in (
        ("a100", "a100"),
        ("a100:x", "a100:x"),
        ("a100:0", "a100:0"),
        ("a100:1,,t4:1", ""),
        (":2", ":2"),
    ):
        with pytest.raises(alias.RequestError) as ctx:
            alias.parse_request(spec, strict=True)
        assert (ctx.value.spec, ctx.value.item) == (spec, item)
        assert str(ctx.value).startswith(
            "%r: item %r must be NAME:COUNT" % (spec, item)
        )


def test_request_of_extra_specs():
    assert alias.request_of({"pci_passthrough:alias": "vf:2", "hw:x": "1"}) == {"vf": 2}
    assert alias.request_of(None) == {}


def test_merge_ors_entries_of_one_name():
    merged, refused = alias.merge(
        entries(
            '{"name": "gpu", "vendor_id": "10de", "product_id": "20b5", "device_type": "type-PCI"}',
            '{"name": "gpu", "vendor_id": "10de", "product_id": "1db4", "device_type": "type-PCI"}',
        )
    )
    assert refused == []
    assert merged["gpu"].idents == ("[pci] alias #1", "[pci] alias #2")
    assert merged["gpu"].numa_policy == "legacy"
    assert not merged["gpu"].policy_explicit
    assert [s["product_id"] for s in merged["gpu"].specs] == ["20b5", "1db4"]


def test_merge_reports_each_refusal_with_its_entry():
    merged, refused = alias.merge(
        entries(
            '[{"name": "a"}]',
            '{"vendor_id": "10de"}',
            '{"name": "b", "vendor_id": "10de", "product_id": "20b5", "x": 1}',
            '{"name": "ok", "vendor_id": "10de", "product_id": "20b5"}',
        )
    )
    assert list(merged) == ["ok"]
    assert [str(r) for r in refused] == [
        "[pci] alias #1: an alias must be one JSON object (Nova refuses lists), "
        'got [{"name": "a"}]; write one alias line per entry',
        "[pci] alias #2: the alias has no 'name'",
        "[pci] alias #3: unknown alias field(s) 'x' (Nova refuses them)",
    ]


def test_merge_refuses_names_nova_refuses():
    _, refused = alias.merge(
        entries(
            '{"name": "n", "vendor_id": "10de", "product_id": "20b5"}',
            '{"name": "n", "vendor_id": "10de", "product_id": "1db4"}',
        )
    )
    assert len(refused) == 1
    assert refused[0].ident == "[pci] alias #1, [pci] alias #2 (alias 'n')"
    assert "each sets device_type" in refused[0].reason


def test_predicates_match_what_the_claim_accepts():
    merged, _ = alias.merge(
        entries('{"name": "a100", "vendor_id": "10de", "product_id": "20b5"}')
    )
    pred = alias.predicates((a.name, s) for a in merged.values() for s in a.specs)[
        "a100"
    ]
    assert pred({"vendor_id": "10de", "product_id": "20b5", "dev_type": "type-PCI"})
    assert not pred({"vendor_id": "10de", "product_id": "1db4", "dev_type": "type-PCI"})


class ConfAliasListTest(unittest.TestCase):
    def test_conf_alias_lists_are_refused_as_nova_does(self):
        merged, refused = alias.merge(
            [
                alias.Entry(
                    "#1", '[{"name":"a","vendor_id":"10de","product_id":"20b5"}]'
                ),
                alias.Entry(
                    "#2", '{"name":"b","vendor_id":"10de","product_id":"20b5"}'
                ),
            ]
        )
        self.assertEqual(["b"], list(merged))
        self.assertEqual(1, len(refused))
        self.assertIn(
            "an alias must be one JSON object (Nova refuses lists)", str(refused[0])
        )
