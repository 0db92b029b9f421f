"""Explore, then exploit: quasi-random points first, then Bayesian optimization on the history.

The playbook (PLAYBOOK_SPEC §7, item 26) explores with quasi-random search and, once the space is
understood, switches to Bayesian optimization that treats diverged trials as infeasible. Here the
first ``n_startup`` configurations of a design cell are the quasi-random ones the study seed gives
(the exploration; a refined study counts its ``search.history`` trials inside its space towards it,
so one refined from a full exploration starts Bayesian), and every later one comes from Optuna's
samplers used as a library: each call builds a fresh in-memory Optuna study from the ``history`` it
is handed, asks it for configurations and throws it away. Optuna's storage is never used to keep
anything, and the sampler never sees scitune's: algorithms get data, not back-ends.

- ``gp``: :class:`optuna.samplers.GPSampler` (needs torch), the default when torch is installed;
  ``tpe``: :class:`optuna.samplers.TPESampler` (multivariate, grouped for conditional axes,
  constant liar), otherwise. The choice is recorded in the settings and in the state.
- Domains map to Optuna distributions: ``log`` floats and ints keep Optuna's log scale;
  ``reverse_log`` floats are searched in the unit coordinate (where they are uniform) and mapped
  back; choices are searched by index (so ``True`` and ``1`` stay apart).
- Conditional axes use their namespaced keys as Optuna parameter names and are suggested only
  when their parent's value switches them on (define-by-run).
- INFEASIBLE trials are constraint violations (constraint ``+1``; feasible ones ``-1``), scored
  at the worst value observed so the objective model is not told they were good or terrible.
- The GP sees the worse half of the scores log-compressed beyond the median (order kept): a few
  diverged or terrible trials would otherwise flatten its model around the optimum.
- A batch of ``n`` is ``n`` asks in a row; earlier ones stay RUNNING, as do trials the history
  marks pending, so the batch spreads out. A configuration equal to a known one is perturbed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from scitune.errors import SpecError
from scitune.samplers._base import Observation, Sampler, Suggestion, _normalize_seed
from scitune.samplers._quasi_random import QuasiRandomSampler
from scitune.space import Axis, ChoiceDomain, Domain, FloatDomain, IntDomain, Space, Value

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

__all__ = ["BayesSampler"]

Algorithm = Literal["auto", "gp", "tpe"]
Goal = Literal["minimize", "maximize"]

# Optuna's own start-up phase: the exploration is ours (n_startup), so Optuna models as soon as
# two results exist; with fewer it draws at random.
_OPTUNA_STARTUP = 2
_RESAMPLE_TRIES = 200  # 6 widening steps, then uniform draws


class BayesSampler(Sampler):
    """Quasi-random exploration for ``n_startup`` trials per cell, then Optuna's GP or TPE.

    Args:
        seed: seeds the exploration sequence (the study seed, so the exploration is the points
            ``sampler = "quasirandom"`` would give) and the Bayesian steps.
        algorithm: ``"gp"``, ``"tpe"`` or ``"auto"`` (GP when torch is installed, else TPE).
        goal: the objective's direction.
        n_startup: exploration trials per cell; ``None`` means ``max(10, 2 * dimensions)``.

    Raises:
        SpecError: optuna (or torch, for ``algorithm="gp"``) is not installed.

    Example:
        >>> from scitune.space import FloatDomain, Space
        >>> space = Space.build({"lr": FloatDomain(1e-4, 1e-1, "log")})
        >>> s = BayesSampler(seed=0, algorithm="tpe").suggest(space, [], 3, state={})
        >>> len(s.configs), s.state
        (3, {'algorithm': 'tpe', 'position': 3, 'n_startup': 10})
    """

    name = "bayes"

    def __init__(
        self,
        *,
        seed: int = 0,
        algorithm: Algorithm = "auto",
        goal: Goal = "minimize",
        n_startup: int | None = None,
    ) -> None:
        if algorithm not in get_args(Algorithm):
            raise ValueError(f"algorithm must be 'auto', 'gp' or 'tpe', got {algorithm!r}.")
        if goal not in get_args(Goal):
            raise ValueError(f"goal must be 'minimize' or 'maximize', got {goal!r}.")
        if n_startup is not None and (
            isinstance(n_startup, bool) or not isinstance(n_startup, int) or n_startup < 0
        ):
            raise ValueError(
                f"n_startup must be a non-negative integer or None, got {n_startup!r}."
            )
        self.seed = _normalize_seed(seed)
        self.algorithm: Literal["gp", "tpe"] = _resolve_algorithm(algorithm)
        self.goal = goal
        self.n_startup = n_startup
        self._explore = QuasiRandomSampler(seed=self.seed)

    def settings(self) -> dict[str, Any]:
        # The resolved algorithm, not "auto": the settings say what produced the trials.
        return {
            "seed": self.seed,
            "algorithm": self.algorithm,
            "goal": self.goal,
            "n_startup": self.n_startup,
        }

    def startup(
        self,
        space: Space,
        history: Sequence[Observation] = (),
        context: Mapping[str, Value] | None = None,
    ) -> int:
        """Exploration trials per cell: ``n_startup`` (default ``max(10, 2 * len(space))``)
        less the earlier studies' results inside ``space`` (a refined study's history has
        explored it already: §7 goes straight to Bayesian optimization there).
        """
        base = self.n_startup if self.n_startup is not None else max(10, 2 * len(space))
        codec = _Codec(space, context or {})
        explored = sum(
            1
            for o in history
            if o.prior and _has_result(o) and codec.encode(o.params) is not None
        )
        return max(0, base - explored)

    def upfront(
        self,
        space: Space,
        history: Sequence[Observation] = (),
        context: Mapping[str, Value] | None = None,
    ) -> int | None:
        return self.startup(space, history, context)

    def suggest(
        self,
        space: Space,
        history: Sequence[Observation],
        n: int,
        *,
        state: Mapping[str, Any],
        context: Mapping[str, Value] | None = None,
    ) -> Suggestion:
        position = int(state.get("position", 0))
        startup = self.startup(space, history, context)
        explore = max(0, min(n, startup - position))
        configs: list[dict[str, Value]] = []
        if explore:
            configs = self._explore.suggest(
                space, [], explore, state={"position": position}, context=context
            ).configs
        if n > explore:
            # Exploration points proposed just now are not in the history yet: pending.
            known = [*history, *(Observation(c, None, pending=True) for c in configs)]
            configs += self._exploit(space, known, n - explore, position + explore, context)
        return Suggestion(
            configs, {"algorithm": self.algorithm, "position": position + n, "n_startup": startup}
        )

    # -- the Bayesian part --------------------------------------------------------------------
    def _exploit(
        self,
        space: Space,
        history: Sequence[Observation],
        n: int,
        position: int,
        context: Mapping[str, Value] | None,
    ) -> list[dict[str, Value]]:
        if len(space) == 0:
            return [{} for _ in range(n)]
        import optuna

        codec = _Codec(space, context or {})
        seed = int(np.random.SeedSequence([self.seed, position]).generate_state(1)[0])
        rng = np.random.default_rng([self.seed, position])
        seen = {codec.key(o.params) for o in history if codec.encode(o.params) is not None}
        out: list[dict[str, Value]] = []
        if self.algorithm == "gp":
            # Loaded before the thread limits start, so that they cover its OpenMP pool too.
            import torch  # noqa: F401
        with _quiet(), _one_thread():
            study = optuna.create_study(direction=self.goal, sampler=self._optuna_sampler(seed))
            warp = self.algorithm == "gp"  # TPE only ranks scores: a warp changes nothing
            for trial in _frozen_trials(codec, history, self.goal, warp=warp):
                study.add_trial(trial)
            for _ in range(n):
                asked = study.ask()
                config = codec.suggest(asked)
                if codec.key(config) in seen:
                    # A repeat teaches nothing: tell Optuna the asked trial failed and keep a
                    # perturbed configuration as the running one instead.
                    study.tell(asked, state=optuna.trial.TrialState.FAIL)
                    config = codec.perturb(config, seen, rng)
                    encoded = codec.encode(config)
                    assert encoded is not None  # decoded from this space: always encodable
                    params, dists = encoded
                    study.add_trial(
                        optuna.trial.create_trial(
                            state=optuna.trial.TrialState.RUNNING,
                            params=params,
                            distributions=dists,
                        )
                    )
                seen.add(codec.key(config))
                out.append(config)
        return out

    def _optuna_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        import optuna

        # Conditional axes live outside the GP's (intersection) search space; univariate TPE
        # samples them instead of Optuna's default uniform draw.
        tpe = optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=_OPTUNA_STARTUP,
            multivariate=self.algorithm == "tpe",
            group=self.algorithm == "tpe",
            constant_liar=True,
        )
        if self.algorithm == "tpe":
            return tpe
        return optuna.samplers.GPSampler(
            seed=seed,
            n_startup_trials=_OPTUNA_STARTUP,
            independent_sampler=tpe,
            warn_independent_sampling=False,
        )


def _resolve_algorithm(algorithm: Algorithm) -> Literal["gp", "tpe"]:
    if importlib.util.find_spec("optuna") is None:
        raise SpecError(
            "search.sampler: 'bayes' needs optuna, which is not installed. Install it with "
            "`pip install 'scitune[bayes]'` (add torch for the Gaussian-process sampler), or "
            "use sampler = 'quasirandom'."
        )
    has_torch = importlib.util.find_spec("torch") is not None
    if algorithm == "gp" and not has_torch:
        raise SpecError(
            "BayesSampler(algorithm='gp') needs torch, which is not installed. Install torch, "
            "or use algorithm='tpe' (or 'auto', which picks TPE without torch)."
        )
    if algorithm == "auto":
        return "gp" if has_torch else "tpe"
    return algorithm


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's INFO lines ("A new study created in memory") and experimental warnings off."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _one_thread() -> contextlib.AbstractContextManager[object]:
    """BLAS and OpenMP limited to one thread while Optuna works, when threadpoolctl is there.

    The GP's many tiny torch/NumPy/SciPy calls gain nothing from threads, and next to running
    trials (the runner's situation) the thread pools oversubscribe the cores: ten times slower
    measured on a busy 2-core machine. Optuna limits torch for parts of its work only.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up: optuna alone works, more slowly when busy
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[object] = threadpool_limits(limits=1)
    return limits


def _has_result(o: Observation) -> bool:
    """A finished trial that tells something: a finite score, or an infeasibility."""
    return not o.pending and (
        (o.value is not None and math.isfinite(o.value)) or not o.feasible
    )


def _frozen_trials(
    codec: _Codec, history: Sequence[Observation], goal: Goal, *, warp: bool = False
) -> list[optuna.trial.FrozenTrial]:
    """The history as Optuna trials: COMPLETE with a constraint, or RUNNING when pending.

    Trials without a score (FAILED) and those outside the space are left out. An infeasible
    trial's own score, when it has one (a satisficing metric violated), is kept; one without is
    scored at the worst feasible value so the objective model sees neither a good nor an
    outlandish value; the constraint is what marks it.
    """
    from optuna.trial import TrialState, create_trial

    counted = _has_result
    feasible = [o.value for o in history if counted(o) and o.feasible and o.value is not None]
    worst = (max if goal == "minimize" else min)(feasible, default=0.0)
    constrained = any(counted(o) and not o.feasible for o in history)
    squash = _tail_squash([*feasible, worst], goal) if warp else float
    out = []
    for o in history:
        encoded = codec.encode(o.params)
        if encoded is None or not (o.pending or counted(o)):
            continue
        params, dists = encoded
        if o.pending:
            out.append(create_trial(state=TrialState.RUNNING, params=params, distributions=dists))
            continue
        value = float(o.value) if o.value is not None and math.isfinite(o.value) else worst
        out.append(
            create_trial(
                params=params,
                distributions=dists,
                value=squash(value),
                constraints={"feasible": 1.0 if not o.feasible else -1.0} if constrained else None,
            )
        )
    return out


def _tail_squash(values: Sequence[float], goal: Goal) -> Callable[[float], float]:
    """Scores the GP sees: the better half as it is, the worse half log-compressed.

    A GP fitted to raw losses spanning orders of magnitude (a diverging configuration next to
    good ones) spends its fit on the bad tail and goes flat around the optimum. Compressing
    only what lies beyond the median keeps the good region's scale, where the GP must be
    precise (a whole-range power warp lost that precision on smooth functions). Increasing, so
    the order of the trials is unchanged. The scale is the interquartile range.
    """
    arr = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    if len(arr) < 4:
        return float
    sign = 1.0 if goal == "minimize" else -1.0  # worse = larger after the sign
    median = float(np.median(sign * arr))
    q25, q75 = np.percentile(sign * arr, [25, 75])
    scale = float(q75 - q25) or 1.0

    def squash(v: float) -> float:
        x = sign * v
        if x <= median:
            return v
        return sign * (median + scale * math.log1p((x - median) / scale))

    return squash


class _Codec:
    """Between a space's configurations and Optuna's parameters (named by axis key)."""

    def __init__(self, space: Space, context: Mapping[str, Value]) -> None:
        self.space = space
        self.context = dict(context)
        self.plain = [a for a in space.axes if a.condition is None]
        self.conditional = [a for a in space.axes if a.condition is not None]

    def suggest(self, trial: optuna.trial.Trial) -> dict[str, Value]:
        """Define-by-run: parents first, then the conditional axes they switch on."""
        view: dict[str, Value] = dict(self.context)
        config: dict[str, Value] = {}
        for axis in self.plain + self.conditional:
            if not axis.is_active(view):
                continue
            value = _decode(axis.domain, _ask(trial, axis))
            config[axis.name] = view[axis.name] = value
        return config

    def encode(
        self, params: Mapping[str, Value]
    ) -> tuple[dict[str, Any], dict[str, BaseDistribution]] | None:
        """Optuna parameters and distributions of a configuration; None if it is not in space."""
        view = {**self.context, **params}
        out: dict[str, Any] = {}
        dists: dict[str, BaseDistribution] = {}
        for axis in self.space.axes:
            if not axis.is_active(view):
                continue
            value = params.get(axis.name)
            if value is None or not axis.domain.contains(value):
                return None
            out[axis.key] = _encode(axis.domain, value)
            dists[axis.key] = _distribution(axis.domain)
        return out, dists

    def key(self, config: Mapping[str, Value]) -> tuple[float | None, ...]:
        """Identity of a configuration: its unit coordinates, rounded past float noise."""
        unit = self.space.to_unit({**self.context, **config})
        return tuple(None if math.isnan(u) else round(float(u), 9) for u in unit)

    def perturb(
        self,
        config: Mapping[str, Value],
        seen: set[tuple[float | None, ...]],
        rng: np.random.Generator,
    ) -> dict[str, Value]:
        """A configuration not in ``seen``: Gaussian steps in the unit cube, widening, then
        uniform draws. A finite space with every configuration seen gets a repeat.
        """
        centre = self.space.to_unit({**self.context, **config})
        centre = np.where(np.isnan(centre), rng.random(len(centre)), centre)
        candidate = dict(config)
        for attempt in range(_RESAMPLE_TRIES):
            sigma = 0.02 * 2.0**attempt
            if sigma < 1.0:
                point = np.clip(centre + rng.normal(0.0, sigma, len(centre)), 0.0, 1.0)
            else:
                point = rng.random(len(centre))
            candidate = self.space.configs_from_unit(point[np.newaxis, :], self.context)[0]
            if self.key(candidate) not in seen:
                return candidate
        return candidate


def _distribution(domain: Domain) -> BaseDistribution:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(domain, ChoiceDomain):
        return CategoricalDistribution(tuple(range(len(domain.values))))
    if isinstance(domain, IntDomain):
        return IntDistribution(domain.low, domain.high, log=domain.scale == "log")
    if domain.scale == "reverse_log":
        return FloatDistribution(0.0, 1.0)  # uniform in the unit coordinate
    return FloatDistribution(domain.low, domain.high, log=domain.scale == "log")


def _ask(trial: optuna.trial.Trial, axis: Axis) -> Any:
    domain, name = axis.domain, axis.key
    if isinstance(domain, ChoiceDomain):
        return trial.suggest_categorical(name, tuple(range(len(domain.values))))
    if isinstance(domain, IntDomain):
        return trial.suggest_int(name, domain.low, domain.high, log=domain.scale == "log")
    if domain.scale == "reverse_log":
        return trial.suggest_float(name, 0.0, 1.0)
    return trial.suggest_float(name, domain.low, domain.high, log=domain.scale == "log")


def _encode(domain: Domain, value: Value) -> Any:
    if isinstance(domain, ChoiceDomain):
        return domain.index(value)
    if isinstance(domain, IntDomain):
        return int(value)
    if domain.scale == "reverse_log":
        return domain.to_unit(value)
    return float(value)


def _decode(domain: Domain, internal: Any) -> Value:
    if isinstance(domain, ChoiceDomain):
        return domain.values[int(internal)]
    if isinstance(domain, IntDomain):
        return min(max(int(internal), domain.low), domain.high)
    assert isinstance(domain, FloatDomain)
    if domain.scale == "reverse_log":
        return domain.from_unit(float(internal))
    return min(max(float(internal), domain.low), domain.high)
