"""The inventory file format (aggregate_pci.admin.inventory)."""

import pytest

from aggregate_pci.admin import errors, inventory, inventory_read, inventory_stream
from tests.fixtures.inventory_docs import ALLOCATION

FLAVOR = {
    "name": "gpu.a100",
    "id": "1",
    "extra_specs": {"pci_passthrough:alias": "a100:1"},
}


def doc(**extra):
    base = {
        "format": inventory.FORMAT,
        "version": inventory.VERSION,
        "aggregates": [{"name": "gpu", "hosts": ["c1"], "metadata": {}}],
        "hosts": {
            "c1": [{"vendor_id": "10de", "product_id": "20b5", "count": 1, "used": 0}]
        },
    }
    base.update(extra)
    return base


def test_round_trip_keeps_nova_flavors():
    inv = inventory_read.from_json(doc(nova_flavors=[FLAVOR]))
    assert inv.nova_flavors == [FLAVOR]
    again = inventory_read.from_json(inventory.to_json(inv))
    assert again.nova_flavors == [FLAVOR]
    assert inventory.to_json(inv)["nova_flavors"] == [FLAVOR]


def test_reads_the_0_1_0_flavors_key():
    assert inventory_read.from_json(doc(flavors=[FLAVOR])).nova_flavors == [FLAVOR]


@pytest.mark.parametrize(
    "section, message",
    [
        ({"a": 1}, "inventory, 'nova_flavors': must be a list of Nova flavors"),
        ([{"id": "1"}], "inventory, nova_flavors[0]: needs a string 'name'"),
        (
            [{"name": "x", "extra_specs": []}],
            "inventory, Nova flavor 'x': 'extra_specs' must be an object",
        ),
    ],
)
def test_bad_nova_flavors_name_the_place(section, message):
    with pytest.raises(errors.AdminError) as exc:
        inventory_read.from_json(doc(nova_flavors=section))
    assert str(exc.value).startswith(message)


def test_allocations_optional_and_round_trip():
    # files without the section (0.1 exports) load; None means "not recorded"
    assert inventory_read.from_json(doc()).allocations is None
    assert "allocations" not in inventory.to_json(inventory_read.from_json(doc()))
    unknown = dict(ALLOCATION, devices=[dict(ALLOCATION["devices"][0], tags=None)])
    inv = inventory_read.from_json(doc(allocations=[ALLOCATION, unknown]))
    assert inv.allocations[0].requests == (("t4", 1),)
    assert inv.allocations[0].devices[0].tags == {"gpu_model": "t4"}
    assert inv.allocations[1].devices[0].tags is None
    assert inventory.to_json(inv)["allocations"] == [ALLOCATION, unknown]
    assert (inv.allocations[0].name, inv.allocations[0].project) == ("vm1", "p-1")
    # files written before the server's name, project and Nova flavor were
    # exported load with them empty
    old = {k: v for k, v in ALLOCATION.items() if k not in ("name", "project")}
    (loaded,) = inventory_read.from_json(doc(allocations=[old])).allocations
    assert (loaded.name, loaded.project, loaded.nova_flavor) == ("", "", "gpu.t4")


@pytest.mark.parametrize(
    "section, message",
    [
        ({"a": 1}, "inventory, 'allocations': must be a list"),
        ([{"host": "c1"}], "inventory, allocations[0]: needs a string 'instance'"),
        (
            [dict(ALLOCATION, requests=[{"alias": "t4"}])],
            "inventory, allocations[0], request 0: must be",
        ),
        (
            [dict(ALLOCATION, devices=[{"address": "x"}])],
            "inventory, allocations[0], device 0: needs a string 'vendor_id'",
        ),
        (
            [dict(ALLOCATION, project=7)],
            "inventory, allocations[0]: 'project' must be a string",
        ),
        (
            [dict(ALLOCATION, devices=[dict(ALLOCATION["devices"][0], tags=[])])],
            "inventory, allocations[0], device 0: 'tags' must be null",
        ),
    ],
)
def test_bad_allocations_name_the_place(section, message):
    with pytest.raises(errors.AdminError) as exc:
        inventory_read.from_json(doc(allocations=section))
    assert str(exc.value).startswith(message)


def test_nova_flavor_request_by_name_or_id():
    inv = inventory.Inventory(
        [],
        {},
        [
            {
                "name": "gpu.a100",
                "id": "7",
                "extra_specs": {"pci_passthrough:alias": "a100:1"},
            },
            {"name": "plain", "id": "8", "extra_specs": {}},
        ],
    )
    assert inv.nova_flavor_request("gpu.a100", "inventory") == "a100:1"
    assert inv.nova_flavor_request("7", "inventory") == "a100:1"
    with pytest.raises(
        errors.NotFound,
        match="Nova flavor 'm1' not found among the flavors requesting PCI aliases in the inventory",
    ):
        inv.nova_flavor_request("m1", "inventory")
    with pytest.raises(
        errors.InvalidInput, match="Nova flavor 'plain' requests no PCI device"
    ):
        inv.nova_flavor_request("plain", "Nova database")


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_file_read_in_chunks_equals_the_whole_document(tmp_path, monkeypatch, chunk):
    # issue 21: the file is decoded entry by entry from a buffer refilled in
    # chunks (cut inside strings and numbers here), without the fallback
    import json

    other = dict(ALLOCATION, instance="i2", host="c2")
    d = doc(
        nova_flavors=[FLAVOR],
        allocations=[ALLOCATION, other],
        hosts={
            "c1": [{"vendor_id": "10de", "product_id": "20b5", "count": 12345}],
            "c2": [{"vendor_id": "10de", "product_id": "20b5", "used": 1}],
        },
    )
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(d, indent=1))
    monkeypatch.setattr(inventory_stream, "CHUNK", chunk)
    monkeypatch.setattr(inventory_stream, "_load_whole", None)  # no fallback
    inv = inventory_stream.load(str(path))
    assert inventory.to_json(inv) == inventory.to_json(inventory_read.from_json(d))
    assert inv.hosts["c1"][0]["count"] == 12345
    assert inv.allocations[0].devices[0] is inv.allocations[1].devices[0]  # shared


def test_refused_entry_read_in_chunks_reports_as_the_whole_document(tmp_path):
    import json

    bad = dict(ALLOCATION, requests=[{"alias": "a100", "count": -1}])
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(doc(allocations=[ALLOCATION, bad])))
    with pytest.raises(errors.AdminError) as exc:
        inventory_stream.load(str(path))
    assert "allocations[1].requests[0].count" in str(exc.value)
    assert str(path) in str(exc.value)
