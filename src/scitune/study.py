"""A study bound to its store: the spec, the stored record, and the trials it consists of."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from scitune import design
from scitune.errors import (
    ConcurrentUpdateError,
    ScituneError,
    SpecError,
    StoreNotFoundError,
    StudyNotFoundError,
)
from scitune.ranking import Configuration, rank_configurations, root_of
from scitune.samplers import Observation, Sampler, make_sampler
from scitune.scoring import constraint_violations
from scitune.spec import StudySpec, load_spec
from scitune.storage import (
    FrozenTrial,
    NewTrial,
    Storage,
    StudyRecord,
    TrialState,
    open_storage,
)

__all__ = ["DEFAULT_STORAGE", "RankedTrial", "Study"]

DEFAULT_STORAGE = "sqlite:///.scitune/scitune.db"
SOURCE_KEY = "_source"  # stored beside the spec: the study file's absolute path
RESEED_SLOT = "reseed:"  # slot prefix of reruns: never a design cell key
_RESEED_KEY = 0x5EED  # separates rerun seeds from the design's (study seed, slot index) stream

# What defines the trials already run. Changing any of these under an existing study name would
# mix incomparable trials, so it is refused; budget.trials, goal, constraints and entrypoint may
# change (a larger budget adds trials).
_SEARCH_DEFINING = ("scientific", "nuisance", "fixed", "search", "objective")
_BUDGET_DEFINING = ("max_train_steps", "seed")


@dataclass(frozen=True)
class RankedTrial:
    """A trial with its configuration's place in the one ranking (:mod:`scitune.ranking`).

    ``rank`` is the configuration's rank, on its design trial only (a rerun is one more run of
    it, never a row of its own in the ranking); ``config`` is the configuration the trial is a
    run of, when that run counts; ``violations`` are this trial's own.
    """

    trial: FrozenTrial
    rank: int | None
    violations: tuple[str, ...]
    config: Configuration | None = None


class Study:
    """A study in a store. Build it with :meth:`open` (from a spec) or :meth:`load`."""

    def __init__(self, spec: StudySpec, storage: Storage, record: StudyRecord) -> None:
        self.spec = spec
        self.storage = storage
        self.record = record

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, spec: StudySpec, storage: Storage | None = None) -> Study:
        """The study ``spec`` names: created if new, checked against the stored one if not."""
        storage = storage or open_storage(spec.storage)
        try:
            record: StudyRecord | None = storage.get_study(spec.name)
        except StudyNotFoundError:
            record = None
        if spec.base == "baseline":
            spec = _from_baseline(spec, storage, record)
        data = spec.to_dict()
        if spec.source is not None:
            # Where the file was, so a study run later by name still finds its entrypoint.
            data[SOURCE_KEY] = str(Path(spec.source).resolve())
        if record is None:
            record = storage.create_study(spec.name, data, {})
            return cls(spec, storage, record)
        _check_compatible(spec, record)
        if dict(record.spec) != data:
            storage.update_study_spec(record.id, data)
            record = storage.get_study(spec.name)
        return cls(spec, storage, record)

    @classmethod
    def load(cls, ref: str, *, storage_url: str | None = None) -> Study:
        """A study by file path (``study.toml``) or by name in ``storage_url`` (default store).

        Never creates a store: where there is none, nothing is written.

        Raises:
            StudyNotFoundError: the study file's study has not been run in its store (or
                there is no store yet), or the store holds no study of that name.
            StoreNotFoundError: ``ref`` is a name and there is no store to look it up in.
        """
        path = Path(ref)
        if path.suffix == ".toml" or path.is_file():
            spec = load_spec(path)
            url = storage_url or spec.storage
            try:
                storage = open_storage(url, create=False)
            except StoreNotFoundError as e:
                raise StudyNotFoundError(
                    f"study {spec.name!r} (from {path}) has not been run yet: there is no trial "
                    f"store at {url}. Start it with `scitune run {ref}`."
                ) from e
            try:
                record = storage.get_study(spec.name)
            except StudyNotFoundError as e:
                raise StudyNotFoundError(
                    f"study {spec.name!r} (from {path}) has not been run yet in "
                    f"{storage.url}. Start it with `scitune run {ref}`."
                ) from e
            return cls(spec, storage, record)
        try:
            storage = open_storage(storage_url or DEFAULT_STORAGE, create=False)
        except StoreNotFoundError as e:
            raise StoreNotFoundError(f"no study file or study named {ref!r}: {e}") from e
        try:
            record = storage.get_study(ref)
        except StudyNotFoundError as e:
            names = [s.name for s in storage.list_studies()]
            known = f"Studies there: {', '.join(names)}." if names else "It holds no study yet."
            raise StudyNotFoundError(
                f"no study file or study named {ref!r} in {storage.url}. {known} "
                "Pass a study file (study.toml) or one of those names."
            ) from e
        return cls.from_record(storage, record)

    @classmethod
    def from_record(cls, storage: Storage, record: StudyRecord) -> Study:
        """A study as its record in ``storage`` stores it (the spec it was run with)."""
        data = dict(record.spec)
        source = data.pop(SOURCE_KEY, None)
        spec = StudySpec.from_dict(data, source=Path(source) if source else None)
        return cls(spec, storage, record)

    # -- design ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.record.name

    def sampler(self) -> Sampler:
        return make_sampler(
            self.spec.search.sampler, seed=self.spec.budget.seed, goal=self.spec.objective.goal
        )

    def planned_trials(self) -> int:
        """Trials the study will hold: its design, each with ``budget.runs`` runs."""
        return sum(cell.target for cell in design.cells(self.spec)) * self.spec.budget.runs

    def ensure_trials(self, *, batch: int = 0, retries: int = 20) -> list[FrozenTrial]:
        """Create the PENDING trials the design still lacks, and the reruns ``budget.runs``
        asks of each design trial (see :meth:`_ensure_design`)."""
        created = self._ensure_design(batch=batch, retries=retries)
        if self.spec.budget.runs > 1:
            created += self._add_reruns(
                lambda trials: [t for t in trials if t.parent_number is None],
                self.spec.budget.runs - 1,
                retries=retries,
            )
        return created

    def _ensure_design(self, *, batch: int, retries: int) -> list[FrozenTrial]:
        """Create the PENDING trials the design still lacks (atomic with the sampler state).

        A non-adaptive sampler's trials are all created at once. An adaptive one's (``bayes``)
        exploration is created at once, and then ``batch`` trials per call, each proposed from
        the results so far (every trial of its design cell: finished ones, with INFEASIBLE and
        constraint-violating ones as infeasible, and unfinished ones as pending).

        Safe with several runners on one store: a runner that loses the race re-reads and
        retries, so sequence positions are never drawn twice.
        """
        sampler = self.sampler()
        cells = design.cells(self.spec)
        adaptive = any(sampler.upfront(cell.space) is not None for cell in cells)
        for _ in range(retries):
            record = self.storage.get_study(self.name)
            trials = self.storage.get_trials(record.id)
            counts = Counter(t.slot for t in trials)
            new, state = design.propose(
                self.spec,
                sampler,
                cells,
                counts,
                record.sampler_state,
                histories=self._histories(trials) if adaptive else None,
                batch=batch,
            )
            if not new:
                self.record = record
                return []
            try:
                created = self.storage.add_trials(
                    record.id, new, sampler_state=state, expected_version=record.state_version
                )
            except ConcurrentUpdateError:
                continue
            self.record = self.storage.get_study(self.name)
            return created
        raise ConcurrentUpdateError(
            f"could not allocate trials for study {self.name!r} after {retries} attempts: "
            "other runners keep changing it. Try again."
        )

    def _histories(
        self, trials: list[FrozenTrial], *, include_history: bool = True
    ) -> dict[str, list[Observation]]:
        """Each design cell's trials as a sampler sees them (reruns are not design trials)."""
        out: dict[str, list[Observation]] = {}
        for r in self.ranked([t for t in trials if t.parent_number is None]):
            t = r.trial
            if t.state in (TrialState.PENDING, TrialState.RUNNING):
                obs = Observation(t.params, None, pending=True)
            elif t.state is TrialState.COMPLETE:
                obs = Observation(t.params, t.value, feasible=not r.violations)
            else:  # INFEASIBLE: a constraint violation; FAILED: no result (value None)
                obs = Observation(t.params, None, feasible=t.state is not TrialState.INFEASIBLE)
            out.setdefault(t.slot, []).append(obs)
        if include_history:
            for per_slot in self._history_studies().values():
                for slot, observations in per_slot.items():
                    out.setdefault(slot, []).extend(replace(o, prior=True) for o in observations)
        return out

    def _history_studies(self) -> dict[str, dict[str, list[Observation]]]:
        """Finished trials of the studies ``search.history`` names (``refine`` writes them).

        Same store, same objective; their design cells match this study's when the scientific
        values do. Pending trials there are not this study's business and are left out; trials
        outside this study's space are skipped by the sampler.
        """
        out: dict[str, dict[str, list[Observation]]] = {}
        objective = (self.spec.objective.metric, self.spec.objective.goal)
        for name in self.spec.search.history:
            if name == self.name:
                continue
            try:
                other = Study.load(name, storage_url=self.storage.url)
            except StudyNotFoundError as e:
                raise SpecError(
                    f"search.history names study {name!r}, which is not in {self.storage.url}. "
                    "Run it there first, or remove it from the list."
                ) from e
            if (other.spec.objective.metric, other.spec.objective.goal) != objective:
                raise SpecError(
                    f"search.history: study {name!r} is scored by {other.spec.objective.metric} "
                    f"({other.spec.objective.goal}), this one by {objective[0]} ({objective[1]}): "
                    "a sampler can only learn from trials scored the same way."
                )
            finished = [t for t in other.trials() if t.state.finished]
            out[name] = other._histories(finished, include_history=False)
        return out

    def reseed(self, *, top: int, seeds: int, retries: int = 20) -> list[FrozenTrial]:
        """Queue reruns of the ``top`` best configurations with new seeds (§6: trial variance).

        Each configuration ends up with ``seeds`` reruns besides its original trial (reruns
        queued before count), linked by ``parent_number``. They are not part of the design: the
        search checks ignore them and the design never counts them.

        Raises:
            ScituneError: nothing is ranked yet, or ``top``/``seeds`` are below 1.
        """
        if top < 1 or seeds < 1:
            raise ScituneError(f"--top and --seeds must be >= 1, got top={top}, seeds={seeds}.")

        def best(trials: list[FrozenTrial]) -> list[FrozenTrial]:
            by_number = {t.number: t for t in trials}
            configs = [c for c in self.configurations(trials) if c.rank is not None]
            if not configs:
                raise ScituneError(
                    f"study {self.name!r} has no complete trial that satisfies its constraints "
                    "yet: run it first (`scitune run`)."
                )
            return [by_number[c.trial] for c in configs[:top] if c.trial in by_number]

        return self._add_reruns(best, seeds, retries=retries)

    def _add_reruns(
        self,
        pick: Callable[[list[FrozenTrial]], list[FrozenTrial]],
        seeds: int,
        *,
        retries: int,
    ) -> list[FrozenTrial]:
        """Queue reruns until each trial ``pick`` chooses has ``seeds`` of them."""
        for _ in range(retries):
            record = self.storage.get_study(self.name)
            trials = self.storage.get_trials(record.id)
            children = Counter(t.parent_number for t in trials if t.parent_number is not None)
            new = [
                NewTrial(
                    params=dict(parent.params),
                    seed=_reseed_seed(self.spec.budget.seed, parent.number, i),
                    slot=f"{RESEED_SLOT}{parent.slot}",
                    slot_index=parent.slot_index,
                    parent_number=parent.number,
                )
                for parent in pick(trials)
                for i in range(children[parent.number], seeds)
            ]
            if not new:
                return []
            try:
                return self.storage.add_trials(
                    record.id,
                    new,
                    sampler_state=record.sampler_state,
                    expected_version=record.state_version,
                )
            except ConcurrentUpdateError:
                continue
        raise ConcurrentUpdateError(
            f"could not queue reruns for study {self.name!r}: other runners keep changing it."
        )

    # -- reading -----------------------------------------------------------------------------
    def trials(self, states: Iterable[TrialState] | None = None) -> list[FrozenTrial]:
        return self.storage.get_trials(self.record.id, states=states)

    def violations(self, trials: list[FrozenTrial]) -> dict[int, tuple[str, ...]]:
        """Trial id -> the constraints a COMPLETE trial breaks (read at its score step)."""
        constraints = self.spec.constraints
        complete = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
        if not constraints or not complete:
            return {}
        curves = self.storage.get_curves(
            self.record.id,
            trial_ids=[t.id for t in complete],
            metrics=[c.metric for c in constraints],
        )
        return {
            t.id: tuple(constraint_violations(constraints, curves.get(t.id, {}), t.value_step))
            for t in complete
        }

    def configurations(self, trials: list[FrozenTrial] | None = None) -> list[Configuration]:
        """The one ranking: configurations by their mean over runs, best first; those that
        break a constraint last, unranked (see :func:`scitune.ranking.rank_configurations`)."""
        trials = self.trials() if trials is None else trials
        return rank_configurations(
            trials, goal=self.spec.objective.goal, violations=self.violations(trials)
        )

    def ranked(self, trials: list[FrozenTrial] | None = None) -> list[RankedTrial]:
        """Every trial, in trial-number order, with its configuration's rank (on the design
        trial) and its configuration (on each run that counts)."""
        trials = self.trials() if trials is None else trials
        violations = self.violations(trials)
        configs = rank_configurations(
            trials, goal=self.spec.objective.goal, violations=violations
        )
        by_root = {c.trial: c for c in configs}
        by_number = {t.number: t for t in trials}
        out = []
        for t in trials:
            config = by_root.get(root_of(t, by_number))
            runs = config is not None and t.number in config.trial_numbers
            rank = config.rank if config is not None and t.parent_number is None else None
            out.append(
                RankedTrial(t, rank, tuple(violations.get(t.id, ())), config if runs else None)
            )
        return out

    def best(self, k: int = 1) -> list[Configuration]:
        """The ``k`` best configurations that satisfy every constraint, best first."""
        return [c for c in self.configurations() if c.rank is not None][:k]

    def best_trial(self) -> FrozenTrial | None:
        """The design trial of the best configuration (``None``: nothing ranked yet)."""
        best = self.best(1)
        return self.storage.get_trial(self.record.id, best[0].trial) if best else None

    def artifacts_dir(self) -> Path:
        """Where trial directories live: ``studies/NAME-UID/`` beside a SQLite file, else in
        ``./.scitune``. ``UID`` starts this study instance's random id, so the files of a
        study deleted (or of a store made again) are never taken for this one's."""
        url = self.storage.url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            base = Path(url.removeprefix("sqlite:///")).expanduser().resolve().parent
        else:
            base = Path(".scitune").resolve()
        uid = self.record.uid[:8]
        return base / "studies" / (f"{self.name}-{uid}" if uid else self.name)

    def delete(self) -> list[Path]:
        """Remove the study from its store, with its trials, attempts, curves and checkpoints,
        then its files (every trial's folder). Returns the folders removed.

        Raises:
            StudyInUseError: a decision (adopt or reject) names the study: the baseline's
                lineage is never rewritten, so the study stays, whole.
        """
        folders = {self.artifacts_dir()}
        folders.update(Path(t.dir) for t in self.trials() if t.dir)
        self.storage.delete_study(self.record.id)
        removed = []
        studies_root = self.artifacts_dir().parent.resolve()
        for folder in sorted(folders):
            # Only what scitune made: a trial folder is under the store's studies/ folder.
            inside = folder.resolve().is_relative_to(studies_root)
            if inside and folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed


