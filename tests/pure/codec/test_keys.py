"""aggregate_pci.codec.keys: PCI flavor names and keys, with the exact
error text, and PciFlavorError itself."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregate_pci import codec
from aggregate_pci.codec import PciFlavorError


@pytest.mark.parametrize("name", ["gpu", "A100", "x", "a" * 64, "nic.vf-2_a", "0"])
def test_valid_names(name):
    assert codec.make_key(name) == "pci_flavor:" + name
    assert codec.name_from_key("pci_flavor:" + name) == name


@pytest.mark.parametrize(
    "name", ["", "-gpu", ".x", "_x", "a" * 65, "gpu\n", "gp u", "gpu:1", "gpu,2", "gpü"]
)
def test_invalid_names(name):
    with pytest.raises(PciFlavorError) as info:
        codec.make_key(name)
    assert info.value.reason == (
        "invalid PCI flavor name %r: use 1-64 characters from A-Z a-z 0-9 _ . -, "
        "starting with a letter or digit (the name must also fit Nova's "
        "'pci_passthrough:alias=NAME:COUNT')" % name
    )


def test_name_from_key_names_key_and_aggregate():
    with pytest.raises(PciFlavorError) as info:
        codec.name_from_key("pci_flavor:-bad", aggregate="agg3")
    assert info.value.key == "pci_flavor:-bad"
    assert info.value.aggregate == "agg3"
    with pytest.raises(PciFlavorError) as info:
        codec.name_from_key("availability_zone")
    assert info.value.reason == "not a PCI flavor key: it must start with 'pci_flavor:'"


def test_error_survives_copy():
    import copy
    import pickle

    e = PciFlavorError("bad", key="k", aggregate="a")
    for clone in (copy.copy(e), pickle.loads(pickle.dumps(e))):
        assert (clone.reason, clone.key, clone.aggregate) == ("bad", "k", "a")


@given(st.text(max_size=80))
def test_arbitrary_names_are_valid_or_refused(name):
    try:
        key = codec.make_key(name)
    except PciFlavorError:
        return
    assert codec.name_from_key(key) == name
    assert len(key) <= codec.MAX_KEY_LENGTH
