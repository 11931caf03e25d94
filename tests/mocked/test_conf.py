"""Config options are registered in [aggregate_pci] and discoverable."""

from importlib import metadata

from oslo_config import cfg

from aggregate_pci import conf


def test_register_and_defaults():
    c = cfg.ConfigOpts()
    conf.register_opts(c)
    conf.register_opts(c)
    c([], project="test")
    assert c.aggregate_pci.reject_unmanaged_requests is False
    assert c.aggregate_pci.parse_cache_size == 16384
    assert c.aggregate_pci.manage_port_requests is False
    assert c.aggregate_pci.weight_multiplier == 10.0


def test_entry_point_lists_opts():
    eps = metadata.entry_points(group="oslo.config.opts")
    (ep,) = [e for e in eps if e.name == "aggregate_pci"]
    [(group, opts)] = ep.load()()
    assert group.name == "aggregate_pci"
    assert {o.name for o in opts} == {
        "reject_unmanaged_requests",
        "parse_cache_size",
        "manage_port_requests",
        "weight_multiplier",
    }
