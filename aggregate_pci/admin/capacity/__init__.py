"""Capacity: the per-flavor capacity table and how many instances still fit (pure)."""
