"""Every threshold the playbook leaves open (NS), as one record of named defaults.

The playbook gives some numbers (best step in the first 10% / last 25% of training; clipping at
the 90th percentile, "> 50% clipped is extremely aggressive"); those defaults carry its section.
Where it gives none, the default is scitune's choice, marked "ours" here, in ``scitune analyze
--help`` and in every finding's evidence. Change any of them with ``AnalysisConfig(...)`` or
``scitune analyze --set NAME=VALUE``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from scitune.errors import ScituneError

__all__ = ["AnalysisConfig"]


@dataclass(frozen=True)
class AnalysisConfig:
    # -- search space (§5) -----------------------------------------------------------------
    boundary_margin: float = 0.1
    """Ours. Share of an axis's transformed range, at each end, that counts as 'near the edge'."""
    boundary_top_fraction: float = 0.2
    """Ours. The best this share of ranked trials (at least ``boundary_min_top``) is checked."""
    boundary_min_top: int = 3
    """Ours. At least this many of the best trials are checked for edges."""
    boundary_majority: float = 0.5
    """Ours. Share of those best trials that must sit in one edge band to flag that edge."""
    infeasible_warn_fraction: float = 0.2
    """Ours. Infeasible share of finished trials above which a warning is raised."""
    near_best_tolerance: float = 0.05
    """Ours. A score within this relative distance of the best counts as 'near the best'."""
    bootstrap_samples: int = 1000
    """Ours. Resamples for the best-of-k curve (figure 3)."""
    more_trials_gain: float = 0.25
    """Ours. If doubling k (n/2 -> n) moved the median best-of-k by more than this share of the
    interquartile spread of scores, more trials would likely still change the winner."""
    seed: int = 0
    """Seed of the bootstrap (results are reproducible)."""
    # -- training curves (§5, §8) ----------------------------------------------------------
    curve_top_k: int = 3
    """Ours. The best this many trials (and the best per scientific value) get curve checks."""
    overfit_tolerance: float = 0.05
    """Ours. Dev metric ending this much worse than its best (relative) is overfitting."""
    curve_smoothing: float = 0.1
    """Ours. Curves are judged on a moving mean over this share of training, not raw points."""
    curve_noise_z: float = 4.0
    """Ours. A change (worse, better, rising) must also exceed this many standard errors of the
    curve's own step-to-step noise, so plain noise never reads as overfitting."""
    late_window: float = 0.25
    """Ours. The last share of training examined for noise and for still improving."""
    late_noise_threshold: float = 0.05
    """Ours. Step-to-step noise (median |difference| / |level|) above this is 'high'."""
    improving_threshold: float = 0.01
    """Ours. Relative improvement over the late window above which training is still improving."""
    saturation_fraction: float = 0.5
    """Ours. A curve within ``saturation_tolerance`` of its final best before this share of
    training is saturated early."""
    saturation_tolerance: float = 0.01
    """Ours. Relative distance to the final best that counts as 'already there'."""
    train_rise_threshold: float = 0.1
    """Ours. Training loss ending this much (relative) above its minimum is rising."""
    best_step_early: float = 0.1
    """§8: best steps always in the first 10% of training -> max_train_steps too high."""
    best_step_late: float = 0.25
    """§8: best steps consistently in the last 25% -> train longer."""
    best_step_share: float = 0.8
    """Ours. 'Always' / 'consistently' read as this share of ranked trials."""
    # -- gradient norms (§9) ---------------------------------------------------------------
    clip_percentile: float = 90.0
    """§9: clipping threshold at the 90th percentile of unclipped gradient norms."""
    clip_aggressive_fraction: float = 0.5
    """§9: clipping more than 50% of updates is extremely aggressive -> lower the LR."""
    grad_spike_factor: float = 10.0
    """Ours. A gradient norm this many times the median of the previous logged ones is a spike."""
    grad_spike_window: int = 5
    """Ours. How many previous logged gradient norms a spike is measured against."""
    # -- isolation (§5) --------------------------------------------------------------------
    isolation_buckets: int = 5
    """Ours. Buckets for a continuous scientific axis."""
    isolation_min_trials: int = 5
    """Ours. Fewer complete trials than this per value is a thin nuisance search."""
    # -- variance (§6) ---------------------------------------------------------------------
    variance_winner_share: float = 0.5
    """Ours. A winner that wins less than this share of bootstrap redraws depends on the draw."""
    variance_separable_se: float = 2.0
    """Ours. The best two configurations are separable when their means differ by more than
    this many combined standard errors."""
    reseed_top: int = 3
    """Ours. How many of the best configurations the advice says to reseed."""
    reseed_seeds: int = 3
    """Ours. How many new seeds per configuration the advice says to run."""
    # -- metric names ----------------------------------------------------------------------
    train_metric: str | None = None
    """The training loss metric; ``None`` picks the first of train_loss, loss, training_loss."""
    grad_norm_metric: str = "grad_norm"
    """The logged global L2 norm of the (unclipped) gradient."""

    @classmethod
    def describe(cls) -> dict[str, tuple[Any, str]]:
        """``{name: (default, doc)}``, for ``--help`` and the report."""
        docs = _field_docs()
        return {f.name: (f.default, docs.get(f.name, "")) for f in dataclasses.fields(cls)}

    def with_overrides(self, items: dict[str, str]) -> AnalysisConfig:
        """A copy with ``NAME=VALUE`` strings applied (``--set``); errors name the field."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for name, text in items.items():
            if name not in fields:
                import difflib

                close = difflib.get_close_matches(name, fields, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ScituneError(
                    f"--set {name}={text}: no analysis setting {name!r}.{hint} "
                    f"Settings: {', '.join(fields)}."
                )
            default = fields[name].default
            try:
                if isinstance(default, bool):
                    changes[name] = text.lower() in ("1", "true", "yes")
                elif isinstance(default, int):
                    changes[name] = int(text)
                elif isinstance(default, float):
                    changes[name] = float(text)
                else:
                    changes[name] = text or None
            except ValueError as e:
                raise ScituneError(
                    f"--set {name}={text}: expected a {type(default).__name__}, got {text!r}."
                ) from e
        return dataclasses.replace(self, **changes)


def _field_docs() -> dict[str, str]:
    """The attribute docstrings above, read from the source (one place to document a default)."""
    import ast
    import inspect
    import itertools

    try:
        tree = ast.parse(inspect.getsource(AnalysisConfig))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, nxt in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs
