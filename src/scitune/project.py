"""The project around studies: configurations referred to by name, rounds, and the baseline.

A *reference* names what ``compare``/``adopt`` weigh: ``STUDY`` (its best configuration),
``STUDY#N`` (the configuration of trial N), or ``baseline`` (the adopted one). A configuration
is a trial together with its reruns (``scitune reseed``): one score per seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scitune.errors import ScituneError, StudyNotFoundError, TrialNotFoundError
from scitune.space import Value
from scitune.spec import StudySpec
from scitune.storage import DecisionRecord, FrozenTrial, Storage
from scitune.study import Study

__all__ = [
    "ConfigRef",
    "Project",
    "apply_baseline",
    "config_diff",
    "decision_setting",
    "resolve_ref",
]

BASELINE = "baseline"
STEPS = "max_train_steps"  # kept in a decision's evidence: the same params trained longer differ

Change = tuple[str, Value | None, Value | None]


@dataclass(frozen=True)
class ConfigRef:
    """A configuration and the scores of its runs (the original trial and its reruns)."""

    label: str  # "cnn-lr#6"
    study: Study
    trial: FrozenTrial  # the original trial
    runs: tuple[FrozenTrial, ...]  # the original and its reruns that finished with a score
    scores: tuple[float, ...]  # one per run
    violations: tuple[str, ...]  # constraint violations of any run: such a config never wins

    @property
    def params(self) -> Mapping[str, Value]:
        return self.trial.params

    @property
    def mean(self) -> float | None:
        return sum(self.scores) / len(self.scores) if self.scores else None

    @property
    def setting(self) -> dict[str, Value]:
        """What was trained: the params and the study's ``max_train_steps``."""
        return {**self.params, STEPS: self.study.spec.budget.max_train_steps}


def decision_setting(decision: DecisionRecord) -> dict[str, Value]:
    """A decision's params, with ``max_train_steps`` when its evidence recorded it."""
    steps = decision.evidence.get(STEPS)
    return {**decision.params, **({STEPS: steps} if isinstance(steps, int) else {})}


def config_diff(old: Mapping[str, Value], new: Mapping[str, Value]) -> tuple[Change, ...]:
    """``(name, old, new)`` for every hyperparameter that differs (``None``: absent).

    ``_`` names are labels for people (``_round1``), not hyperparameters; ``max_train_steps``
    counts only when both sides know it (decisions recorded before it was kept do not).
    """
    changes = []
    for name in dict.fromkeys([*old, *new]):
        if name.startswith("_") or (name == STEPS and not (name in old and name in new)):
            continue
        a, b = old.get(name), new.get(name)
        if a != b or type(a) is not type(b):
            changes.append((name, a, b))
    return tuple(changes)


class Project:
    """Rounds and decisions (the baseline's lineage, rejected ideas) in one store."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def decisions(self) -> list[DecisionRecord]:
        return self.storage.list_decisions()

    def baseline(self) -> DecisionRecord | None:
        """The adopted configuration: the newest ``adopt`` decision."""
        adopted = [d for d in self.decisions() if d.kind == "adopt"]
        return adopted[-1] if adopted else None

    def decision(self, decision_id: int) -> DecisionRecord:
        for d in self.decisions():
            if d.id == decision_id:
                return d
        raise ScituneError(f"no decision #{decision_id} in {self.storage.url}.")

    def open_round(self) -> int | None:
        open_ = [r for r in self.storage.list_rounds() if r.state == "open"]
        return open_[-1].number if open_ else None


def resolve_ref(ref: str, *, storage_url: str | None = None) -> ConfigRef:
    """``STUDY``, ``STUDY#N``, ``study.toml#N`` or ``baseline`` as a configuration with its runs.

    Raises:
        ScituneError: the reference names nothing, or a configuration without a score.
    """
    if ref == BASELINE:
        study = Study.load(_any_study_name(storage_url), storage_url=storage_url)
        base = Project(study.storage).baseline()
        if base is None or base.study is None or base.trial_number is None:
            raise ScituneError(
                "no baseline has been adopted yet: adopt one with `scitune adopt STUDY#N`."
            )
        ref = f"{base.study}#{base.trial_number}"
    name, sep, number = ref.partition("#")
    study = Study.load(name, storage_url=storage_url)
    trials = study.trials()
    if sep:
        try:
            trial = study.storage.get_trial(study.record.id, int(number))
        except (ValueError, TrialNotFoundError) as e:
            raise ScituneError(
                f"{ref}: study {study.name!r} has no trial {number!r} "
                f"(its trials are 0..{len(trials) - 1})."
            ) from e
        if trial.parent_number is not None:  # a rerun stands for its configuration
            trial = study.storage.get_trial(study.record.id, trial.parent_number)
    else:
        trial = _best_configuration(study, trials)
    return _config(study, trial, trials)


def _best_configuration(study: Study, trials: list[FrozenTrial]) -> FrozenTrial:
    """The design trial of the study's best configuration, by the one ranking."""
    best = [c for c in study.configurations(trials) if c.rank is not None]
    if not best:
        raise ScituneError(
            f"study {study.name!r} has no complete configuration that satisfies its constraints."
        )
    by_number = {t.number: t for t in trials}
    return by_number[best[0].trial]


def _config(study: Study, trial: FrozenTrial, trials: list[FrozenTrial]) -> ConfigRef:
    config = next((c for c in study.configurations(trials) if c.trial == trial.number), None)
    by_number = {t.number: t for t in trials}
    runs = () if config is None else tuple(by_number[n] for n in config.trial_numbers)
    return ConfigRef(
        label=f"{study.name}#{trial.number}",
        study=study,
        trial=trial,
        runs=runs,
        scores=() if config is None else config.values,
        violations=() if config is None else config.violations,
    )


def _any_study_name(storage_url: str | None) -> str:
    from scitune.storage import open_storage
    from scitune.study import DEFAULT_STORAGE

    studies = open_storage(storage_url or DEFAULT_STORAGE, create=False).list_studies()
    if not studies:
        raise StudyNotFoundError("the store holds no study yet: run one first.")
    return studies[0].name


def apply_baseline(spec: StudySpec, decision: DecisionRecord) -> StudySpec:
    """``spec`` with fixed values defaulting to the baseline's (the file's own win).

    Only names the study does not search (scientific, nuisance, conditional) are taken.
    """
    searched = set(spec.scientific_space().names) | set(spec.nuisance_space().names)
    for by_value in spec.fixed_when.values():
        for sub in by_value.values():
            searched |= set(sub)
    inherited = {k: v for k, v in decision.params.items() if k not in searched}
    data: dict[str, Any] = spec.to_dict()
    data["fixed"] = {**inherited, **data.get("fixed", {})}
    data["based_on"] = decision.id
    return StudySpec.from_dict(data, source=spec.source)
