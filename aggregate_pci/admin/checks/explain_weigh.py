"""``explain``'s weights: the score AggregatePciWeigher gives each host that
passes, the preference order it makes, and what the placement costs the
other PCI request types there (issue 18, docs/weigher.md).

The score is the weigher's own function (``scheduler.weigh.placement_costs``)
over the same inputs: the hosts that pass as candidates, the request types
of the source's Nova flavors, and the devices the compute would take,
replayed with Nova's pool logic online (``admin/nova_io/nova_explain.py``
passes them in) or, offline, modelled here: each request takes free devices
of the host's definition greedily in pool order.  What Nova then does with
the score is modelled too, by the weigher's own rules
(``weigh.normalized``, ``weigh.host_multiplier``): the weights normalized
to 0..1 over the candidates, times each host's multiplier.

Pure: no Nova import; aggregates duck-typed (``.name``, ``.metadata``).
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence

from aggregate_pci import alias, conf, matching
from aggregate_pci.admin.checks import explain
from aggregate_pci.scheduler import host_view, request, weigh

#: ``[aggregate_pci] weight_multiplier``'s default (offline: no nova.conf).
OPTION_DEFAULT = float(
    next(o.default for o in conf.opts if o.name == "weight_multiplier")
)

Pool = Mapping[str, Any]
#: Online, per host: the pools Nova's claim replay sees and what it takes.
TakenFn = Callable[[], tuple[Sequence[Pool], weigh.Taken]]


@dataclasses.dataclass(frozen=True)
class Loss:
    """Instances of one request type a placement costs on a host."""

    rtype: str
    before: int
    after: int
    #: What all candidates serve of the type (the scarcity divisor).
    among: int


@dataclasses.dataclass(frozen=True)
class HostWeight:
    """One passing host: the weigher's score and Nova's use of it."""

    #: The placement cost (the weigher hands Nova ``-cost``).
    cost: float
    multiplier: float
    #: Where the multiplier comes from: ``option`` or ``aggregate NAME``.
    multiplier_from: str
    #: ``multiplier`` times ``-cost`` normalized over the candidates.
    weight: float
    #: 1 for the host the weigher prefers; equal weights share a rank.
    rank: int
    losses: tuple[Loss, ...]

    def cost_text(self) -> str:
        """``a100:1 -1 (3 among candidates); ...`` or that none is lost."""
        if not self.losses:
            return "costs no other request type"
        return "; ".join(
            "%s -%d (%d among candidates)" % (x.rtype, x.before - x.after, x.among)
            for x in self.losses
        )


@dataclasses.dataclass(frozen=True)
class Weights:
    """The weights of the passing hosts and what they were computed from."""

    hosts: dict[str, HostWeight]
    types: tuple[str, ...]


def type_label(rtype: weigh.RequestType) -> str:
    """A request type as a ``pci_passthrough:alias`` value: ``a100:1,t4:1``."""
    return ",".join("%s:%d" % pair for pair in rtype)


def flavor_alias_values(nova_flavors: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ``pci_passthrough:alias`` values of Nova flavor records (as the
    weigher reads them from Nova's API database)."""
    out = []
    for flavor in nova_flavors:
        value = (flavor.get("extra_specs") or {}).get(alias.SPEC_KEY)
        if value:
            out.append(str(value))
    return out


def host_multiplier(aggregates: Sequence[Any], default: float) -> tuple[float, str]:
    """The weigher's multiplier on a host (``weigh.host_multiplier``) and
    where it comes from, as the ``Multiplier`` column says it."""
    mult = weigh.host_multiplier(aggregates, default)
    if mult.ignored:
        return mult.value, "option (%s: %s)" % (weigh.MULTIPLIER_KEY, mult.ignored)
    if not mult.aggregates:
        return mult.value, "option"
    return mult.value, "aggregate " + ", ".join(mult.aggregates)


