"""The functional tests' base class: see aggregate_pci.harness."""

import nova.tests.functional  # noqa: F401  (must come before other Nova imports)

from aggregate_pci.harness import (  # noqa: F401  (re-exported for the tests)
    FILTER_PATH,
    GPU_A100,
    GPU_T4,
    NIC,
    AggregatePciTestBase,
    gpu_host,
)
