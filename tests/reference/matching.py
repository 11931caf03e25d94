"""Exhaustive joint feasibility over free pools (small inputs only).

A request is ``(predicate, count)``: ``count`` devices, each from a pool
the predicate accepts.  Pools are dicts with a ``count`` of free devices;
the devices of one pool are interchangeable, so each requested device
tries every pool in turn.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

Pool = dict[str, Any]
Request = tuple[Callable[[Pool], bool], int]


def devices(pools: Sequence[Pool]) -> list[int]:
    """One entry per free device: the index of the pool it comes from."""
    out = []
    for i, pool in enumerate(pools):
        out.extend([i] * max(pool.get("count", 0), 0))
    return out


def _assign(units: list[list[int]], free: list[int], k: int = 0) -> bool:
    """Try every way to give request unit ``k..`` a distinct free device
    (devices of one pool are interchangeable, so a unit picks a pool)."""
    if k == len(units):
        return True
    for p in units[k]:
        if free[p]:
            free[p] -= 1
            if _assign(units, free, k + 1):
                return True
            free[p] += 1
    return False


def feasible(pools: Sequence[Pool], requests: Sequence[Request]) -> bool:
    """Can every requested device get a distinct free device of a pool its
    predicate accepts?  (Tries every assignment.)"""
    per_unit = []
    for pred, count in requests:
        ok = [i for i, pool in enumerate(pools) if pred(pool)]
        per_unit.extend([ok] * count)
    free = [max(int(pool.get("count", 0)), 0) for pool in pools]
    return _assign(per_unit, free)


def max_instances(pools: Sequence[Pool], requests: Sequence[Request]) -> int:
    """How many instances asking ``requests`` fit the pools together."""
    k = 0
    while feasible(pools, [(p, c * (k + 1)) for p, c in requests]):
        k += 1
    return k