def modelled_claim(
    aggregates: Sequence[Any],
    pools: Sequence[Pool],
    plan: request.RequestPlan,
    cache: host_view.DefinitionCache,
) -> dict[int, int]:
    """{id(pool): devices} offline: each request in order takes free devices
    matching the host's definition of it, greedily in pool order (the claim
    Nova makes when its alias spec is the definition)."""
    view = host_view.host_view(aggregates, plan, cache)
    if isinstance(view, str):
        return {}
    free = [matching.pool_count(p) for p in pools]
    taken: dict[int, int] = {}
    for req, pred in zip(plan.requests, view.preds, strict=True):
        need = req.count
        for i, pool in enumerate(pools):
            if need <= 0:
                break
            if free[i] <= 0 or not pred(pool):  # nothing to take here
                continue
            took = min(need, free[i])
            free[i] -= took
            need -= took
            taken[id(pool)] = taken.get(id(pool), 0) + took
    return taken


def weigh_hosts(
    aggregates: Sequence[Any],
    hosts: Mapping[str, Sequence[Pool]],
    passing: Sequence[str],
    requests: Sequence[Any],
    alias_values: Iterable[str],
    *,
    default_multiplier: float = OPTION_DEFAULT,
    taken: Mapping[str, TakenFn] | None = None,
    cache: host_view.DefinitionCache | None = None,
) -> Weights | None:
    """The weigher's score of every host in ``passing`` (the candidates),
    or None where the weigher is neutral (no managed PCI flavor asked, no
    Nova flavor requests one, no candidate).

    ``hosts``: {host: free pools}; ``alias_values``: the Nova flavors'
    ``pci_passthrough:alias`` values; ``taken``: {host: Nova's claim
    replay} online, else ``modelled_claim``.
    """
    cache = cache or host_view.DefinitionCache(4096)
    names = explain.managed_names(aggregates)
    plan = request.plan_request(requests, lambda: names, False)
    types = weigh.request_types(alias_values, names)
    if plan is None or not types or not passing:
        return None
    by_host = explain.host_aggregates(aggregates, passing)
    candidates = []
    for host in passing:
        aggs = by_host[host]
        if taken is not None and host in taken:
            pools, took = taken[host]()
        else:
            pools = [{k: v for k, v in p.items() if k != "used"} for p in hosts[host]]
            took = modelled_claim(aggs, pools, plan, cache)
        candidates.append(weigh.Candidate(aggs, pools, took))
    costs = weigh.placement_costs(candidates, types, cache)
    labels = tuple(type_label(t) for t in types)
    mults = [host_multiplier(by_host[h], default_multiplier) for h in passing]
    normal = weigh.normalized([-c.cost for c in costs.hosts])
    weights = [m * n for (m, _), n in zip(mults, normal, strict=True)]
    ascending = sorted(weights)
    out = {}
    for host, cost, (mult, source), w in zip(
        passing, costs.hosts, mults, weights, strict=True
    ):
        out[host] = HostWeight(
            cost.cost,
            mult,
            source,
            w,
            # 1 + the hosts weighed higher (bisect: O(n log n), not n**2)
            1 + len(ascending) - bisect.bisect_right(ascending, w),
            tuple(
                Loss(labels[i], before, after, costs.left[i])
                for i, before, after in cost.losses
            ),
        )
    return Weights(out, labels)


def weigh_explanation(
    result: explain.Explanation,
    aggregates: Sequence[Any],
    hosts: Mapping[str, Sequence[Pool]],
    requests: Sequence[Any],
    nova_flavors: Iterable[Mapping[str, Any]],
    **kwargs: Any,
) -> Weights | None:
    """``weigh_hosts`` for the hosts ``explain`` lets pass (the filter's
    verdict ``fits``, or ``fits, claim not replayed`` offline), with the
    request types of the Nova flavor records ``nova_flavors``."""
    passing = [
        h.host for h in result.hosts if h.category in (explain.FITS, explain.UNVERIFIED)
    ]
    return weigh_hosts(
        aggregates,
        hosts,
        passing,
        requests,
        flavor_alias_values(nova_flavors),
        **kwargs,
    )
