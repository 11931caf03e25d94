"""oslo.config options of aggregate-pci, in group ``[aggregate_pci]``.

``list_opts`` is the ``oslo.config.opts`` entry point, so
``oslo-config-generator --namespace aggregate_pci`` documents them.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "aggregate_pci"

aggregate_pci_group = cfg.OptGroup(
    GROUP,
    title="aggregate-pci options",
    help="PCI flavors defined as host-aggregate metadata (keys 'pci_flavor:NAME').",
)

opts = [
    cfg.BoolOpt(
        "reject_unmanaged_requests",
        default=False,
        help="What AggregatePciFilter does with a 'pci_passthrough:alias' "
        "request whose name no aggregate defines as a PCI flavor. "
        "False (default): leave it to Nova's PciPassthroughFilter. "
        "True: no host passes, so only PCI flavors defined on "
        "aggregates can be requested.",
    ),
    cfg.BoolOpt(
        "manage_port_requests",
        default=False,
        help="Scope Neutron SR-IOV port requests (vnic_type direct, "
        "direct-physical, macvtap, vdpa, remote-managed) by aggregate "
        "metadata. When true, a physical network is managed as soon as any "
        "aggregate defines a PCI flavor with a match object fixing "
        "'physical_network' to it; a port on a managed physical network then "
        "lands only on hosts in such an aggregate, on devices matching "
        "those match objects and the port's spec. Ports on other physical "
        "networks are left to Nova. Trade-off: defining the first flavor "
        "that names a physical network immediately confines ALL ports of "
        "that network to the aggregates defining it (hosts outside them "
        "stop accepting such ports on their next boot or move), and each "
        "scheduling request with such ports costs one more indexed query "
        "on the API database. False (default): port requests are left to "
        "Nova's PciPassthroughFilter and [pci] device_spec tags.",
    ),
    cfg.FloatOpt(
        "weight_multiplier",
        default=10.0,
        help="Multiplier of AggregatePciWeigher (enable it in [filter_scheduler] "
        "weight_classes). The weigher prefers the host where the instance's "
        "PCI devices cost the other PCI request types of the cloud's Nova "
        "flavors least (each loss divided by what the candidate hosts still "
        "serve of that type). Nova normalizes each weigher's weights to 0..1 "
        "before multiplying: the default 10.0 lets this weigher outweigh the "
        "RAM, CPU, disk and PCI weighers (1.0 each by default), which then "
        "only break its ties. 0 disables it; negative values invert it (never "
        "useful). Overridden per aggregate by the metadata key "
        "'aggregate_pci_weight_multiplier' (a host in several such aggregates "
        "takes the smallest value; a value that is not a finite number is "
        "ignored with a warning). Requests without PCI flavor requests get "
        "weight 0 on every host.",
    ),
    cfg.IntOpt(
        "parse_cache_size",
        default=16384,
        min=16,
        help="How many distinct metadata values AggregatePciFilter keeps "
        "parsed (and host definitions compiled; about 1 KiB each). Values "
        "are cached by their text, so a metadata change is seen at once; "
        "this only bounds memory. A cloud with more distinct pci_flavor:* "
        "values than this re-parses the excess on each Neutron-port "
        "request (the cache keeps the rest), so size it above the count "
        "of distinct values.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register our options on ``conf`` (idempotent)."""
    conf.register_group(aggregate_pci_group)
    conf.register_opts(opts, group=aggregate_pci_group)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Options for oslo-config-generator."""
    return [(aggregate_pci_group, list(opts))]
