"""The compute's PCI claim replayed on an inventory's free pools, for
``check``: the filter's own replay (``scheduler.claim.replay_claim``, Nova's
pool logic) on Nova pool objects built from the pool dicts."""

from __future__ import annotations

import functools
import importlib.util
import logging
from typing import Any, Mapping, Sequence

from aggregate_pci import matching
from aggregate_pci.admin.checks.claim_lint import Replay
from aggregate_pci.scheduler.claim_judge import ClaimOutcome

LOG = logging.getLogger(__name__)


def inventory_replay() -> Replay | None:
    """``replay(pools, alias name, specs)`` for ``claim_lint.stray_claims``,
    or None when Nova is not installed here (that rule is then skipped).
    Nova's modules are imported at the first replay (about 1.5 s CPU; a
    file whose PCI flavors give no request spec never needs them)."""
    try:
        found = importlib.util.find_spec("nova.pci.stats") is not None
    except ImportError:
        found = False
    if not found:
        LOG.debug("Nova is not installed: the claim is not replayed")
        return None

    def replay(
        pools: Sequence[Mapping[str, Any]],
        name: str,
        specs: Sequence[Mapping[str, str]],
    ) -> ClaimOutcome:
        objects, pci_stats, claim = _nova()
        free = [
            objects.PciDevicePool.from_dict(_free_pool(p))
            for p in pools
            if matching.pool_count(p) > 0
        ]
        stats = pci_stats.PciDeviceStats(
            None, stats=objects.PciDevicePoolList(objects=free)
        )
        request = objects.InstancePCIRequest(
            count=1, spec=[dict(s) for s in specs], alias_name=name
        )
        return claim.replay_claim(stats, [request])

    return replay


@functools.cache
def _nova() -> tuple[Any, Any, Any]:
    """Nova's objects (registered) and PCI stats, and the filter's claim
    replay: imported once, at the first replay."""
    from nova import objects
    from nova.pci import stats as pci_stats

    from aggregate_pci.scheduler import claim

    objects.register_all()
    return objects, pci_stats, claim


def _free_pool(pool: Mapping[str, Any]) -> dict[str, Any]:
    """An inventory pool as Nova's pool dict: ``count`` free, tags as text."""
    out: dict[str, Any] = {
        "vendor_id": pool.get("vendor_id"),
        "product_id": pool.get("product_id"),
        "numa_node": pool.get("numa_node"),
        "count": matching.pool_count(pool),
    }
    skip = set(out) | {"used", "devices"}
    out.update((k, str(v)) for k, v in pool.items() if k not in skip)
    return out
