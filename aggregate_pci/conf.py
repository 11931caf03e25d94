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
    cfg.IntOpt(
        "parse_cache_size",
        default=4096,
        min=16,
        help="How many distinct metadata values AggregatePciFilter keeps "
        "parsed. Values are cached by their text, so a metadata change "
        "is seen at once; this only bounds memory.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register our options on ``conf`` (idempotent)."""
    conf.register_group(aggregate_pci_group)
    conf.register_opts(opts, group=aggregate_pci_group)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Options for oslo-config-generator."""
    return [(aggregate_pci_group, list(opts))]
