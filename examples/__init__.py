"""Example workloads for scitune (not part of the installed package; run from the repo root)."""
