"""The capacity report: devices matching, used and free per PCI flavor,
aggregate and host (how many more instances fit: ``headroom``).

Pure: inputs are ``PciFlavorRecord``s (or any objects with the same
attributes) and pools as dicts (see ``matching``); inventory pools carry
``count`` (free) and ``used``.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from aggregate_pci import codec, matching
from aggregate_pci.admin.interned import ByIdentity
from aggregate_pci.admin.models import effective_definitions


def total_count(pool: Mapping[str, Any]) -> int:
    """All devices of an inventory pool: free (``count``) plus ``used``."""
    return matching.pool_count(pool) + _used(pool)


def _used(pool: Mapping[str, Any]) -> int:
    used = pool.get("used", 0)
    return used if isinstance(used, int) and used > 0 else 0


class CapacityRow(NamedTuple):
    """Devices of one flavor in one scope (total, an aggregate or a host);
    a tuple in the ``capacity`` command's column order (a fleet's report
    has millions of rows: a tuple is made and printed fastest)."""

    flavor: str
    scope: str
    name: str
    matching: int
    used: int
    free: int


def capacity(
    records: Sequence[Any],
    host_pools: Mapping[str, Sequence[Mapping[str, Any]]],
    progress: Callable[[int, int], None] | None = None,
    host_rows: bool = True,
) -> list[CapacityRow]:
    """Per flavor: totals, per aggregate and per host (matching/used/free);
    ``host_rows=False`` leaves out the host rows (totals stay the same).

    Pools carry ``count`` (free) and ``used`` devices.  Each device is
    counted once per row even if it matches several match objects or the
    host is in several aggregates defining the flavor (hosts use the OR of
    their aggregates' definitions; an aggregate row uses its own definition).

    Fast on large fleets: hosts with the same aggregates share their
    effective definitions, and a definition is evaluated once per distinct
    pool signature (the pool's attributes without its counts).
    """
    valid, rec_def, defs, host_group, groups = group_hosts(records)
    preds = [matching.compile_definition(d) for d in defs]
    counts = _host_counts(host_group, groups, preds, host_pools, progress)
    return _rows(valid, rec_def, host_group, groups, counts, host_rows)


Groups = dict[tuple[int, ...], tuple[dict[str, int], tuple[int, ...]]]
Counts = dict[tuple[str, int], tuple[int, int, int]]
Grouping = tuple[
    list[Any],
    list[int],
    list[codec.PciFlavorDefinition],
    dict[str, tuple[int, ...]],
    Groups,
]
#: Pool keys a definition never reads: pools differing only in them share
#: a signature (``count``/``used`` are counts; NUMA is the request's matter).
NOT_SIGNATURE = ("count", "used", "numa_node")


def group_hosts(records: Sequence[Any]) -> Grouping:
    """Valid records, their interned definition ids, the distinct
    definitions, each host's membership key (the records it is in), and per
    membership ({flavor: effective definition id}, definition ids needed).

    Hosts with the same aggregates share their effective definitions (the
    OR of their aggregates' ones, ``models.host_definitions``).
    """
    valid = [r for r in records if r.definition is not None]
    def_ids: dict[codec.PciFlavorDefinition, int] = {}
    defs: list[codec.PciFlavorDefinition] = []

    def intern(definition: codec.PciFlavorDefinition) -> int:
        i = def_ids.get(definition)
        if i is None:
            i = def_ids[definition] = len(defs)
            defs.append(definition)
        return i

    rec_def = [intern(r.definition) for r in valid]
    memberships: dict[str, list[int]] = {}
    for idx, r in enumerate(valid):
        for host in r.hosts:
            memberships.setdefault(host, []).append(idx)
    groups: Groups = {}
    host_group: dict[str, tuple[int, ...]] = {}
    for host, idxs in memberships.items():
        key = tuple(idxs)
        host_group[host] = key
        if key in groups:
            continue
        # host_definitions of this host alone: the OR, in record order.
        effective = effective_definitions(
            {valid[i].name: valid[i].definition} for i in idxs
        )
        eff_ids = {name: intern(d) for name, d in effective.items()}
        needed = set(eff_ids.values()) | {rec_def[i] for i in idxs}
        groups[key] = (eff_ids, tuple(sorted(needed)))
    return valid, rec_def, defs, host_group, groups


def _host_counts(
    host_group: Mapping[str, tuple[int, ...]],
    groups: Groups,
    preds: Sequence[matching.Predicate],
    host_pools: Mapping[str, Sequence[Mapping[str, Any]]],
    progress: Callable[[int, int], None] | None,
) -> Counts:
    """{(host, definition id): (matching, used, free)} for the definitions
    each host's group needs.

    Distinct pool signatures (attributes without counts; key order kept, a
    different order is only a cache miss) are evaluated once against every
    definition; each pool then adds its counts to the definitions it matches.
    """
    sig_ids: dict[tuple[tuple[str, Any], ...], int] = {}
    sig_bits: list[tuple[int, ...]] = []
    # a pool's items, counts included, to its definitions (alike pools
    # repeat whole across a fleet: one tuple, no per-item filtering)
    by_items: dict[tuple[tuple[str, Any], ...], tuple[int, ...]] = {}
    # a pool object (readers share equal pools): (its bits, free, used)
    by_id = ByIdentity()
    skip = NOT_SIGNATURE
    counts: Counts = {}
    total_hosts = len(host_group)
    for n, (host, key) in enumerate(sorted(host_group.items())):
        free = [0] * len(preds)
        used = [0] * len(preds)
        for pool in host_pools.get(host, ()):
            hit = by_id.get(pool)
            if hit is None:
                items = tuple(pool.items())
                bits = by_items.get(items)
                if bits is None:
                    sig = tuple([(k, v) for k, v in items if k not in skip])
                    sig_id = sig_ids.get(sig)
                    if sig_id is None:
                        sig_id = sig_ids[sig] = len(sig_bits)
                        sig_bits.append(
                            tuple(d for d, pred in enumerate(preds) if pred(pool))
                        )
                    bits = by_items[items] = sig_bits[sig_id]
                hit = by_id.put(pool, (bits, matching.pool_count(pool), _used(pool)))
            bits, f, u = hit
            if bits:
                for d in bits:
                    free[d] += f
                    used[d] += u
        for d in groups[key][1]:
            counts[(host, d)] = (free[d] + used[d], used[d], free[d])
        if progress is not None and ((n + 1) % 1000 == 0 or n + 1 == total_hosts):
            progress(n + 1, total_hosts)
    return counts


def _rows(
    valid: Sequence[Any],
    rec_def: Sequence[int],
    host_group: Mapping[str, tuple[int, ...]],
    groups: Groups,
    counts: Counts,
    with_hosts: bool = True,
) -> list[CapacityRow]:
    """Per flavor: the total row, one per aggregate, one per host."""
    rows: list[CapacityRow] = []
    hosts = [(host, groups[key][0]) for host, key in sorted(host_group.items())]
    make = tuple.__new__  # CapacityRow(*cells) without a call per field
    for name in sorted({r.name for r in valid}):
        host_rows = [
            make(CapacityRow, (name, "host", host) + counts[(host, d)])
            for host, effective in hosts
            for d in [effective.get(name)]
            if d is not None
        ]
        tm = sum([r[3] for r in host_rows])
        tu = sum([r[4] for r in host_rows])
        tf = sum([r[5] for r in host_rows])
        if not with_hosts:
            host_rows = []
        rows.append(CapacityRow(name, "total", "*", tm, tu, tf))
        for idx in sorted(
            (i for i, r in enumerate(valid) if r.name == name),
            key=lambda i: valid[i].aggregate,
        ):
            cells = map(counts.__getitem__, zip(valid[idx].hosts, repeat(rec_def[idx])))
            s = [sum(column) for column in zip(*cells, strict=True)] or [0, 0, 0]
            rows.append(CapacityRow(name, "aggregate", valid[idx].aggregate, *s))
        rows.extend(host_rows)
    return rows


#: ``CapacityRow.scope`` of a stranded-devices row.
STRANDED = "stranded"


def stranded(
    records: Sequence[Any], host_pools: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[CapacityRow]:
    """Per PCI flavor and host: devices matching any definition of the
    flavor on hosts in no aggregate defining it, which the filter never
    places the flavor on (capacity the operator may have meant to offer)."""
    by_name: dict[str, list[Any]] = {}
    for r in records:
        if r.definition is not None:
            by_name.setdefault(r.name, []).append(r)
    rows = []
    for name, recs in sorted(by_name.items()):
        union = effective_definitions({name: r.definition} for r in recs)[name]
        pred = matching.compile_definition(union)
        inside = {h for r in recs for h in r.hosts}
        for host in sorted(set(host_pools) - inside):
            found = [p for p in host_pools[host] if pred(p)]
            total = sum(total_count(p) for p in found)
            if total:
                used = sum(_used(p) for p in found)
                rows.append(
                    CapacityRow(name, STRANDED, host, total, used, total - used)
                )
    return rows
