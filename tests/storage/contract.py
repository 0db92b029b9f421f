"""The storage contract as tests, run against every backend (Optuna's ``StorageTestCase``).

A backend's test module subclasses :class:`StorageContract` and provides the ``storage_url``
fixture (a URL that several processes can open) or overrides ``storage``. Each test checks one
point of the contract in ``scitune/storage/_base.py``; the numbers in the docstrings are its
rules.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import multiprocessing
import struct
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scitune.errors import (
    ConcurrentUpdateError,
    RoundNotFoundError,
    StaleAttemptError,
    StorageError,
    StudyInUseError,
    StudyNotFoundError,
    TrialNotFoundError,
    TrialStateError,
)
from scitune.storage import (
    AttemptOutcome,
    CheckpointRecord,
    Curve,
    DecisionRecord,
    FrozenTrial,
    NewDecision,
    NewTrial,
    RoundRecord,
    Storage,
    StudyRecord,
    TrialState,
    open_storage,
)

FINISHED = (TrialState.COMPLETE, TrialState.INFEASIBLE, TrialState.FAILED)


def add(storage: Storage, study: StudyRecord, n: int = 1, **params: Any) -> list[FrozenTrial]:
    """Add ``n`` trials at the study's current state version."""
    current = storage.get_study(study.name)
    new = [NewTrial(dict(params, i=i), seed=100 + i) for i in range(n)]
    state = {"position": current.state_version + n}
    return storage.add_trials(
        study.id, new, sampler_state=state, expected_version=current.state_version
    )


def running(storage: Storage, study: StudyRecord, **params: Any) -> FrozenTrial:
    """A new trial, claimed."""
    add(storage, study, **params)
    trial = storage.claim_trial(study.id, worker="w", trial_dir="trials/{number}")
    assert trial is not None
    return trial


def batch(**curves: tuple[list[int], list[float]]) -> dict[str, Any]:
    return {
        name: (np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64))
        for name, (steps, values) in curves.items()
    }


def as_json(obj: Any) -> str:
    """A JSON document as text: equal texts mean equal documents, NaN and types included
    (``1`` is not ``1.0`` nor ``True``), which ``==`` on values containing NaN cannot say."""
    return json.dumps(obj, sort_keys=True)


def same_decision(a: DecisionRecord, b: DecisionRecord) -> bool:
    """Field by field, with NaN equal to NaN and types compared."""
    fields = ("id", "kind", "created_at", "study", "trial_number", "metric", "round_number")
    same_value = (a.value is None and b.value is None) or (
        a.value is not None and b.value is not None and bits([a.value]) == bits([b.value])
    )
    return (
        same_value
        and all(getattr(a, f) == getattr(b, f) for f in (*fields, "notes"))
        and as_json(dict(a.params)) == as_json(dict(b.params))
        and as_json(dict(a.evidence)) == as_json(dict(b.evidence))
    )


def bits(values: Any) -> list[bytes]:
    """Exact bit patterns, so NaN compares equal to NaN and -0.0 differs from 0.0."""
    return [struct.pack("<d", float(v)) for v in values]


# -- worker processes (module level: spawned processes import them) ------------------------------
def _claim_all(url: str, study_id: int, worker: str, out: Any, start: Any) -> None:
    storage = open_storage(url)
    start.wait()
    claimed = []
    while (trial := storage.claim_trial(study_id, worker=worker, trial_dir="d")) is not None:
        claimed.append(trial.number)
    storage.close()
    out.put((worker, claimed))


def _add_many(url: str, name: str, rounds: int, out: Any, start: Any) -> None:
    storage = open_storage(url)
    start.wait()
    conflicts = 0
    for _ in range(rounds):
        while True:
            study = storage.get_study(name)
            try:
                storage.add_trials(
                    study.id,
                    [NewTrial({"x": 1}, seed=0), NewTrial({"x": 2}, seed=1)],
                    sampler_state={"position": study.state_version + 1},
                    expected_version=study.state_version,
                )
                break
            except ConcurrentUpdateError:
                conflicts += 1
    storage.close()
    out.put(conflicts)


def _open_round(url: str, goal: str, out: Any, start: Any) -> None:
    storage = open_storage(url)
    start.wait()
    try:
        result: Any = storage.create_round(goal).number
    except TrialStateError:
        result = "refused"
    storage.close()
    out.put(result)


def _run_processes(target: Any, args: list[tuple[Any, ...]]) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    out, start = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=target, args=(*a, out, start)) for a in args]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let them all open the store, then release them together
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


