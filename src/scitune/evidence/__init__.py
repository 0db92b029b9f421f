"""Evidence for decisions (§6): retrain variance, study variance and candidate comparisons.

Pure functions of numbers and study snapshots; nothing here reads the store or draws.
"""

from __future__ import annotations

from scitune.evidence._compare import Comparison, SampleSummary, compare_samples

__all__ = ["Comparison", "SampleSummary", "compare_samples"]
