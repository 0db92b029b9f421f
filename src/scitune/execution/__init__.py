"""Executors: run a study's trials and move what they report into the store."""

from __future__ import annotations

from scitune.execution._runner import (
    Runner,
    RunObserver,
    RunSummary,
    StateCounts,
    attempt_result,
)

__all__ = ["RunObserver", "RunSummary", "Runner", "StateCounts", "attempt_result"]
