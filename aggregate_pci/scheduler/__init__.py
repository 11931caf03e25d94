"""The scheduler side: the filter's decision core (pure) and, with PCI in
Placement off, the check that Nova's compute claim takes matching devices."""
