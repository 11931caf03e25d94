"""aggregate_pci.codec.value: every validation rule of a PCI flavor's value,
with the exact error text (names and keys: test_keys.py)."""

import json

import pytest

from aggregate_pci import codec
from aggregate_pci.codec import DeviceMatch, PciFlavorDefinition, PciFlavorError

GPU = '{"product_id":"20b5","vendor_id":"10de"}'


def err(value, key="pci_flavor:gpu", aggregate="agg1"):
    with pytest.raises(PciFlavorError) as info:
        codec.parse_value(value, key=key, aggregate=aggregate)
    return info.value


def test_parse_single_object():
    d = codec.parse_value(GPU)
    assert d == PciFlavorDefinition((DeviceMatch("10de", "20b5"),))
    assert d.serialize() == GPU


def test_parse_list_is_or_and_canonical_order():
    a = '[{"vendor_id":"8086","product_id":"1520"},{"vendor_id":"10de","product_id":"20b5"}]'
    b = '[{"vendor_id":"10de","product_id":"20b5"},{"vendor_id":"8086","product_id":"1520"}]'
    assert codec.parse_value(a) == codec.parse_value(b)
    assert (
        codec.canonicalize(a)
        == codec.canonicalize(b)
        == (
            '[{"product_id":"1520","vendor_id":"8086"},'
            '{"product_id":"20b5","vendor_id":"10de"}]'
        )
    )


def test_single_item_list_serialises_as_object_and_duplicates_collapse():
    assert codec.canonicalize("[%s, %s]" % (GPU, GPU)) == GPU


def test_canonical_form_sorts_keys_drops_spaces_lowercases_ids():
    value = (
        '{ "vendor_id": "10DE", "product_id": "20B5", '
        '"physical_network": "physnet2", "device_type": "type-VF" }'
    )
    assert codec.canonicalize(value) == (
        '{"device_type":"type-VF","physical_network":"physnet2",'
        '"product_id":"20b5","vendor_id":"10de"}'
    )


def test_tags_and_enumerations_are_kept():
    d = codec.parse_value(
        '{"vendor_id":"15b3","product_id":"101e","device_type":"type-PF",'
        '"numa_policy":"preferred","address":"0000:81:*","gpu_model":"A100"}'
    )
    (m,) = d.matches
    assert m.device_type == "type-PF"
    assert m.numa_policy == "preferred"
    assert m.tags == (("address", "0000:81:*"), ("gpu_model", "A100"))


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "",
            "the value is not valid JSON (Expecting value: line 1 column 1 (char 0)); "
            'expected e.g. {"vendor_id":"10de","product_id":"20b5"}',
        ),
        (
            "{",
            "the value is not valid JSON (Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)); expected e.g. "
            '{"vendor_id":"10de","product_id":"20b5"}',
        ),
        ('"gpu"', 'the value must be a JSON object or a list of objects, got "gpu"'),
        ("[]", "the list of match objects is empty: give at least one object"),
        ("[1]", "item 0: expected a JSON object, got 1"),
        (
            '{"vendor_id":"10de"}',
            "missing required field 'product_id' (4 hex digits, "
            "as Nova's [pci] alias requires)",
        ),
        (
            '{"product_id":"20b5"}',
            "missing required field 'vendor_id' (4 hex digits, "
            "as Nova's [pci] alias requires)",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b"}',
            "field 'product_id' must be exactly 4 hex digits (e.g. '10de'), got '20b'",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5\\n"}',
            "field 'product_id' must be exactly 4 hex digits (e.g. '10de'), got '20b5\\n'",
        ),
        (
            '{"vendor_id":"0x10","product_id":"20b5"}',
            "field 'vendor_id' must be exactly 4 hex digits (e.g. '10de'), got '0x10'",
        ),
        (
            '{"vendor_id":4318,"product_id":"20b5"}',
            "field 'vendor_id' must be a string, got 4318",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","device_type":"type-vf"}',
            "field 'device_type' must be one of type-PCI, type-PF, type-VF, got 'type-vf'",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","device_type":"vdpa"}',
            "field 'device_type' must be one of type-PCI, type-PF, type-VF, got 'vdpa'",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","device_type":null}',
            "field 'device_type' must be a string, got null",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","numa_policy":"strict"}',
            "field 'numa_policy' must be one of required, legacy, preferred, socket, "
            "got 'strict'",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","count":"2"}',
            "field 'count' is not allowed: it is the number of free devices, not a "
            "device attribute",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","dev_type":"type-PF"}',
            "field 'dev_type' is not allowed: use 'device_type' (one of type-PCI, "
            "type-PF, type-VF)",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","numa_node":"0"}',
            "field 'numa_node' is not allowed: NUMA affinity is set with 'numa_policy'",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","resource_class":"CUSTOM_X"}',
            "field 'resource_class' is not allowed: Placement resource classes are not "
            "part of a PCI flavor",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","name":"gpu"}',
            "field 'name' is not allowed: the name is the key suffix 'pci_flavor:NAME', "
            "not a field",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","bad key":"x"}',
            "field name 'bad key' is not a valid tag name: use letters, digits, '_' and "
            "'-', starting with a letter or '_'",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","physical_network":""}',
            "field 'physical_network' must not be empty",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","physical_network":["a"]}',
            "field 'physical_network' must be a string, got [\"a\"]",
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","address":"0000:81:00.0/1"}',
            "field 'address' must be a PCI address or glob such as '0000:81:*' (hex "
            "digits, ':', '.', '*', '?', '[...]'), got '0000:81:00.0/1'",
        ),
        (
            '{"vendor_id":"10de","vendor_id":"10de","product_id":"20b5"}',
            "the value is not valid JSON (duplicate field 'vendor_id'); expected e.g. "
            '{"vendor_id":"10de","product_id":"20b5"}',
        ),
        (
            '{"vendor_id":"10de","product_id":"20b5","x":NaN}',
            "the value is not valid JSON (NaN is not allowed); expected e.g. "
            '{"vendor_id":"10de","product_id":"20b5"}',
        ),
        (
            '[{"vendor_id":"10de","product_id":"20b5"},{"vendor_id":"10de"}]',
            "item 1: missing required field 'product_id' (4 hex digits, as Nova's "
            "[pci] alias requires)",
        ),
    ],
)
def test_invalid_values(value, message):
    e = err(value)
    assert e.reason == message
    assert e.key == "pci_flavor:gpu"
    assert e.aggregate == "agg1"
    assert str(e) == "aggregate 'agg1', key 'pci_flavor:gpu': " + message


