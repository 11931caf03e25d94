"""The one independent oracle: the filter's semantics computed the slow,
obvious way (exhaustive search, Nova's greedy claim replayed by hand).

It imports no scheduler code of the product (only ``aggregate_pci.codec``,
the key and value format) and no Nova, so it can judge both: the
benchmark (tools/bench/filter.py) checks the filter and Nova's
PciPassthroughFilter against it, the property-based tests
(tests/pure/scheduler/test_decision_vs_reference.py, tests/pure/test_matching_properties.py)
check ``decide_host`` and the matching core.  Tools may import this package
(and no other tests module): tests/pure/test_layering.py.

- ``matching``: exhaustive joint feasibility and capacity over pools.
- ``aggregates``: a host's effective definitions; the alias decision.
- ``claim``: Neutron ports, Nova's greedy claim, the end-to-end decision.
"""

from tests.reference.aggregates import (
    Units,
    effective_matches,
    managed_counts,
    reference_decision,
)
from tests.reference.claim import (
    port_of,
    reference_claim,
    reference_claim_decision,
    reference_fit,
    reference_physnets,
    request_key,
    request_units,
)
from tests.reference.matching import devices, feasible, max_instances

__all__ = [
    "Units",
    "devices",
    "effective_matches",
    "feasible",
    "managed_counts",
    "max_instances",
    "port_of",
    "reference_claim",
    "reference_claim_decision",
    "reference_decision",
    "reference_fit",
    "reference_physnets",
    "request_key",
    "request_units",
]
