"""``python -m aggregate_pci.demo``: run the demo."""

import sys

from aggregate_pci.demo import run

sys.exit(run.main())