class StorageContract:
    """The contract tests; subclasses provide ``storage_url`` (or override ``storage``)."""

    @pytest.fixture
    def storage_url(self) -> str:
        raise NotImplementedError("a backend's test class provides the storage_url fixture")

    @pytest.fixture
    def storage(self, storage_url: str) -> Iterator[Storage]:
        storage = open_storage(storage_url)
        yield storage
        storage.close()

    @pytest.fixture
    def study(self, storage: Storage) -> StudyRecord:
        return storage.create_study("s", {"goal": "g", "budget": {"trials": 3}}, {"position": 0})

    # -- 1. snapshots ------------------------------------------------------------------------
    def test_study_snapshot_never_changes(self, storage: Storage) -> None:
        spec: dict[str, Any] = {"budget": {"trials": 3}}
        study = storage.create_study("s", spec, {"position": 0})
        spec["budget"]["trials"] = 99  # the caller's dict is not the stored one
        add(storage, study, 2)
        storage.update_study_spec(study.id, {"budget": {"trials": 10}})
        assert study.spec == {"budget": {"trials": 3}}
        assert (study.sampler_state, study.state_version) == ({"position": 0}, 0)
        again = storage.get_study("s")
        assert again.spec == {"budget": {"trials": 10}}
        assert (again.sampler_state, again.state_version) == ({"position": 2}, 1)

    def test_trial_snapshot_never_changes(self, storage: Storage, study: StudyRecord) -> None:
        (pending,) = add(storage, study, lr=0.1)
        claimed = storage.claim_trial(study.id, worker="w", trial_dir="d")
        assert claimed is not None
        storage.finish_trial(claimed.id, TrialState.COMPLETE, value=1.0)
        assert pending.state is TrialState.PENDING and pending.started_at is None
        assert claimed.state is TrialState.RUNNING and claimed.value is None
        if isinstance(claimed.params, dict):  # a mutable snapshot must be the caller's copy
            claimed.params["lr"] = 5.0
        assert storage.get_trial(study.id, 0).params["lr"] == 0.1

    def test_curve_snapshot_never_changes(self, storage: Storage, study: StudyRecord) -> None:
        trial = running(storage, study)
        storage.add_measurements(trial.id, batch(loss=([1, 2], [1.0, 2.0])))
        before = storage.get_curves(study.id)[trial.id]["loss"]
        storage.add_measurements(trial.id, batch(loss=([2, 3], [9.0, 3.0])))
        assert before == Curve(np.array([1, 2]), np.array([1.0, 2.0]))
        after = storage.get_curves(study.id)[trial.id]["loss"]
        assert after == Curve(np.array([1, 2, 3]), np.array([1.0, 9.0, 3.0]))

    # -- 2. studies --------------------------------------------------------------------------
    def test_create_and_get_study(self, storage: Storage) -> None:
        spec = {"name": "s", "scientific": {"dropout": {"values": [0.0, 0.1]}}, "n": 3}
        created = storage.create_study("s", spec, {"position": 0, "seed": 7})
        got = storage.get_study("s")
        assert got == created
        assert (got.name, got.spec, got.sampler_state, got.state_version) == (
            "s",
            spec,
            {"position": 0, "seed": 7},
            0,
        )
        assert got.created_at.utcoffset() is not None and got.created_at.utcoffset().seconds == 0

    def test_study_names_are_unique(self, storage: Storage, study: StudyRecord) -> None:
        with pytest.raises(StorageError, match="already exists"):
            storage.create_study("s", {"other": True}, {})
        assert storage.get_study("s").spec == study.spec

    def test_unknown_study(self, storage: Storage, study: StudyRecord) -> None:
        with pytest.raises(StudyNotFoundError, match="nope"):
            storage.get_study("nope")
        with pytest.raises(LookupError):  # the builtin it refines
            storage.get_study("nope")
        missing = study.id + 1000
        for call in (
            lambda: storage.update_study_spec(missing, {}),
            lambda: storage.get_trials(missing),
            lambda: storage.claim_trial(missing, worker="w", trial_dir="d"),
            lambda: storage.add_trials(missing, [], sampler_state={}, expected_version=0),
            lambda: storage.get_curves(missing),
            lambda: storage.get_checkpoints(missing),
        ):
            with pytest.raises(StudyNotFoundError):
                call()

    def test_list_studies_oldest_first(self, storage: Storage) -> None:
        assert storage.list_studies() == []
        for name in ("b", "a", "c"):
            storage.create_study(name, {}, {})
        assert [s.name for s in storage.list_studies()] == ["b", "a", "c"]

    def test_update_spec_leaves_state_and_trials(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        add(storage, study, 2)
        storage.update_study_spec(study.id, {"budget": {"trials": 30}})
        got = storage.get_study("s")
        assert got.spec == {"budget": {"trials": 30}}
        assert (got.sampler_state, got.state_version) == ({"position": 2}, 1)
        assert len(storage.get_trials(study.id)) == 2

    # -- 3. sequence positions -----------------------------------------------------------------
    def test_numbers_dense_from_zero_in_order(self, storage: Storage, study: StudyRecord) -> None:
        first = add(storage, study, 3)
        second = add(storage, study, 2)
        assert [t.number for t in first + second] == [0, 1, 2, 3, 4]
        assert [t.params["i"] for t in first + second] == [0, 1, 2, 0, 1]
        assert [t.number for t in storage.get_trials(study.id)] == [0, 1, 2, 3, 4]

    def test_numbers_are_per_study(self, storage: Storage) -> None:
        a = storage.create_study("a", {}, {})
        b = storage.create_study("b", {}, {})
        add(storage, a, 2)
        add(storage, b, 1)
        add(storage, a, 1)
        add(storage, b, 2)
        assert [t.number for t in storage.get_trials(a.id)] == [0, 1, 2]
        assert [t.number for t in storage.get_trials(b.id)] == [0, 1, 2]

    def test_add_trials_stores_state_and_bumps_version(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        new = [
            NewTrial({"x": 1}, seed=5, slot='{"dropout": 0.1}', slot_index=3, parent_number=None)
        ]
        (trial,) = storage.add_trials(
            study.id, new, sampler_state={"position": 1, "x": [1, 2]}, expected_version=0
        )
        got = storage.get_study("s")
        assert (got.sampler_state, got.state_version) == ({"position": 1, "x": [1, 2]}, 1)
        assert trial == storage.get_trial(study.id, 0)
        assert (trial.state, trial.seed, trial.slot, trial.slot_index) == (
            TrialState.PENDING,
            5,
            '{"dropout": 0.1}',
            3,
        )
        assert (trial.parent_number, trial.attempts, trial.ingested_bytes) == (None, 0, 0)
        assert trial.worker is None and trial.started_at is None and trial.value is None
        child = storage.add_trials(
            study.id, [NewTrial({}, seed=1, parent_number=0)], sampler_state={}, expected_version=1
        )
        assert child[0].parent_number == 0

    def test_stale_version_raises_and_writes_nothing(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        add(storage, study, 2)  # version 0 -> 1
        with pytest.raises(ConcurrentUpdateError):
            storage.add_trials(
                study.id, [NewTrial({"x": 1}, seed=0)], sampler_state={"p": 9}, expected_version=0
            )
        got = storage.get_study("s")
        assert (got.sampler_state, got.state_version) == ({"position": 2}, 1)
        assert len(storage.get_trials(study.id)) == 2

    def test_add_no_trials_still_advances_state(self, storage: Storage, study: StudyRecord) -> None:
        assert storage.add_trials(study.id, [], sampler_state={"p": 1}, expected_version=0) == []
        assert storage.get_study("s").state_version == 1

    def test_concurrent_add_trials_from_processes(
        self, storage: Storage, storage_url: str, study: StudyRecord
    ) -> None:
        results = _run_processes(_add_many, [(storage_url, "s", 15)] * 3)
        trials = storage.get_trials(study.id)
        assert [t.number for t in trials] == list(range(3 * 15 * 2))
        assert storage.get_study("s").state_version == 3 * 15
        assert all(isinstance(r, int) for r in results)

    # -- 4. claims ---------------------------------------------------------------------------
    def test_claim_lowest_pending(self, storage: Storage, study: StudyRecord) -> None:
        add(storage, study, 3)
        first = storage.claim_trial(study.id, worker="host:1", trial_dir="/runs/s/{number}/x")
        assert first is not None
        assert (first.number, first.state, first.worker) == (0, TrialState.RUNNING, "host:1")
        assert (first.dir, first.attempts) == ("/runs/s/0/x", 1)
        assert first.started_at is not None and first.heartbeat_at is not None
        assert first.started_at.utcoffset() is not None
        assert first == storage.get_trial(study.id, 0)
        second = storage.claim_trial(study.id, worker="host:2", trial_dir="plain")
        assert second is not None and (second.number, second.dir) == (1, "plain")

    def test_claim_none_when_nothing_pending(self, storage: Storage, study: StudyRecord) -> None:
        assert storage.claim_trial(study.id, worker="w", trial_dir="d") is None
        running(storage, study)
        assert storage.claim_trial(study.id, worker="w", trial_dir="d") is None

    def test_claims_are_atomic_across_processes(
        self, storage: Storage, storage_url: str, study: StudyRecord
    ) -> None:
        add(storage, study, 60)
        results = _run_processes(_claim_all, [(storage_url, study.id, f"w{i}") for i in range(4)])
        numbers = [n for _, claimed in results for n in claimed]
        assert sorted(numbers) == list(range(60))  # every trial once, none twice
        trials = storage.get_trials(study.id)
        assert all(t.state is TrialState.RUNNING and t.attempts == 1 for t in trials)
        by_worker = {w: set(c) for w, c in results}
        assert all(t.number in by_worker[t.worker or ""] for t in trials)

    # -- 5. lifecycle -------------------------------------------------------------------------
    @pytest.mark.parametrize("state", FINISHED)
    def test_finish(self, storage: Storage, study: StudyRecord, state: TrialState) -> None:
        trial = running(storage, study)
        done = storage.finish_trial(
            trial.id, state, value=0.25, value_step=300, reason="why", stderr_tail="tail\n"
        )
        assert (done.state, done.value, done.value_step) == (state, 0.25, 300)
        assert (done.reason, done.stderr_tail) == ("why", "tail\n")
        assert done.finished_at is not None and done.duration_s is not None
        assert done.duration_s >= 0
        assert done == storage.get_trial(study.id, trial.number)

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, None, 0.1 + 0.2, -1e-300])
    def test_score_round_trips_exactly(
        self, storage: Storage, study: StudyRecord, value: float | None
    ) -> None:
        trial = running(storage, study)
        done = storage.finish_trial(trial.id, TrialState.INFEASIBLE, value=value)
        got = storage.get_trial(study.id, trial.number).value
        for v in (done.value, got):
            if value is None:
                assert v is None
            else:
                assert v is not None and bits([v]) == bits([value])

    def test_finished_trial_cannot_change(self, storage: Storage, study: StudyRecord) -> None:
        trial = running(storage, study)
        storage.add_measurements(trial.id, batch(loss=([1], [1.0])), ingested_bytes=10)
        storage.finish_trial(trial.id, TrialState.COMPLETE, value=1.0)
        with pytest.raises(TrialStateError, match="COMPLETE"):
            storage.finish_trial(trial.id, TrialState.FAILED, value=2.0)
        with pytest.raises(TrialStateError):
            storage.requeue_trial(trial.id, "again")
        with pytest.raises(TrialStateError):
            storage.add_measurements(trial.id, batch(loss=([1], [5.0])), ingested_bytes=99)
        with pytest.raises(TrialStateError):
            storage.add_checkpoints(trial.id, [CheckpointRecord(1, "late.pt")])
        got = storage.get_trial(study.id, trial.number)
        assert (got.state, got.value, got.ingested_bytes) == (TrialState.COMPLETE, 1.0, 10)
        assert storage.get_curves(study.id)[trial.id]["loss"] == Curve(
            np.array([1]), np.array([1.0])
        )

    def test_only_running_trials_finish_or_requeue(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        (pending,) = add(storage, study)
        with pytest.raises(TrialStateError, match="PENDING"):
            storage.finish_trial(pending.id, TrialState.COMPLETE)
        with pytest.raises(TrialStateError):
            storage.requeue_trial(pending.id, "x")
        trial = storage.claim_trial(study.id, worker="w", trial_dir="d")
        assert trial is not None
        for not_finished in (TrialState.PENDING, TrialState.RUNNING):
            with pytest.raises(TrialStateError):
                storage.finish_trial(trial.id, not_finished)
        assert storage.get_trial(study.id, 0).state is TrialState.RUNNING

    def test_requeue_then_claim_again(self, storage: Storage, study: StudyRecord) -> None:
        add(storage, study, 2)
        first = storage.claim_trial(study.id, worker="w1", trial_dir="d")
        assert first is not None
        back = storage.requeue_trial(first.id, "worker lost")
        assert (back.number, back.state, back.reason) == (0, TrialState.PENDING, "worker lost")
        again = storage.claim_trial(study.id, worker="w2", trial_dir="e/{number}")
        assert again is not None
        assert (again.id, again.number, again.attempts, again.worker) == (first.id, 0, 2, "w2")
        assert again.dir == "d"  # a trial keeps its folder across attempts
        fresh = storage.claim_trial(study.id, worker="w2", trial_dir="e/{number}")
        assert fresh is not None and fresh.dir == "e/1"

    def test_unknown_trial(self, storage: Storage, study: StudyRecord) -> None:
        trial = running(storage, study)
        missing = trial.id + 1000
        for call in (
            lambda: storage.finish_trial(missing, TrialState.COMPLETE),
            lambda: storage.requeue_trial(missing, "x"),
            lambda: storage.add_measurements(missing, batch(loss=([1], [1.0]))),
            lambda: storage.add_checkpoints(missing, [CheckpointRecord(1, "p")]),
            lambda: storage.get_trial(study.id, 99),
        ):
            with pytest.raises(TrialNotFoundError):
                call()

    def test_heartbeat(self, storage: Storage, study: StudyRecord) -> None:
        a = running(storage, study)
        b = running(storage, study)
        storage.finish_trial(b.id, TrialState.COMPLETE)
        finished = storage.get_trial(study.id, b.number)
        time.sleep(0.01)
        storage.heartbeat([a.id, b.id])
        storage.heartbeat([])
        beat = storage.get_trial(study.id, a.number).heartbeat_at
        assert beat is not None and a.heartbeat_at is not None and beat > a.heartbeat_at
        assert storage.get_trial(study.id, b.number) == finished  # a finished trial is frozen

    def test_get_trials_by_state(self, storage: Storage, study: StudyRecord) -> None:
        add(storage, study, 4)
        for state in (TrialState.COMPLETE, TrialState.INFEASIBLE):
            trial = storage.claim_trial(study.id, worker="w", trial_dir="d")
            assert trial is not None
            storage.finish_trial(trial.id, state)
        storage.claim_trial(study.id, worker="w", trial_dir="d")
        numbers = lambda states: [t.number for t in storage.get_trials(study.id, states=states)]  # noqa: E731
        assert numbers(None) == [0, 1, 2, 3]
        assert numbers([TrialState.PENDING]) == [3]
        assert numbers([TrialState.INFEASIBLE, TrialState.COMPLETE]) == [0, 1]
        assert numbers([TrialState.FAILED]) == []
        assert numbers([]) == []

    # -- 6. measurements ----------------------------------------------------------------------
    def test_last_write_wins_sorted(self, storage: Storage, study: StudyRecord) -> None:
        trial = running(storage, study)
        storage.add_measurements(trial.id, batch(loss=([30, 10, 20], [3.0, 1.0, 2.0])))
        storage.add_measurements(trial.id, batch(loss=([20, 40], [-2.0, 4.0])))
        storage.add_measurements(trial.id, batch(loss=([5, 5], [0.5, 0.6])))  # in one batch too
        curve = storage.get_curves(study.id)[trial.id]["loss"]
        assert curve == Curve(np.array([5, 10, 20, 30, 40]), np.array([0.6, 1, -2, 3, 4.0]))
        assert curve.steps.dtype == np.int64 and curve.values.dtype == np.float64

    def test_re_adding_a_batch_is_idempotent(self, storage: Storage, study: StudyRecord) -> None:
        trial = running(storage, study)
        lines = batch(loss=([1, 2, 3], [0.3, 0.2, 0.1]), acc=([1, 3], [0.5, 0.9]))
        storage.add_measurements(trial.id, lines, ingested_bytes=100)
        once = storage.get_curves(study.id)
        storage.add_measurements(trial.id, lines, ingested_bytes=100)
        assert storage.get_curves(study.id) == once
        storage.finish_trial(trial.id, TrialState.COMPLETE)
        assert storage.get_curves(study.id) == once

    def test_non_finite_values_exact(self, storage: Storage, study: StudyRecord) -> None:
        trial = running(storage, study)
        values = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
        storage.add_measurements(trial.id, batch(x=(list(range(6)), values)))
        storage.add_measurements(trial.id, batch(y=([0], [math.nan])))
        got = storage.get_curves(study.id)[trial.id]
        assert bits(got["x"].values) == bits(values)
        storage.finish_trial(trial.id, TrialState.INFEASIBLE)
        assert bits(storage.get_curves(study.id)[trial.id]["x"].values) == bits(values)

    def test_batch_and_offset_commit_together(self, storage: Storage, study: StudyRecord) -> None:
        trial = running(storage, study)
        storage.add_measurements(trial.id, batch(loss=([1], [1.0])), ingested_bytes=17)
        assert storage.get_trial(study.id, trial.number).ingested_bytes == 17
        bad = {"loss": (np.array([2, 3]), np.array([1.0]))}  # refused: nothing is written
        with pytest.raises(ValueError):
            storage.add_measurements(trial.id, bad, ingested_bytes=40)
        assert storage.get_trial(study.id, trial.number).ingested_bytes == 17
        assert len(storage.get_curves(study.id)[trial.id]["loss"]) == 1
        storage.add_measurements(trial.id, {}, ingested_bytes=25)  # a line without metrics
        assert storage.get_trial(study.id, trial.number).ingested_bytes == 25
        storage.add_measurements(trial.id, batch(loss=([2], [2.0])))  # None: offset unchanged
        assert storage.get_trial(study.id, trial.number).ingested_bytes == 25

    def test_curve_filters(self, storage: Storage, study: StudyRecord) -> None:
        a, b, c = (running(storage, study) for _ in range(3))
        for t in (a, b):
            storage.add_measurements(t.id, batch(loss=([1], [t.number]), acc=([1], [0.5])))
        other = storage.create_study("other", {}, {})
        o = running(storage, other)
        storage.add_measurements(o.id, batch(loss=([1], [9.0]), lr=([1], [0.1])))
        curves = storage.get_curves(study.id)
        assert set(curves) == {a.id, b.id}  # trials without points are absent
        assert set(curves[a.id]) == {"loss", "acc"}
        only = storage.get_curves(study.id, trial_ids=[b.id, c.id, o.id], metrics=["loss", "lr"])
        assert set(only) == {b.id} and set(only[b.id]) == {"loss"}
        assert storage.get_curves(study.id, metrics=["nothing"]) == {}
        assert storage.get_curves(study.id, trial_ids=[]) == {}
        assert set(storage.get_curves(other.id)[o.id]) == {"loss", "lr"}

    @settings(
        max_examples=40,
        deadline=None,
        # One store serves all examples (each writes its own study), and every backend's class
        # runs this same method: both are intended.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.too_slow,
        ],
    )
    @given(
        points=st.lists(
            st.tuples(
                st.sampled_from(["loss", "acc", "lr"]),
                st.integers(-3, 40),
                st.floats(allow_nan=True, allow_infinity=True),
            ),
            max_size=60,
        ),
        cuts=st.lists(st.integers(0, 60), max_size=6),
        finish=st.booleans(),
    )
    def test_measurements_match_a_dict_model(
        self,
        storage: Storage,
        points: list[tuple[str, int, float]],
        cuts: list[int],
        finish: bool,
    ) -> None:
        """Any points, written in any chunking, read back as a last-write-wins dict."""
        study = storage.create_study(f"h{time.perf_counter_ns()}", {}, {})
        trial = running(storage, study)
        model: dict[str, dict[int, float]] = {}
        bounds = [0, *sorted(c for c in cuts if c < len(points)), len(points)]
        for lo, hi in itertools.pairwise(bounds):
            chunk: dict[str, tuple[list[int], list[float]]] = {}
            for name, step, value in points[lo:hi]:
                chunk.setdefault(name, ([], []))
                chunk[name][0].append(step)
                chunk[name][1].append(value)
                model.setdefault(name, {})[step] = value
            storage.add_measurements(trial.id, batch(**chunk))
        if finish:
            storage.finish_trial(trial.id, TrialState.COMPLETE)
        curves = storage.get_curves(study.id).get(trial.id, {})
        assert set(curves) == set(model)
        for name, expected in model.items():
            steps = sorted(expected)
            assert curves[name].steps.tolist() == steps
            assert bits(curves[name].values) == bits(expected[s] for s in steps)

    # -- 7. parameters -------------------------------------------------------------------------
    def test_parameters_keep_their_types(self, storage: Storage, study: StudyRecord) -> None:
        params: dict[str, Any] = {
            "lr": 0.1, "one_float": 1.0, "zero_float": 0.0, "one_int": 1, "zero_int": 0,
            "neg": -7, "big": 2**53 + 1, "yes": True, "no": False, "name": "adam", "empty": "",
            "digits": "1", "tiny": 5e-324,
        }  # fmt: skip
        (trial,) = storage.add_trials(
            study.id, [NewTrial(params, seed=0)], sampler_state={}, expected_version=0
        )
        claimed = storage.claim_trial(study.id, worker="w", trial_dir="d")
        assert claimed is not None
        done = storage.finish_trial(claimed.id, TrialState.COMPLETE)
        for got in (trial, claimed, done, storage.get_trial(study.id, 0)):
            got_params = dict(got.params)
            assert got_params == params
            assert {k: type(v) for k, v in got_params.items()} == {
                k: type(v) for k, v in params.items()
            }

    # -- checkpoints ---------------------------------------------------------------------------
    def test_checkpoints(self, storage: Storage, study: StudyRecord) -> None:
        a = running(storage, study)
        b = running(storage, study)
        storage.add_checkpoints(b.id, [CheckpointRecord(100, "b/100.pt", {"dev": 0.5})])
        storage.add_checkpoints(
            a.id,
            [
                CheckpointRecord(200, "a/200.pt", {"dev": 0.3, "loss": math.nan}),
                CheckpointRecord(100, "a/100.pt", {"dev": 0.4}),
            ],
        )
        storage.add_checkpoints(a.id, [CheckpointRecord(100, "a/100-again.pt", {"dev": 0.35})])
        storage.add_checkpoints(a.id, [])
        got = storage.get_checkpoints(study.id)
        assert [(c.trial_id, c.step, c.path) for c in got] == [
            (a.id, 100, "a/100-again.pt"),
            (a.id, 200, "a/200.pt"),
            (b.id, 100, "b/100.pt"),
        ]
        assert got[0].metrics == {"dev": 0.35}
        assert math.isnan(got[1].metrics["loss"])
        only_b = storage.get_checkpoints(study.id, trial_ids=[b.id])
        assert [(c.trial_id, c.step) for c in only_b] == [(b.id, 100)]
        other = storage.create_study("other", {}, {})
        assert storage.get_checkpoints(other.id) == []

    # -- 8. rounds -----------------------------------------------------------------------------
    def test_rounds_are_numbered_from_one_and_one_is_open(self, storage: Storage) -> None:
        assert storage.list_rounds() == []
        first = storage.create_round("tune the learning rate schedule")
        assert (first.number, first.goal, first.state) == (
            1,
            "tune the learning rate schedule",
            "open",
        )
        assert first.studies == () and first.closed_at is None
        assert (first.decision, first.notes, first.findings) == (None, None, None)
        assert first.created_at.utcoffset() == dt.timedelta(0)
        assert storage.get_round(1) == first
        with pytest.raises(TrialStateError, match=r"round 1 .*open.*scitune round close"):
            storage.create_round("another idea")
        assert storage.list_rounds() == [first]  # the refused round left nothing behind
        storage.close_round(1, decision="keep")
        second = storage.create_round("add dropout")
        assert (second.number, second.state) == (2, "open")
        with pytest.raises(TrialStateError, match="round 2"):
            storage.create_round("a third")
        storage.close_round(2, decision="reject dropout")
        assert storage.create_round("a third").number == 3
        assert [(r.number, r.state) for r in storage.list_rounds()] == [
            (1, "closed"), (2, "closed"), (3, "open"),
        ]  # fmt: skip

    def test_only_one_process_opens_a_round(self, storage: Storage, storage_url: str) -> None:
        results = _run_processes(_open_round, [(storage_url, f"goal {i}") for i in range(4)])
        assert sorted(results, key=str) == [1, "refused", "refused", "refused"]
        assert [(r.number, r.state) for r in storage.list_rounds()] == [(1, "open")]

    def test_attach_study_is_idempotent_and_ordered(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        other = storage.create_study("other", {}, {})
        third = storage.create_study("third", {}, {})
        storage.create_round("g")
        for s in (other, study, other, study, third):
            storage.attach_study(1, s.id)
        assert storage.get_round(1).studies == ("other", "s", "third")  # attach order, once each
        assert storage.list_rounds()[0].studies == ("other", "s", "third")
        storage.close_round(1, decision="d")
        storage.create_round("g2")
        storage.attach_study(2, study.id)  # a study may be looked at again in a later round
        assert [r.studies for r in storage.list_rounds()] == [("other", "s", "third"), ("s",)]
        with pytest.raises(StudyNotFoundError):
            storage.attach_study(2, third.id + 1000)
        assert storage.get_round(2).studies == ("s",)

    def test_close_round_stores_the_decision_and_freezes_it(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        storage.create_round("does dropout help?")
        storage.attach_study(1, study.id)
        findings = {
            "s": {
                "findings": [{"code": "BOUNDARY", "evidence": {"best": math.nan, "x": [1, 2.5]}}]
            },
            "gap": math.inf,
            "none": None,
        }
        closed = storage.close_round(
            1, decision="adopt dropout 0.1", notes="clear win", findings=findings
        )
        assert (closed.number, closed.state, closed.studies) == (1, "closed", ("s",))
        assert (closed.decision, closed.notes) == ("adopt dropout 0.1", "clear win")
        assert closed.closed_at is not None and closed.closed_at.utcoffset() == dt.timedelta(0)
        assert closed.closed_at >= closed.created_at
        got = storage.get_round(1)
        assert as_json(got.findings) == as_json(closed.findings) == as_json(findings)
        assert (got.state, got.decision, got.notes, got.closed_at, got.studies) == (
            "closed", closed.decision, closed.notes, closed.closed_at, ("s",),
        )  # fmt: skip
        # Frozen: closing again, or attaching another study, changes nothing.
        with pytest.raises(TrialStateError, match=r"round 1.*closed"):
            storage.close_round(1, decision="something else")
        other = storage.create_study("other", {}, {})
        with pytest.raises(TrialStateError, match="closed"):
            storage.attach_study(1, other.id)
        storage.attach_study(1, study.id)  # already attached: idempotent, no change
        again = storage.get_round(1)
        assert (again.decision, again.notes, again.closed_at, again.studies) == (
            "adopt dropout 0.1", "clear win", closed.closed_at, ("s",),
        )  # fmt: skip
        assert as_json(again.findings) == as_json(findings)

    def test_close_round_defaults(self, storage: Storage) -> None:
        storage.create_round("g")
        closed = storage.close_round(1, decision="nothing to adopt")
        assert (closed.notes, closed.findings) == ("", None)
        assert storage.get_round(1) == closed

    def test_unknown_round(self, storage: Storage, study: StudyRecord) -> None:
        with pytest.raises(RoundNotFoundError, match="no rounds yet"):
            storage.get_round(1)
        storage.create_round("g")
        for call in (
            lambda: storage.get_round(2),
            lambda: storage.get_round(0),
            lambda: storage.attach_study(2, study.id),
            lambda: storage.close_round(2, decision="d"),
            lambda: storage.add_decision(NewDecision("adopt", {}, round_number=7)),
        ):
            with pytest.raises(RoundNotFoundError, match="numbered 1 to 1") as info:
                call()
            assert isinstance(info.value, LookupError) and isinstance(info.value, StorageError)
        assert storage.list_decisions() == []
        assert storage.get_round(1).studies == ()

    def test_round_snapshots_never_change(self, storage: Storage, study: StudyRecord) -> None:
        opened = storage.create_round("g")
        storage.attach_study(1, study.id)
        listed = storage.list_rounds()
        findings: dict[str, Any] = {"s": {"n": [1, 2]}}
        closed = storage.close_round(1, decision="d", findings=findings)
        findings["s"]["n"].append(3)  # the caller's dict is not the stored one
        if isinstance(closed.findings, dict):  # a mutable snapshot must be the caller's copy
            closed.findings["s"] = "changed"
        storage.create_round("g2")
        assert opened == RoundRecord(1, "g", "open", opened.created_at)
        assert listed[0].state == "open" and listed[0].studies == ("s",)
        assert storage.get_round(1).findings == {"s": {"n": [1, 2]}}

    # -- 9. decisions --------------------------------------------------------------------------
    def test_decisions_are_appended_in_order(self, storage: Storage) -> None:
        assert storage.list_decisions() == []
        storage.create_round("g")
        new = [
            NewDecision("adopt", {"lr": 0.1}, study="s", trial_number=3, metric="dev_error",
                        value=0.25, round_number=1, notes="first baseline"),
            NewDecision("reject", {"dropout": 0.3}, evidence={"p": 0.4}, notes="within noise"),
            NewDecision("adopt", {"lr": 0.05}, study="s2", value=0.2),
            NewDecision("adopt", {"lr": 0.05}, study="s2", value=0.2),  # the same, twice: two
        ]  # fmt: skip
        added = [storage.add_decision(d) for d in new]
        listed = storage.list_decisions()
        assert len(listed) == 4 and all(
            same_decision(a, b) for a, b in zip(added, listed, strict=True)
        )
        assert [d.id for d in listed] == sorted({d.id for d in listed})  # oldest first, distinct
        for stored, d in zip(listed, new, strict=True):
            assert isinstance(stored, DecisionRecord) and isinstance(stored, NewDecision)
            assert (stored.kind, dict(stored.params), stored.study, stored.trial_number) == (
                d.kind, d.params, d.study, d.trial_number,
            )  # fmt: skip
            assert (stored.metric, stored.value, stored.round_number, stored.notes) == (
                d.metric, d.value, d.round_number, d.notes,
            )  # fmt: skip
            assert stored.created_at is not None
            assert stored.created_at.utcoffset() == dt.timedelta(0)
        stamps = [d.created_at for d in listed if d.created_at is not None]
        assert stamps == sorted(stamps)
        baseline = [d for d in listed if d.kind == "adopt"][-1]
        assert baseline.id == added[-1].id
        assert [d.kind for d in listed] == ["adopt", "reject", "adopt", "adopt"]  # rejected stays

    def test_decision_parameters_keep_their_types(self, storage: Storage) -> None:
        params: dict[str, Any] = {
            "lr": 0.1, "one_float": 1.0, "zero_float": 0.0, "one_int": 1, "zero_int": 0,
            "neg": -7, "big": 2**53 + 1, "huge": 2**70, "yes": True, "no": False, "name": "adam",
            "empty": "", "digits": "1", "true_text": "true", "tiny": 5e-324, "inf": math.inf,
            "nan": math.nan,
        }  # fmt: skip
        added = storage.add_decision(NewDecision("adopt", params))
        (listed,) = storage.list_decisions()
        for got in (added.params, listed.params):
            assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in params.items()}
            assert as_json(dict(got)) == as_json(params)
            assert list(got) == list(params)  # in the order given

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, None, 0.1 + 0.2, -1e-300])
    def test_decision_value_round_trips_exactly(
        self, storage: Storage, value: float | None
    ) -> None:
        added = storage.add_decision(NewDecision("reject", {"x": 1}, value=value))
        (listed,) = storage.list_decisions()
        for v in (added.value, listed.value):
            if value is None:
                assert v is None
            else:
                assert v is not None and bits([v]) == bits([value])

    def test_decision_evidence_round_trips(self, storage: Storage) -> None:
        evidence: dict[str, Any] = {
            "scores": {"baseline": [0.31, 0.29, math.nan], "candidate": [0.27, math.inf]},
            "interval": {"low": -math.inf, "high": -0.01, "level": 0.95},
            "seeds": [0, 1, 2], "n": 3, "one": 1.0, "paired": True, "none": None,
            "nested": [[1, [2.5, {"deep": math.nan}]], {}, []], "text": "lr ≤ 0.1 — ok",
            "big": 2**70,
        }  # fmt: skip
        added = storage.add_decision(NewDecision("adopt", {"lr": 0.1}, evidence=evidence))
        (listed,) = storage.list_decisions()
        assert as_json(added.evidence) == as_json(listed.evidence) == as_json(evidence)
        assert math.isnan(listed.evidence["nested"][0][1][1]["deep"])
        assert storage.list_decisions()[0].evidence["interval"]["low"] == -math.inf

    def test_decision_snapshots_never_change(self, storage: Storage) -> None:
        evidence: dict[str, Any] = {"scores": [1.0, 2.0]}
        params: dict[str, Any] = {"lr": 0.1}
        added = storage.add_decision(NewDecision("adopt", params, evidence=evidence))
        before = storage.list_decisions()
        evidence["scores"].append(3.0)  # the caller's dicts are not the stored ones
        params["lr"] = 9.0
        if isinstance(added.evidence, dict):  # a mutable snapshot must be the caller's copy
            added.evidence["scores"] = "changed"
        storage.add_decision(NewDecision("reject", {"lr": 1.0}))
        assert len(before) == 1 and before[0].evidence == {"scores": [1.0, 2.0]}
        first = storage.list_decisions()[0]
        assert (dict(first.params), first.evidence) == ({"lr": 0.1}, {"scores": [1.0, 2.0]})
        assert same_decision(first, before[0])

    # -- attempts (rules 4, 5, 6) ----------------------------------------------------------------
    def test_attempts_are_recorded_with_their_outcomes(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        (trial,) = add(storage, study)
        claimed = storage.claim_trial(study.id, worker="w1", trial_dir="d", info={"threads": 2})
        assert claimed is not None and claimed.attempts == 1
        storage.requeue_trial(trial.id, "runner w1 stopped", outcome=AttemptOutcome.LOST)
        storage.claim_trial(study.id, worker="w2", trial_dir="d")
        storage.requeue_trial(trial.id, "Ctrl-C")
        storage.claim_trial(study.id, worker="w3", trial_dir="d")
        running_now = storage.get_attempts(study.id)[trial.id]
        assert [a.outcome for a in running_now] == [
            AttemptOutcome.LOST, AttemptOutcome.INTERRUPTED, None,
        ]  # fmt: skip
        storage.finish_trial(trial.id, TrialState.FAILED, reason="exited with code 1")
        attempts = storage.get_attempts(study.id, trial_ids=[trial.id])[trial.id]
        assert [(a.attempt, a.worker) for a in attempts] == [(1, "w1"), (2, "w2"), (3, "w3")]
        assert [a.reason for a in attempts] == [
            "runner w1 stopped", "Ctrl-C", "exited with code 1",
        ]  # fmt: skip
        assert attempts[-1].outcome is AttemptOutcome.FAILED
        assert all(a.ended_at is not None and a.ended_at >= a.started_at for a in attempts)
        assert dict(attempts[0].info) == {"threads": 2} and dict(attempts[1].info) == {}
        with pytest.raises(ValueError, match="INTERRUPTED or LOST"):
            storage.requeue_trial(trial.id, "x", outcome=AttemptOutcome.COMPLETE)

    def test_a_new_attempt_starts_a_clean_curve(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        trial = running(storage, study)
        storage.add_measurements(trial.id, batch(loss=([1, 2, 3], [3.0, 2.0, 1.0])), attempt=1)
        storage.add_checkpoints(trial.id, [CheckpointRecord(3, "old.pt")])
        storage.add_trial_warnings(trial.id, ["the metrics file shrank"])
        storage.requeue_trial(trial.id, "interrupted")
        # Until it runs again, the interrupted attempt's points stay visible.
        assert len(storage.get_curves(study.id)[trial.id]["loss"]) == 3
        again = storage.claim_trial(study.id, worker="w", trial_dir="d")
        assert again is not None and again.attempts == 2 and again.warnings == ()
        assert storage.get_curves(study.id).get(trial.id, {}) == {}
        assert storage.get_checkpoints(study.id) == []
        with pytest.raises(StaleAttemptError, match="attempt 1"):
            storage.add_measurements(trial.id, batch(loss=([4], [0.5])), attempt=1)
        storage.add_measurements(trial.id, batch(loss=([1], [9.0])), attempt=2)
        curve = storage.get_curves(study.id)[trial.id]["loss"]
        assert curve == Curve(np.array([1], dtype=np.int64), np.array([9.0]))

    def test_retry_failed_puts_failed_trials_back(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        trials = add(storage, study, 3)
        for trial, state in zip(trials, FINISHED, strict=True):
            storage.claim_trial(study.id, worker="w", trial_dir="d/{number}")
            storage.finish_trial(trial.id, state, value=0.5, reason=f"was {state.value}")
        (back,) = storage.retry_failed(study.id)
        assert (back.number, back.state, back.seed) == (2, TrialState.PENDING, trials[2].seed)
        assert dict(back.params) == dict(trials[2].params) and back.value is None
        assert back.reason == "retry after: was FAILED"
        assert storage.retry_failed(study.id) == []  # nothing FAILED any more
        again = storage.claim_trial(study.id, worker="w", trial_dir="x/{number}")
        assert again is not None and (again.number, again.attempts, again.dir) == (2, 2, "d/2")
        history = storage.get_attempts(study.id)[again.id]
        assert [(a.outcome, a.reason) for a in history] == [
            (AttemptOutcome.FAILED, "was FAILED"), (None, None),
        ]  # fmt: skip
        states = [t.state for t in storage.get_trials(study.id)]
        assert states[:2] == [TrialState.COMPLETE, TrialState.INFEASIBLE]

    def test_retry_failed_by_number(self, storage: Storage, study: StudyRecord) -> None:
        trials = add(storage, study, 3)
        for trial in trials:
            storage.claim_trial(study.id, worker="w", trial_dir="d")
            storage.finish_trial(trial.id, TrialState.FAILED, reason="crash")
        assert [t.number for t in storage.retry_failed(study.id, numbers=[0, 2, 7])] == [0, 2]
        assert [t.state for t in storage.get_trials(study.id)] == [
            TrialState.PENDING, TrialState.FAILED, TrialState.PENDING,
        ]  # fmt: skip

    def test_trial_warnings_are_kept_once_and_capped(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        trial = running(storage, study)
        storage.add_trial_warnings(trial.id, ["a", "b"])
        storage.add_trial_warnings(trial.id, ["b", "c"])
        assert storage.get_trial(study.id, trial.number).warnings == ("a", "b", "c")
        storage.add_trial_warnings(trial.id, [f"w{i}" for i in range(100)])
        assert len(storage.get_trial(study.id, trial.number).warnings) <= 20
        done = storage.finish_trial(trial.id, TrialState.COMPLETE, value=1.0)
        assert done.warnings[:3] == ("a", "b", "c")
        with pytest.raises(TrialStateError):
            storage.add_trial_warnings(trial.id, ["late"])

    # -- deleting a study (rule 10) --------------------------------------------------------------
    def test_delete_study_removes_everything_of_it(self, storage: Storage) -> None:
        keep = storage.create_study("keep", {"goal": "k"}, {})
        gone = storage.create_study("gone", {"goal": "g"}, {})
        for record in (keep, gone):
            trial = running(storage, record, lr=0.1)
            storage.add_measurements(trial.id, batch(loss=([1], [1.0])))
            storage.add_checkpoints(trial.id, [CheckpointRecord(1, "c.pt")])
            storage.finish_trial(trial.id, TrialState.COMPLETE, value=1.0)
        storage.create_round("r")
        storage.attach_study(1, gone.id)
        storage.delete_study(gone.id)
        assert [s.name for s in storage.list_studies()] == ["keep"]
        with pytest.raises(StudyNotFoundError):
            storage.get_study("gone")
        assert storage.get_round(1).studies == ()
        (kept,) = storage.get_trials(keep.id)
        assert len(storage.get_curves(keep.id)[kept.id]["loss"]) == 1
        assert len(storage.get_checkpoints(keep.id)) == 1
        again = storage.create_study("gone", {"goal": "g2"}, {})  # the name is free again
        assert storage.get_trials(again.id) == [] and storage.get_curves(again.id) == {}
        assert again.uid and again.uid != gone.uid

    def test_delete_refuses_a_study_a_decision_names(self, storage: Storage) -> None:
        record = storage.create_study("decided", {"goal": "g"}, {})
        running(storage, record)
        storage.add_decision(NewDecision("adopt", {"lr": 0.1}, study="decided", trial_number=0))
        with pytest.raises(StudyInUseError, match="decisions refer to it"):
            storage.delete_study(record.id)
        assert len(storage.get_trials(record.id)) == 1
        with pytest.raises(StudyNotFoundError):
            storage.delete_study(record.id + 100)

    def test_study_instances_have_distinct_uids(self, storage: Storage) -> None:
        a = storage.create_study("a", {}, {})
        b = storage.create_study("b", {}, {})
        assert len(a.uid) == 32 and a.uid != b.uid
        assert storage.get_study("a").uid == a.uid
        assert [s.uid for s in storage.list_studies()] == [a.uid, b.uid]

    def test_finish_and_requeue_of_a_stale_attempt_are_refused(
        self, storage: Storage, study: StudyRecord
    ) -> None:
        trial = running(storage, study)
        storage.requeue_trial(trial.id, "went silent", outcome=AttemptOutcome.LOST, attempt=1)
        storage.claim_trial(study.id, worker="w2", trial_dir="d")  # attempt 2 runs now
        with pytest.raises(StaleAttemptError, match="attempt 2 runs now"):
            storage.finish_trial(trial.id, TrialState.COMPLETE, value=1.0, attempt=1)
        with pytest.raises(StaleAttemptError):
            storage.requeue_trial(trial.id, "x", attempt=1)
        assert storage.get_trial(study.id, 0).state is TrialState.RUNNING
        done = storage.finish_trial(trial.id, TrialState.COMPLETE, value=1.0, attempt=2)
        assert done.state is TrialState.COMPLETE