def _from_baseline(spec: StudySpec, storage: Storage, record: StudyRecord | None) -> StudySpec:
    """Fill unspecified fixed values from the baseline: the one recorded, else the newest."""
    from scitune.project import Project, apply_baseline

    project = Project(storage)
    pinned = record.spec.get("based_on") if record is not None else spec.based_on
    if pinned is not None:
        return apply_baseline(spec, project.decision(int(pinned)))
    baseline = project.baseline()
    if baseline is None:
        where = f"{spec.source}: " if spec.source else ""
        raise SpecError(
            f"{where}base: 'baseline' asks for the adopted baseline's values, but no baseline "
            f"has been adopted in {storage.url} yet. Adopt one (`scitune adopt STUDY#N`) or "
            "remove base."
        )
    return apply_baseline(spec, baseline)


def _reseed_seed(study_seed: int, parent_number: int, index: int) -> int:
    """Seed of rerun ``index`` of trial ``parent_number``: distinct from every design seed."""
    state = np.random.SeedSequence([study_seed, _RESEED_KEY, parent_number, index])
    return int(state.generate_state(1)[0] >> 1)


def _check_compatible(spec: StudySpec, record: StudyRecord) -> None:
    new, old = spec.to_dict(), dict(record.spec)
    # The chance level only informs the analysis: declaring it later changes no trial.
    for data in (new, old):
        if isinstance(data.get("objective"), Mapping):
            data["objective"] = {k: v for k, v in data["objective"].items() if k != "chance"}
    changed = [k for k in _SEARCH_DEFINING if new.get(k) != old.get(k)]
    changed += [
        f"budget.{k}"
        for k in _BUDGET_DEFINING
        if new.get("budget", {}).get(k) != old.get("budget", {}).get(k)
    ]
    if changed:
        where = f"{spec.source}: " if spec.source else ""
        detail = "; ".join(
            f"{k}: stored {_short(_dig(old, k))}, now {_short(_dig(new, k))}" for k in changed
        )
        raise SpecError(
            f"{where}study {spec.name!r} already exists with different {', '.join(changed)} "
            f"({detail}). Its trials would not be comparable with new ones. Give the changed "
            "study a new name (name = ...), or restore the old values."
        )


def _dig(data: Mapping[str, Any], dotted: str) -> Any:
    out: Any = data
    for part in dotted.split("."):
        out = out.get(part) if isinstance(out, Mapping) else None
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
