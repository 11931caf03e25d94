"""aggregate_pci.alias.conf: nova.conf's [pci] alias values, read with
Nova's own option definition."""

import pytest

from aggregate_pci import alias


def test_read_conf_missing_file_names_it(tmp_path):
    with pytest.raises(alias.ConfError, match="nope.conf"):
        alias.read_conf([str(tmp_path / "nope.conf")])
