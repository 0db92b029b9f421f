"""Every threshold the playbook leaves open (NS), as one record of named defaults.

The playbook gives some numbers (best step in the first 10% / last 25% of training; clipping at
the 90th percentile, "> 50% clipped is extremely aggressive"); those defaults carry its section.
Where it gives none, the default is scitune's choice, marked "ours" here, in ``scitune analyze
--help`` and in every finding's evidence. Change any of them with ``AnalysisConfig(...)`` or
``scitune analyze --set NAME=VALUE``.

Every setting has a valid range, in :data:`RANGES`, checked whenever a config is built: a
``boundary_margin`` of 2 (a band of 200% of the range) is refused, from Python and from the CLI.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

from scitune.errors import SettingsError

__all__ = ["RANGES", "AnalysisConfig", "Range"]


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
    """Ours. A trend (worse after the best, still better at the end, rising) counts only when a
    linear fit to the raw points shows it at a t-statistic as unlikely under noise as this many
    standard errors of a normal (one-sided; 4: p = 3.2e-5), so plain noise never reads as one."""
    late_window: float = 0.25
    """Ours. The last share of training examined for noise and for still improving."""
    late_noise_threshold: float = 0.05
    """Ours. Step-to-step noise (median |difference| / |level|) above this is 'high'."""
    improving_threshold: float = 0.05
    """Ours. Relative improvement of the late window's mean over the window before it above
    which training is still improving (an effect size: smaller gains are not worth the steps)."""
    improving_z: float = 3.0
    """Ours. The late window's mean must beat the window before it by this many standard errors
    (one-sided, p = 1.3e-3; the noise sd read from step-to-step changes over both windows)."""
    saturation_fraction: float = 0.5
    """Ours. A smoothed curve that stays within ``saturation_tolerance`` of its best from
    before this share of training to the end is saturated early."""
    saturation_tolerance: float = 0.01
    """Ours. Relative distance to the best smoothed value that every later smoothed point must
    keep for the curve to count as 'already there' (the band is the widest of this, the noise
    band and the resolution band)."""
    saturation_noise_k: float = 3.0
    """Ours. The saturation band is at least this many noise sds (step-to-step, second half)."""
    saturation_resolution_k: float = 5.0
    """Ours. The saturation band is at least this many of the metric's smallest step between
    evaluations (one dev example for an error rate)."""
    train_rise_threshold: float = 0.1
    """Ours. Training loss ending this much (relative) above its minimum is rising."""
    best_step_early: float = 0.1
    """§8: best steps always in the first 10% of training -> max_train_steps too high."""
    best_step_late: float = 0.25
    """§8: best steps consistently in the last 25% -> train longer."""
    best_step_share: float = 0.8
    """Ours. 'Always' / 'consistently' read as this share of ranked trials."""
    # -- completed trials that did not learn (§5 item 20): curves.diverged, curves.no_learning -
    diverged_loss_rise: float = 1.0
    """Ours. A training loss that ends (median of its last ``curve_smoothing`` of training) more
    than this many times |its first logged value| above that value has diverged: 1.0 means it
    ended above twice where it started."""
    chance_tolerance: float = 0.05
    """Ours. An objective never better than its chance level by more than this share of |chance|
    never left chance: the trial did not learn."""
    chance_first_eval: float = 0.0
    """Ours. Without ``[objective] chance`` in the study, a trial's first evaluation stands for
    its chance level only when it comes within this share of training: by default only an
    evaluation at step 0, the untrained model (a later one may have learned already, and a
    trial best at its first evaluation would read as "never left chance"); no_learning is
    skipped otherwise, and says so."""
    # -- lucky evaluations (§5, §8): score.spike --------------------------------------------
    spike_z: float = 3.5
    """Ours. A trial's score is a spike when that evaluation stands more than this many standard
    deviations of the curve's noise (late in training, or around it if larger) clear of every
    evaluation within ``spike_neighbours`` on either side (below to minimize, above to
    maximize), where the curve's trend does not lead there."""
    spike_neighbours: int = 1
    """Ours. Evaluations on each side of the scored one that it must stand clear of."""
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
    variance_winner_share: float = 0.9
    """Ours. A winner that wins less than this share of bootstrap redraws depends on the draw
    (at 0.5, a 54/46 split would read as settled)."""
    variance_separable_se: float = 2.0
    """Ours. The best two configurations are separable when their means differ by more than
    this many combined standard errors."""
    reseed_top: int = 3
    """Ours. How many of the best configurations the advice says to reseed."""
    reseed_seeds: int = 3
    """Ours. How many new seeds per configuration the advice says to run."""
    # -- metric names ----------------------------------------------------------------------
    train_metric: str | None = None
    """The training loss metric; ``None``: the study's ``[metrics] train_loss``, else the first
    of train_loss, loss, training_loss logged as a curve."""
    grad_norm_metric: str | None = None
    """The logged global L2 norm of the (unclipped) gradient; ``None``: the study's
    ``[metrics] grad_norm``, else grad_norm."""

    def __post_init__(self) -> None:
        # Every field is checked against RANGES, all at once; an int for a float becomes a float.
        problems: list[str] = []
        names: list[str] = []
        for f in dataclasses.fields(self):
            rule = RANGES.get(f.name)
            if rule is None:  # a test requires one for every field
                continue
            value = getattr(self, f.name)
            problem = rule.problem(f.name, value, f.default)
            if problem:
                problems.append(problem)
                names.append(f.name)
            elif rule.kind in ("float", "int"):
                kind = float if rule.kind == "float" else int
                object.__setattr__(self, f.name, kind(value))
        if problems:
            raise SettingsError("\n".join(problems), names=tuple(names))

    @classmethod
    def describe(cls) -> dict[str, tuple[Any, str]]:
        """``{name: (default, doc)}``, for ``--help`` and the report."""
        docs = _field_docs()
        return {f.name: (f.default, docs.get(f.name, "")) for f in dataclasses.fields(cls)}

    @classmethod
    def valid_range(cls, name: str) -> str:
        """The values ``name`` accepts, in words (``"in (0, 0.5)"``); ``""`` if it has no rule."""
        rule = RANGES.get(name)
        return rule.describe() if rule else ""

    def with_overrides(self, items: dict[str, str]) -> AnalysisConfig:
        """A copy with ``NAME=VALUE`` strings applied (as ``scitune analyze --set`` gives them).

        Raises:
            SettingsError: an unknown name, a value of the wrong type or outside its range; the
                message names the setting, the rule, the value and an example.
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for name, text in items.items():
            if name not in fields:
                import difflib

                close = difflib.get_close_matches(name, fields, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise SettingsError(
                    f"no analysis setting {name!r}.{hint} Settings: {', '.join(fields)}.",
                    names=(name,),
                )
            default = fields[name].default
            rule = RANGES.get(name) or Range.like(default)
            try:
                changes[name] = rule.parse(text)
            except ValueError:
                raise SettingsError(
                    rule.problem(name, text, default, wrong_type=True), names=(name,)
                ) from None
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Range:
    """The values one setting accepts: its kind and an interval (``None``: unbounded that side).

    ``closed`` says which ends belong to the interval, as in ``pandas.Interval``; ``meaning``
    says what the number is, for the message (``"a share of training"``). Integers pass as
    floats (and become floats); booleans pass as neither.
    """

    kind: Literal["float", "int", "bool", "metric"]
    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"
    meaning: str = ""
    example: object = None
    """What the message suggests; ``None``: the field's default."""

    @classmethod
    def like(cls, default: object) -> Range:
        """A rule from a default's type alone (a field added without a range)."""
        if isinstance(default, bool):
            return cls("bool")
        if isinstance(default, int):
            return cls("int")
        if isinstance(default, float):
            return cls("float")
        return cls("metric")

    def describe(self) -> str:
        """``"in (0, 0.5)"``, ``"an integer >= 1"``, ``"> 0"``..."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "metric":
            return "a metric name without surrounding spaces (unset: the default)"
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        low, high = _bound(self.low), _bound(self.high)
        if self.low is not None and self.high is not None:
            text = f"in {'[' if left else '('}{low}, {high}{']' if right else ')'}"
        elif self.low is not None:
            text = f"{'>=' if left else '>'} {low}"
        elif self.high is not None:
            text = f"{'<=' if right else '<'} {high}"
        else:
            text = "finite"
        return f"an integer {text}" if self.kind == "int" else text

    def holds(self, value: object) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "metric":
            return value is None or (
                isinstance(value, str) and bool(value.strip()) and value == value.strip()
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            return False
        number = float(value)
        if not math.isfinite(number):
            return False
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and not (number >= self.low if left else number > self.low):
            return False
        return self.high is None or (number <= self.high if right else number < self.high)

    def problem(
        self, name: str, value: object, default: object, *, wrong_type: bool = False
    ) -> str:
        """``""`` when ``value`` holds, else the message: rule, meaning, value, an example."""
        if not wrong_type and self.holds(value):
            return ""
        rule = self.describe()
        if self.kind == "float" and (wrong_type or not isinstance(value, numbers.Real)):
            rule = f"a number {rule}"
        meaning = f" ({self.meaning})" if self.meaning else ""
        example = _show(default if self.example is None else self.example)
        return f"{name} must be {rule}{meaning}, got {_show(value)}. Use e.g. {example}."

    def parse(self, text: str) -> Any:
        """The value a ``NAME=VALUE`` text stands for; ``ValueError`` when it is not one."""
        if self.kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes"):
                return True
            if lowered in ("0", "false", "no"):
                return False
            raise ValueError(text)
        if self.kind == "int":
            return int(text)
        if self.kind == "float":
            return float(text)
        return text or None


def _bound(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return repr(value)


_Closed = Literal["both", "left", "right", "neither"]
_ENDS: dict[tuple[str, str], _Closed] = {
    ("closed", "closed"): "both",
    ("closed", "open"): "left",
    ("open", "closed"): "right",
    ("open", "open"): "neither",
}


def _share(low: Literal["open", "closed"], high: Literal["open", "closed"], meaning: str) -> Range:
    """A share between 0 and 1, each end included (``"closed"``) or not (``"open"``)."""
    return Range("float", 0.0, 1.0, _ENDS[(low, high)], meaning)


def _at_least(low: float, meaning: str, *, kind: Literal["float", "int"] = "float") -> Range:
    return Range(kind, low, None, "left", meaning)


def _above(low: float, meaning: str) -> Range:
    return Range("float", low, None, "neither", meaning)


_TRAINING = "a share of training"
RANGES: dict[str, Range] = {
    "boundary_margin": Range("float", 0.0, 0.5, "neither", "a share of the range at each end"),
    "boundary_top_fraction": _share("open", "closed", "a share of the ranked trials"),
    "boundary_min_top": _at_least(1, "a number of trials", kind="int"),
    "boundary_majority": _share("open", "closed", "a share of the best trials"),
    "infeasible_warn_fraction": _share("closed", "open", "a share of the finished trials"),
    "near_best_tolerance": _at_least(0.0, "a relative distance: 0.05 is 5%"),
    "bootstrap_samples": Range("int", 1, 1_000_000, "both", "a number of resamples"),
    "more_trials_gain": _above(0.0, "a share of the interquartile spread of scores"),
    "seed": _at_least(0, "a random seed", kind="int"),
    "curve_top_k": _at_least(1, "a number of trials", kind="int"),
    "overfit_tolerance": _at_least(0.0, "a relative change: 0.05 is 5%"),
    "curve_smoothing": _share("open", "open", _TRAINING),
    "curve_noise_z": _above(0.0, "a number of standard errors"),
    "late_window": _share("open", "closed", _TRAINING),
    "late_noise_threshold": _above(0.0, "a relative noise level: 0.05 is 5%"),
    "improving_threshold": _at_least(0.0, "a relative improvement: 0.05 is 5%"),
    "improving_z": _above(0.0, "a number of standard errors"),
    "saturation_fraction": _share("open", "open", _TRAINING),
    "saturation_tolerance": _at_least(0.0, "a relative distance: 0.01 is 1%"),
    "saturation_noise_k": _at_least(0.0, "a number of noise standard deviations"),
    "saturation_resolution_k": _at_least(0.0, "a number of the metric's smallest steps"),
    "train_rise_threshold": _at_least(0.0, "a relative rise: 0.1 is 10%"),
    "best_step_early": _share("open", "open", "a share of training, from the start"),
    "best_step_late": _share("open", "open", "a share of training, from the end"),
    "best_step_share": _share("open", "closed", "a share of the ranked trials"),
    "clip_percentile": Range("float", 0.0, 100.0, "right", "a percentile"),
    "clip_aggressive_fraction": _share("closed", "open", "a share of the updates"),
    "grad_spike_factor": _above(1.0, "a multiple of the recent median norm"),
    "grad_spike_window": _at_least(
        3, "previous logged norms; their median needs at least 3", kind="int"
    ),
    "isolation_buckets": _at_least(1, "a number of buckets", kind="int"),
    "isolation_min_trials": _at_least(1, "a number of trials", kind="int"),
    "variance_winner_share": _share("open", "closed", "a share of bootstrap redraws"),
    "variance_separable_se": _above(0.0, "a number of combined standard errors"),
    "reseed_top": _at_least(1, "a number of configurations", kind="int"),
    "reseed_seeds": _at_least(1, "a number of seeds", kind="int"),
    "train_metric": Range("metric", example="loss"),
    "grad_norm_metric": Range("metric", example="grad_norm"),
    # completed trials that did not learn
    "diverged_loss_rise": _above(0.0, "a multiple of |the first training loss|: 1.0 doubles"),
    "chance_tolerance": _at_least(0.0, "a share of |chance|: 0.05 is 5%"),
    "chance_first_eval": _share("closed", "open", _TRAINING),
    # lucky evaluations (score.spike)
    "spike_z": _above(0.0, "a number of standard deviations of the late noise"),
    "spike_neighbours": _at_least(1, "evaluations on each side", kind="int"),
}
"""The valid values of every :class:`AnalysisConfig` field, by name (a test requires one for
each field). Shares of a range, of training or of trials lie in (0, 1); counts are >= 1."""


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
