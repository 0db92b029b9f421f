"""The public surface changes only on purpose (httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import scitune
import scitune.errors
import scitune.samplers
import scitune.storage

EXPECTED = {
    scitune: {
        "Infeasible", "Runner", "ScituneError", "ScituneWarning", "Study", "StudySpec", "Trial",
        "__version__", "current_trial", "load_spec",
    },
    scitune.samplers: {
        "BayesSampler", "GridSampler", "Observation", "QuasiRandomSampler", "RandomSampler",
        "Sampler", "Suggestion", "make_sampler",
    },
    scitune.storage: {
        "AttemptOutcome", "AttemptRecord", "CheckpointRecord", "Curve", "DecisionRecord",
        "FrozenTrial", "MetricBatch", "NewDecision", "NewTrial", "RoundRecord", "Storage",
        "StudyRecord", "TrialState", "open_storage",
    },
}


def test_public_names_are_pinned() -> None:
    for module, names in EXPECTED.items():
        assert set(module.__all__) == names, module.__name__
        for name in names:
            assert getattr(module, name) is not None


def test_every_error_has_the_root_and_a_builtin() -> None:
    for name in scitune.errors.__all__:
        cls = getattr(scitune.errors, name)
        if name in ("ScituneWarning",):
            assert issubclass(cls, UserWarning)
            continue
        assert issubclass(cls, scitune.errors.ScituneError)
        if name not in ("ScituneError", "Infeasible"):
            assert len(cls.__mro__) > 3, f"{name} should also inherit a builtin"
