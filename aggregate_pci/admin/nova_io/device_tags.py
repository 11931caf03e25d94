"""The tags a compute gives its PCI devices, as Nova gives them: from its
``[pci] device_spec`` (read with Nova's option, matched with Nova's
whitelist code) or from the free pool at the device's address.

Used by ``nova_db`` (imports Nova lazily, as it does).
"""

from __future__ import annotations

import fnmatch
from typing import Any, Callable, Iterable, Mapping

from aggregate_pci.admin.errors import AdminError

#: Pool keys that are not tags (counts, ids, placement).
NOT_TAGS = (
    "count",
    "numa_node",
    "vendor_id",
    "product_id",
    "dev_type",
    "address",
    "rp_uuid",
)


def spec_tags(
    compute_conf: str | None = None,
) -> Callable[[Any], dict[str, str]]:
    """Tags of a device from the ``[pci] device_spec`` of a compute's
    nova.conf (read with Nova's own option, matched with Nova's whitelist
    code, as that compute does), else from the loaded nova.conf, if any."""
    import nova.conf
    from nova.pci import whitelist

    if compute_conf is not None:
        specs = read_device_spec(compute_conf)
        try:
            wl = whitelist.Whitelist(specs)
        except Exception as exc:
            raise AdminError(
                "compute nova.conf %r: [pci] device_spec is invalid: %s"
                % (compute_conf, exc)
            ) from None
    else:
        try:
            wl = whitelist.Whitelist(nova.conf.CONF.pci.device_spec)
        except Exception:  # a controller's nova.conf may carry no usable spec
            return lambda dev: {}

    def tags(dev: Any) -> dict[str, str]:
        spec = wl.get_devspec(dev)
        if spec is None:
            return {}
        return {
            k: v
            for k, v in spec.get_tags().items()
            if k not in ("resource_class", "traits") and isinstance(v, str)
        }

    return tags


#: Characters that make a ``--compute-conf`` host a pattern (``fnmatch``).
PATTERN_CHARS = frozenset("*?[")


def is_pattern(host: str) -> bool:
    """Whether a ``--compute-conf`` host is a shell-style pattern."""
    return not PATTERN_CHARS.isdisjoint(host)


def unmatched(confs: Iterable[str], hosts: Iterable[str]) -> list[str]:
    """The ``--compute-conf`` hosts or patterns in ``confs`` that name none
    of ``hosts``, sorted."""
    known = set(hosts)
    return sorted(
        c
        for c in set(confs)
        if not (
            any(fnmatch.fnmatchcase(h, c) for h in known)
            if is_pattern(c)
            else c in known
        )
    )


class HostTags:
    """Each host's ``spec_tags`` from ``{host or pattern: its nova.conf}``
    (``--compute-conf``; a fleet shares a few configurations, one per
    hardware model): a host's own name first, else the first pattern given
    that matches it (``fnmatch``, case-sensitive), else none; each nova.conf
    read once however many hosts share it."""

    def __init__(self, confs: Mapping[str, str]) -> None:
        by_path: dict[str, Callable[[Any], dict[str, str]]] = {}
        for path in confs.values():
            if path not in by_path:
                by_path[path] = spec_tags(path)
        self._exact = {h: by_path[p] for h, p in confs.items() if not is_pattern(h)}
        self._patterns = [(h, by_path[p]) for h, p in confs.items() if is_pattern(h)]
        self._resolved: dict[str, Any] = {}

    def get(self, host: str, default: Any = None) -> Any:
        """``host``'s tags function, or ``default`` if none is given for it."""
        found = self._exact.get(host)
        if found is None and self._patterns:
            if host not in self._resolved:
                self._resolved[host] = next(
                    (t for p, t in self._patterns if fnmatch.fnmatchcase(host, p)),
                    None,
                )
            found = self._resolved[host]
        return default if found is None else found


def read_device_spec(path: str) -> Any:
    """``[pci] device_spec`` of one nova.conf, with Nova's option definition
    (deprecated names included), without touching the loaded configuration."""
    from nova.conf import pci as pci_conf
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf.register_opts(pci_conf.pci_opts, group="pci")
    try:
        conf([], project="nova", default_config_files=[path], default_config_dirs=[])
        return conf.pci.device_spec
    except (cfg.Error, OSError) as exc:
        raise AdminError("cannot read compute nova.conf %r: %s" % (path, exc)) from None


def used_pool(
    dev: Any,
    free_at: dict[str | None, dict[str, Any]],
    spec_tags: Callable[[Any], dict[str, str]],
) -> dict[str, Any]:
    """A one-device pool for a used device, with the tags of the free pool at
    the same address (Nova keeps one pool per device or parent PF; ``free_at``
    from ``pools_by_address``), else the tags the loaded ``[pci]
    device_spec`` gives it."""
    address = dev.parent_addr or dev.address
    pool: dict[str, Any] = {
        "vendor_id": dev.vendor_id,
        "product_id": dev.product_id,
        "dev_type": dev.dev_type,
        "numa_node": dev.numa_node,
        "address": address,
        "count": 1,
    }
    same = free_at.get(address)
    if same is not None:
        pool.update({k: v for k, v in same.items() if k not in NOT_TAGS})
    else:
        pool.update(spec_tags(dev))
    return pool


class UsedPools:
    """``used_pool`` for a fleet's devices with one dict per distinct
    result (hosts of one model repeat their devices' addresses): the pools
    it gives are shared and not to be changed.  A device's result depends
    on the free pool at its address (by identity) or, without one, on the
    ``spec_tags`` function and what device_spec matching can read of the
    device (``UsedDevice.spec_key``)."""

    def __init__(self) -> None:
        self._memo: dict[Any, tuple[Any, dict[str, Any]]] = {}

    def __call__(
        self,
        dev: Any,
        free_at: dict[str | None, dict[str, Any]],
        spec_tags: Callable[[Any], dict[str, str]],
    ) -> dict[str, Any]:
        address = dev.parent_addr or dev.address
        same = free_at.get(address)
        if same is not None:
            key: Any = (id(same), address, dev.vendor_id, dev.product_id,
                        dev.dev_type, dev.numa_node)  # fmt: skip
        else:
            key = (spec_tags, dev.spec_key())
        hit = self._memo.get(key)
        if hit is None or hit[0] is not same:  # held: its id stays its own
            hit = self._memo[key] = (same, used_pool(dev, free_at, spec_tags))
        return hit[1]


def pools_by_address(free: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    """{address: the first free pool there}, for ``used_pool``."""
    out: dict[str | None, dict[str, Any]] = {}
    for pool in free:
        out.setdefault(pool.get("address"), pool)
    return out
