"""Reading ``[pci] alias`` from nova.conf files with Nova's own option
definition."""

from __future__ import annotations

from typing import Sequence

from oslo_config import cfg

from aggregate_pci.alias.rules import Entry
from aggregate_pci.errors import AggregatePciError


class ConfError(AggregatePciError):
    """A nova.conf that cannot be read; the message names the file."""


def option() -> cfg.MultiStrOpt:
    """Nova's own definition of ``[pci] alias`` (nova/conf/pci.py), so that
    ``[DEFAULT] pci_alias`` is read exactly as Nova reads it."""
    return cfg.MultiStrOpt(
        "alias", default=[], deprecated_name="pci_alias", deprecated_group="DEFAULT"
    )


def read_conf(paths: Sequence[str]) -> tuple[list[Entry], list[str]]:
    """The ``[pci] alias`` values of these nova.conf files as Nova reads
    them, in order, and warnings for the operator (the deprecated name in
    use, or set but shadowed by ``[pci] alias``)."""
    conf = cfg.ConfigOpts()
    conf.register_opts([option()], group="pci")
    # The deprecated name once more, on its own, to tell whether it is used.
    conf.register_opt(cfg.MultiStrOpt("pci_alias", default=[]))
    try:
        conf(
            args=[],
            project="nova",
            default_config_files=list(paths),
            default_config_dirs=[],
            use_env=False,
        )
        values, legacy = list(conf.pci.alias), list(conf.pci_alias)
    except cfg.ConfigFilesNotFoundError:
        raise ConfError(
            "cannot read nova.conf %s: no such file or not "
            "readable" % ", ".join(map(repr, paths))
        ) from None
    except (cfg.Error, OSError) as exc:
        raise ConfError(
            "cannot read nova.conf %s: %s" % (", ".join(map(repr, paths)), exc)
        ) from None
    warnings = []
    if legacy and values == legacy:
        warnings.append(
            "%s: [DEFAULT] pci_alias is deprecated (Nova still "
            "reads it while [pci] alias is unset): move the "
            "entries to [pci] alias" % ", ".join(paths)
        )
    elif legacy:
        warnings.append(
            "%s: [DEFAULT] pci_alias is ignored because [pci] "
            "alias is set (as in Nova): remove it" % ", ".join(paths)
        )
    return (
        [Entry("[pci] alias #%d" % (i + 1), text) for i, text in enumerate(values)],
        warnings,
    )
