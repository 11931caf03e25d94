"""Matching PCI flavor definitions against Nova's PCI pools, exactly.

Pools are dicts as the scheduler sees them (``HostState.pci_stats.pools``):
``vendor_id``, ``product_id``, ``dev_type``, ``address`` (the device's, or its
parent PF's for VFs), ``count`` free devices, plus the string tags that
``[pci] device_spec`` put on them.  Values compare case-insensitively, as in
``nova.pci.utils.pci_device_prop_match``; ``address`` is a glob.

Nova assigns a multi-request greedily in request order and can say "no"
where an assignment exists.  ``feasible`` decides joint feasibility exactly,
with Hall's condition on pools grouped by which requests they match, or a
max-flow when there are many distinct requests.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Callable, Iterable, Mapping, Sequence

from aggregate_pci.codec import DeviceMatch, PciFlavorDefinition

Pool = Mapping[str, Any]
Predicate = Callable[[Pool], bool]

#: Up to this many distinct requests, Hall's condition over all subsets is
#: checked directly (2**n subsets); beyond it a max-flow is used.
HALL_LIMIT = 10


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def compile_match(match: DeviceMatch) -> Predicate:
    """A predicate ``pool -> bool`` for one match object (AND of fields)."""
    checks: list[tuple[str, str]] = [
        ("vendor_id", match.vendor_id),
        ("product_id", match.product_id),
    ]
    if match.device_type is not None:
        checks.append(("dev_type", match.device_type.lower()))
    glob = None
    for key, value in match.tags:
        if key == "address":
            glob = value.lower()
        else:
            checks.append((key, value.lower()))
    checks_t = tuple(checks)

    def predicate(pool: Pool) -> bool:
        get = pool.get
        for key, want in checks_t:
            have = get(key)
            # Nova's pools are mostly lower-case already: compare raw first.
            if have != want and (have is None or _lower(have) != want):
                return False
        if glob is not None:
            address = get("address")
            if not isinstance(address, str):
                return False
            return fnmatch.fnmatchcase(address.lower(), glob)
        return True

    return predicate


def compile_definition(definition: PciFlavorDefinition) -> Predicate:
    """A predicate ``pool -> bool`` for a definition (OR of its matches)."""
    preds = tuple(compile_match(m) for m in definition.matches)
    if len(preds) == 1:
        return preds[0]

    def predicate(pool: Pool) -> bool:
        for pred in preds:
            if pred(pool):
                return True
        return False

    return predicate


def pool_matches(pool: Pool, definition: PciFlavorDefinition) -> bool:
    """True if the devices of ``pool`` match ``definition``."""
    return compile_definition(definition)(pool)


def pool_count(pool: Pool) -> int:
    """Free devices in ``pool`` (a missing or negative count counts as 0)."""
    count = pool.get("count", 0)
    return count if isinstance(count, int) and count > 0 else 0


def count_matching(pools: Iterable[Pool], predicate: Predicate) -> int:
    """Free devices matching ``predicate`` (each pool, hence device, once)."""
    return sum(pool_count(p) for p in pools if predicate(p))


#: Pool keys no predicate reads: a definition may not name them (codec).
UNSIGNED_KEYS = frozenset(("count", "devices"))


def pool_signature(pool: Pool) -> frozenset[tuple[str, Any]]:
    """``pool`` without ``count`` and ``devices``: all a definition's
    predicate reads of it.  Raises TypeError if a value is unhashable."""
    items = dict(pool)
    items.pop("count", None)  # UNSIGNED_KEYS, unrolled: the hot path
    items.pop("devices", None)
    return frozenset(items.items())


class SignatureCache:
    """Pool signatures for one scheduling request, by pool identity.

    Holds no object per pool: each distinct signature is kept once (hosts of
    one hardware model share them) and each pool only by reference, so that
    its id is not reused while the cache lives.  A per-pool tuple and
    frozenset of item pairs made tens of thousands of long-lived containers
    per request at 10,000 hosts, which triggered a full garbage collection
    of the scheduler's whole heap within the request (issue 21).
    """

    __slots__ = ("_by_id", "_kept", "_interned")

    def __init__(self) -> None:
        self._by_id: dict[int, frozenset[Any]] = {}
        self._kept: list[Pool] = []
        self._interned: dict[frozenset[Any], frozenset[Any]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def known(self) -> Mapping[int, frozenset[Any]]:
        """The signatures computed so far by ``id(pool)``, read-only: a
        hot loop's ``known().get(id(pool)) or get(pool)`` saves a call."""
        return self._by_id

    def get(self, pool: Pool) -> frozenset[Any]:
        """``pool_signature(pool)``, computed once per pool.  Raises
        TypeError if a value is unhashable."""
        sig = self._by_id.get(id(pool))
        if sig is None:
            new = pool_signature(pool)
            sig = self._interned.setdefault(new, new)
            self._by_id[id(pool)] = sig
            self._kept.append(pool)
        return sig


def cached_signature(pool: Pool, cache: SignatureCache | None) -> frozenset[Any]:
    """``pool_signature(pool)``, remembered in ``cache`` (one per scheduling
    request, during which the pools do not change).  Raises TypeError if a
    value is unhashable."""
    if cache is None:
        return pool_signature(pool)
    return cache.get(pool)


def pool_mask(pool: Pool, predicates: Sequence[Predicate]) -> int:
    """The bitmask of ``predicates`` matching ``pool`` (bit ``i`` for
    ``predicates[i]``): how ``group_supply`` and the weigher group devices."""
    mask = 0
    bit = 1
    for pred in predicates:
        if pred(pool):
            mask |= bit
        bit <<= 1
    return mask


