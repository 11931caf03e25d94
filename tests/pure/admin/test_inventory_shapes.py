"""The inventory's common shapes read without decoding text seen before
(aggregate_pci.admin.inventory_shapes): every file reads as ``json`` reads
it, whatever its layout and however its strings trick the shortcuts."""

import json

import pytest

from aggregate_pci.admin import errors, inventory, inventory_read, inventory_stream
from aggregate_pci.admin.inventory_shapes import Shapes
from tests.fixtures.inventory_docs import ALLOCATION

POOL = {"vendor_id": "10de", "product_id": "20b5", "count": 2, "used": 1}


def document(allocations, hosts=None):
    return {
        "format": inventory.FORMAT,
        "version": inventory.VERSION,
        "aggregates": [{"name": "gpu", "hosts": ["c1"], "metadata": {}}],
        "hosts": hosts or {"c1": [POOL, dict(POOL, used=0)], "c2": [POOL]},
        "allocations": allocations,
    }


def read(tmp_path, doc, **dumps):
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(doc, **dumps))
    return inventory_stream.load(str(path))


def same_as_json(tmp_path, doc, **dumps):
    inv = read(tmp_path, doc, **dumps)
    assert inventory.to_json(inv) == inventory.to_json(inventory_read.from_json(doc))
    return inv


TRICKS = [
    dict(ALLOCATION, name="a], [b"),
    dict(ALLOCATION, name='quote " and \\ backslash'),
    dict(ALLOCATION, name="tab\tin"),
    dict(ALLOCATION, name="caf\u00e9 \u2028"),
    dict(ALLOCATION, devices=[dict(ALLOCATION["devices"][0], tags={"x": "]"})]),
    dict(ALLOCATION, devices=[dict(ALLOCATION["devices"][0], tags={"x": "}{"})]),
    dict(ALLOCATION, requests=[{"alias": "t4", "count": 1, "x": [1]}]),
    dict(ALLOCATION, extra=["x", {"y": 1}], more="z"),
    {k: ALLOCATION[k] for k in reversed(list(ALLOCATION))},
    {k: v for k, v in ALLOCATION.items() if k not in ("name", "project")},
    dict(ALLOCATION, requests=[], devices=[]),
]


@pytest.mark.parametrize("dumps", [{}, {"indent": 1, "sort_keys": True}])
def test_layouts_and_tricky_strings_read_as_json_reads_them(tmp_path, dumps):
    allocations = [dict(ALLOCATION, instance="i%d" % n) for n in range(3)]
    for n, trick in enumerate(TRICKS):
        allocations += [dict(trick, instance="t%d" % n), ALLOCATION]
    hosts = {
        "c1": [POOL, dict(POOL, product_id="}"), dict(POOL, x="]")],
        "c2": [POOL, POOL],
        "c3": [],
        "c4": [dict(POOL, nested={"a": 1})],
        "c5": [dict(POOL, address="\\u0041")],
    }
    inv = same_as_json(tmp_path, document(allocations, hosts), **dumps)
    assert inv.hosts["c2"][0] == inv.hosts["c2"][1]
    assert inv.hosts["c2"][0] is not inv.hosts["c2"][1]  # users key pools by id()


def test_repeated_texts_are_checked_once(tmp_path):
    allocations = [dict(ALLOCATION, instance="i%d" % n) for n in range(5)]
    inv = same_as_json(tmp_path, document(allocations))
    assert len({id(a.devices) for a in inv.allocations}) == 1
    assert [a.instance for a in inv.allocations] == ["i%d" % n for n in range(5)]


def test_a_refused_entry_after_the_learnt_layout_reports_as_before(tmp_path):
    bad = dict(ALLOCATION, requests=[{"alias": "t4", "count": 2}])
    with pytest.raises(errors.AdminError) as exc:
        read(tmp_path, document([ALLOCATION, ALLOCATION, bad]))
    assert "allocations[2].requests[0].count: 2 is not between 0" in str(exc.value)


@pytest.mark.parametrize(
    "text",
    [
        '{"instance": "i", "host": "c1", "devices": [}',
        '{"instance": "i", "host": "c1" "devices": []}',
        '{"instance": "i", "host": "c1", "devices": [],}',
        '{"instance": "i", "instance": "j", "host": "c1"}',
        '{"instance": "i\x01", "host": "c1"}',
    ],
)
def test_shapes_leave_what_is_not_plain_to_the_decoder(text):
    assert Shapes().allocation_at(text, 0, 0, 1, None, {}) is None


def test_pools_cut_by_a_string_are_left_to_the_decoder():
    text = '[{"vendor_id": "a}b", "count": 1}]'
    assert Shapes().pools_at(text, 0, "c1", None) is None
    plain = '[{"count": 1},{"count": 2} ]'
    assert Shapes().pools_at(plain, 0, "c1", None) == (
        [{"count": 1}, {"count": 2}],
        len(plain),
    )


@pytest.mark.parametrize("dumps", [{}, {"indent": 1, "sort_keys": True}])
def test_unkept_allocations_are_checked_as_kept_ones(tmp_path, dumps):
    allocations = [dict(ALLOCATION, instance="i%d" % n) for n in range(3)]
    for n, trick in enumerate(TRICKS):
        allocations += [dict(trick, instance="t%d" % n), ALLOCATION, ALLOCATION]
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(document(allocations), **dumps))
    kept = inventory_stream.load(str(path))
    unkept = inventory_stream.load(str(path), allocations=False)
    assert len(kept.allocations) == len(allocations)
    assert unkept.allocations is None
    assert unkept.hosts == kept.hosts
    assert unkept.aggregates == kept.aggregates


@pytest.mark.parametrize("position", [0, 1, 3, 4])
@pytest.mark.parametrize(
    "bad, message",
    [
        (
            dict(ALLOCATION, requests=[{"alias": "t4", "count": 2}]),
            "allocations[%d].requests[0].count: 2 is not between 0",
        ),
        (dict(ALLOCATION, host=None), "allocations[%d]: needs a string 'host'"),
        (dict(ALLOCATION, devices=[{}]), "allocations[%d], device 0: needs a string"),
    ],
)
def test_unkept_allocations_are_refused_as_kept_ones(tmp_path, position, bad, message):
    allocations = [ALLOCATION] * 4
    allocations.insert(position, bad)
    for keep in (True, False):
        path = tmp_path / "inv.json"
        path.write_text(json.dumps(document(allocations)))
        with pytest.raises(errors.AdminError) as exc:
            inventory_stream.load(str(path), allocations=keep)
        assert message % position in str(exc.value)


def test_unkept_allocations_of_invalid_json_are_refused_as_kept_ones(tmp_path):
    text = json.dumps(document([ALLOCATION] * 4))
    cut = text.rindex('"devices"')
    path = tmp_path / "inv.json"
    path.write_text(text[:cut] + text[cut:].replace("[", "[[", 1))
    found = []
    for keep in (True, False):
        with pytest.raises(errors.AdminError) as exc:
            inventory_stream.load(str(path), allocations=keep)
        found.append(str(exc.value))
    assert "is not valid JSON" in found[0]
    assert found[0] == found[1]