def test_one_bad_object_invalidates_the_whole_list():
    with pytest.raises(PciFlavorError):
        codec.parse_value('[%s,{"vendor_id":"zzzz","product_id":"0001"}]' % GPU)


def test_value_longer_than_nova_allows():
    value = json.dumps(
        {"vendor_id": "10de", "product_id": "20b5", "gpu_model": "x" * 250}
    )
    e = err(value)
    assert e.reason == (
        "the value is %d characters; Nova stores at most 255: split the "
        "flavor's match objects or shorten tag values" % len(value)
    )


def test_encode_refuses_canonical_value_longer_than_255():
    d = PciFlavorDefinition(
        tuple(
            DeviceMatch("10de", "%04x" % i, tags=(("gpu_model", "m" * 10),))
            for i in range(6)
        )
    )
    with pytest.raises(PciFlavorError) as info:
        codec.encode(d, key="pci_flavor:big", aggregate="agg9")
    assert str(info.value) == (
        "aggregate 'agg9', key 'pci_flavor:big': the canonical value is %d "
        "characters; Nova stores at most 255: split the flavor's match objects "
        "over fewer fields or shorten tag values" % len(d.serialize())
    )


def test_non_string_value():
    assert err(None).reason == "the value must be a string of JSON, got NoneType"


def test_error_without_context_is_the_bare_sentence():
    with pytest.raises(PciFlavorError) as info:
        codec.parse_value("[]")
    assert str(info.value) == (
        "the list of match objects is empty: give at least one object"
    )
    assert info.value.key is None and info.value.aggregate is None


def test_definitions_from_metadata_reports_bad_keys_and_values():
    good, errors = codec.definitions_from_metadata(
        {
            "availability_zone": "az1",
            "pci_flavor:gpu": GPU,
            "pci_flavor:nic": '{"vendor_id":"8086"}',
            "pci_flavor:-x": GPU,
        },
        aggregate="agg1",
    )
    assert list(good) == ["gpu"]
    assert sorted((e.key, e.aggregate) for e in errors) == [
        ("pci_flavor:-x", "agg1"),
        ("pci_flavor:nic", "agg1"),
    ]


def test_union_is_or_without_duplicates():
    a = codec.parse_value(GPU)
    b = codec.parse_value('{"vendor_id":"8086","product_id":"1520"}')
    assert a.union(b) == b.union(a)
    assert a.union(a) == a
    assert len(a.union(b).matches) == 2


def test_empty_definition_is_refused():
    with pytest.raises(PciFlavorError):
        PciFlavorDefinition(())