def group_supply(
    pools: Iterable[Pool],
    predicates: Sequence[Predicate],
    masks: dict[Any, int] | None = None,
    signatures: SignatureCache | None = None,
) -> dict[int, int]:
    """Free devices grouped by the bitmask of predicates they match.

    Devices that match no predicate are left out (mask 0 is never a key).
    ``masks``, if given, remembers each pool's mask by ``pool_signature``
    (a dict for these ``predicates`` alone, which must not read ``count``
    or ``devices``): hosts share device models and slots; ``signatures``:
    see ``cached_signature``.
    """
    supply: dict[int, int] = {}
    signature = pool_signature if signatures is None else signatures.get
    known: Mapping[int, frozenset[Any]] = (
        {} if signatures is None else signatures.known()
    )
    for pool in pools:
        count = pool.get("count", 0)  # pool_count, inlined: the hot loop
        if not isinstance(count, int) or count < 1:
            continue
        sig = mask = None
        if masks is not None:
            try:
                sig = known.get(id(pool)) or signature(pool)
            except TypeError:  # an unhashable value: no sharing
                pass
            else:
                mask = masks.get(sig)
        if mask is None:
            mask = pool_mask(pool, predicates)
            if sig is not None:
                masks[sig] = mask  # type: ignore[index]
        if mask:
            supply[mask] = supply.get(mask, 0) + count
    return supply


def supply_feasible(supply: Mapping[int, int], demands: Sequence[int]) -> bool:
    """Can every demand ``i`` take ``demands[i]`` devices from groups whose
    mask has bit ``i``, each device used once?  Exact."""
    n = len(demands)
    if any(d < 0 for d in demands):
        raise ValueError("demands must be non-negative")
    if sum(demands) > sum(supply.values()):
        return False
    if n <= HALL_LIMIT:
        return _hall(supply, demands)
    return _max_flow(supply, demands) == sum(demands)


def _hall(supply: Mapping[int, int], demands: Sequence[int]) -> bool:
    return hall_violation(supply, demands) is None


def hall_violation(
    supply: Mapping[int, int], demands: Sequence[int]
) -> tuple[int, int, int] | None:
    """The first set of demands that cannot be served together, or None.

    Returns ``(subset_mask, devices_matching, devices_asked)``: Hall's
    condition for b-matchings says every subset S of demands must be served
    by the supply of the groups touching S, so this is an exact explanation
    of an infeasible request ("these flavors together match 3, ask for 4").
    Only for ``len(demands) <= HALL_LIMIT``.
    """
    n = len(demands)
    items = [(m, c) for m, c in supply.items()]
    need = [0] * (1 << n)
    for s in range(1, 1 << n):
        low = s & -s
        need[s] = need[s ^ low] + demands[low.bit_length() - 1]
        if need[s] == 0:
            continue
        have = 0
        for mask, count in items:
            if mask & s:
                have += count
        if have < need[s]:
            return s, have, need[s]
    return None


def _max_flow(supply: Mapping[int, int], demands: Sequence[int]) -> int:
    # Dinic-free augmenting paths (Edmonds-Karp) on source -> demand ->
    # group -> sink; the graph is tiny (groups <= distinct pool signatures).
    n = len(demands)
    groups = list(supply.items())
    g = len(groups)
    size = 2 + n + g
    src, sink = 0, 1
    cap: list[dict[int, int]] = [dict() for _ in range(size)]

    def add(u: int, v: int, c: int) -> None:
        cap[u][v] = cap[u].get(v, 0) + c
        cap[v].setdefault(u, 0)

    big = sum(demands) + 1
    for i, d in enumerate(demands):
        if d:
            add(src, 2 + i, d)
    for j, (mask, count) in enumerate(groups):
        gnode = 2 + n + j
        add(gnode, sink, count)
        for i in range(n):
            if mask >> i & 1 and demands[i]:
                add(2 + i, gnode, big)
    flow = 0
    while True:
        parent = {src: src}
        queue = [src]
        for u in queue:
            for v, c in cap[u].items():
                if c > 0 and v not in parent:
                    parent[v] = u
                    queue.append(v)
            if sink in parent:
                break
        if sink not in parent:
            return flow
        push = big
        v = sink
        while v != src:
            u = parent[v]
            push = min(push, cap[u][v])
            v = u
        v = sink
        while v != src:
            u = parent[v]
            cap[u][v] -= push
            cap[v][u] += push
            v = u
        flow += push


def feasible(pools: Iterable[Pool], requests: Sequence[tuple[Predicate, int]]) -> bool:
    """Can all ``(predicate, count)`` requests be served at once from
    ``pools``, each device used once, a request using only devices its
    predicate matches?  Exact (unlike Nova's greedy assignment)."""
    preds = [p for p, _ in requests]
    return supply_feasible(group_supply(pools, preds), [c for _, c in requests])


def max_instances(
    pools: Iterable[Pool], requests: Sequence[tuple[Predicate, int]]
) -> int:
    """How many instances, each asking for all of ``requests``, still fit."""
    preds = [p for p, _ in requests]
    demands = [c for _, c in requests]
    supply = group_supply(pools, preds)
    return max_instances_from_supply(supply, demands)


def max_instances_from_supply(supply: Mapping[int, int], demands: Sequence[int]) -> int:
    """``max_instances`` on pre-grouped supply (see ``group_supply``)."""
    if not any(demands):
        raise ValueError("a request asks for no device: it fits without limit")
    hi = min(
        sum(c for m, c in supply.items() if m >> i & 1) // d
        for i, d in enumerate(demands)
        if d
    )
    lo = 0
    # Feasibility is monotone in the number of instances: binary search.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if supply_feasible(supply, [d * mid for d in demands]):
            lo = mid
        else:
            hi = mid - 1
    return lo
