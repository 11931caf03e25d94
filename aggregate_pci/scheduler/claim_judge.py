"""Step 4 of the filter's decision: judge the devices the compute's claim
would take (PCI in Placement off, or Neutron-port requests with it on).

The claim itself is replayed elsewhere (``claim.claim_replayer``, with
Nova's own pool logic); this module only reads its outcome.

Pure: pools as dicts, no Nova import.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Hashable, Mapping, NamedTuple, Protocol, Sequence

from aggregate_pci import matching
from aggregate_pci.scheduler.host_view import (
    IGNORED_SPEC_KEYS,
    DefinitionCache,
    HostView,
)
from aggregate_pci.scheduler.request import RequestPlan


class ClaimStep(NamedTuple):
    """Devices one of the instance's PCI requests takes from one pool in
    the compute's claim (as Nova's own pool logic replays it; a tuple: one
    is built per step on every host whose claim is replayed)."""

    #: The ``ManagedRequest.name`` the request would have: its
    #: ``alias_name``, or ``ports.request_name`` for a Neutron-port request
    #: with a physical network; None for other requests.
    name: str | None
    pool: Mapping[str, Any]
    #: Shadows ``tuple.count``, the name the rest of the code reads.
    count: int  # type: ignore[assignment]


@dataclasses.dataclass(frozen=True)
class ClaimOutcome:
    """What the compute's claim would take, in request order, or why it
    would fail."""

    steps: tuple[ClaimStep, ...] = ()
    #: Set when the claim would fail (Nova raises PciDeviceRequestFailed).
    failed: str | None = None
    #: Hashable, or None: outcomes with the same key take the same numbers
    #: of devices for the same requests from pools alike in every key but
    #: ``count``, and fail alike (``claim.replay_claim`` sets it when it
    #: shares a replay between hosts), so one judgement serves them all
    #: (``RequestMemo.verdicts``).
    key: Hashable = None


class ClaimReplay(Protocol):
    """Replays the compute's claim on one host (``claim.claim_replayer``)."""

    def __call__(self, *, ports_only: bool = False) -> ClaimOutcome:
        """All of the instance's PCI requests in order, or with
        ``ports_only`` its Neutron-port requests alone (those Placement
        does not map)."""
        ...


def needs_claim_check(
    plan: RequestPlan, view: HostView, cache: DefinitionCache
) -> bool:
    """True unless every requested flavor's definition on this host is no
    narrower than its alias spec (then any device the claim may take for
    it serves it, and the joint check on the free pools is exact).

    A Neutron-port request always needs it: the compute claims by the
    port's spec (physical network, device type, trust), and a definition
    always fixes vendor and product ids, which no port spec states."""
    for req, values in zip(plan.requests, view.values, strict=True):
        if req.predicate_for is not None or not cache.covers(values, req.specs):
            return True
    return False


def describe_pool(pool: Mapping[str, Any]) -> str:
    """``0000:82:00.0 (10de:1db4 type-PCI, gpu_model=v100)`` for a log line
    (``a VF of 0000:81:01.0 (...)`` for a VF pool)."""
    skip = {"vendor_id", "product_id", "dev_type", "count", "address", "devices"}
    skip |= IGNORED_SPEC_KEYS | {"rp_uuid"}
    tags = ", ".join("%s=%s" % (k, pool[k]) for k in sorted(pool) if k not in skip)
    ids = "%s:%s %s" % (
        pool.get("vendor_id"),
        pool.get("product_id"),
        pool.get("dev_type", "?"),
    )
    # A VF pool's address is its parent PF's (nova.pci.stats).
    vf = "a VF of " if pool.get("dev_type") == "type-VF" else ""
    return "%s%s (%s%s)" % (
        vf,
        pool.get("address", "?"),
        ids,
        ", " + tags if tags else "",
    )


def _served(name: str) -> str:
    """``PCI flavor 'a100'``, or a Neutron-port request's own name."""
    return name if name.startswith("port:") else "PCI flavor %r" % name


def judge_claim(
    outcome: ClaimOutcome,
    plan: RequestPlan,
    preds: Sequence[matching.Predicate],
    judged: Sequence[int] | None = None,
) -> str | None:
    """None if the devices the claim takes for the managed requests (those
    at positions ``judged``, all by default) can be assigned to them, each
    matching the host's definition of what it serves (the set is judged,
    not Nova's request-to-device bookkeeping); else one line naming the
    device the compute would take and why it is outside."""
    if outcome.failed is not None:
        return "the compute's PCI claim would fail: %s" % outcome.failed
    if judged is None:
        judged = range(len(plan.requests))
    requests = [plan.requests[i] for i in judged]
    preds = [preds[i] for i in judged]
    index = {r.name: i for i, r in enumerate(requests)}
    steps = [s for s in outcome.steps if s.name in index]
    taken = [dict(s.pool, count=s.count) for s in steps]
    supply = matching.group_supply(taken, preds)
    demands = [r.count for r in requests]
    if sum(s.count for s in steps) >= sum(demands) and matching.supply_feasible(
        supply, demands
    ):
        return None
    names = "+".join(r.name for r in requests)
    for step in steps:
        if not any(pred(step.pool) for pred in preds):
            return (
                "the compute's claim would take %s for %s: it matches no "
                "definition of %s on this host"
                % (describe_pool(step.pool), _served(str(step.name)), names)
            )
    for step in steps:
        assert step.name is not None
        if not preds[index[step.name]](step.pool):
            return (
                "the compute's claim would take %s for %s: outside its "
                "definition on this host, and the devices taken that match "
                "it are needed by the others (%s)"
                % (describe_pool(step.pool), _served(step.name), names)
            )
    return "the compute's claim would not take enough devices for %s" % names
