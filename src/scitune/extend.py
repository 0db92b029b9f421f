"""``extend``: a compute-bound round 2 from round 1's best configurations (§8, item 29).

Round 1 tunes on short runs; round 2 trains its best few configurations longer. What carries over
and what must change:

- the schedule is extended by the playbook's rules: linear decay keeps the length of its decay
  and extends the constant phase before it; cosine keeps the base learning rate and stretches to
  the new ``max_train_steps``; warmup stays;
- the pitfall: extra steps spent at a learning rate that is already too small add nothing, so the
  extended schedule is checked for the share of steps below 1% of the base rate;
- what transfers: very likely warmup length and initialization, likely architecture, maybe the
  optimizer, augmentation and regularization, unlikely the learning-rate schedule itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from scitune.integrations._torch_schedules import LRSchedule, ScheduleKind, lr_schedule
from scitune.project import ConfigRef
from scitune.space import Value
from scitune.spec import StudySpec

__all__ = ["LABEL", "ConfigPlan", "extend_spec"]

LABEL = "_round1"  # the scientific label of round 2's configurations (trainers ignore `_` names)
LOW_LR = 0.01  # ours: a rate below this share of the base rate counts as "too small"
LOW_LR_SHARE = 0.1  # ours: flag a schedule spending more than this share of steps there

TRANSFER = (
    "What transfers from short runs (§8): very likely warmup length and initialization; likely "
    "the architecture; maybe the optimizer, augmentation and regularization; unlikely the "
    "learning-rate schedule itself -- re-tune it in round 2 if the budget allows."
)


@dataclass(frozen=True)
class ConfigPlan:
    """One round-1 configuration as round 2 will run it."""

    label: str  # "t6"
    source: str  # "study#6"
    score: float | None
    schedule: str
    changes: dict[str, Value]  # params round 2 sets differently (decay_steps...)
    low_lr_share: float  # share of round-2 steps below LOW_LR x base rate
    notes: tuple[str, ...]


def extend_spec(
    spec: StudySpec, configs: Sequence[ConfigRef], *, steps: int, runs: int = 1
) -> tuple[dict[str, Any], list[ConfigPlan], list[str]]:
    """Round 2's study data (``StudySpec.to_dict`` shape), one plan per config, and warnings."""
    old_steps = spec.budget.max_train_steps
    if steps <= old_steps:
        raise ValueError(
            f"--steps must exceed round 1's max_train_steps ({old_steps}), got {steps}: round 2 "
            "trains longer."
        )
    plans = [_plan(c, old_steps, steps) for c in configs]
    params = [{**c.params, **p.changes} for c, p in zip(configs, plans, strict=True)]
    common = {
        k: v
        for k, v in params[0].items()
        if all(k in p and p[k] == v and type(p[k]) is type(v) for p in params)
    }
    data = spec.to_dict()
    data["name"] = f"{spec.name}-round2"
    data["goal"] = f"Round 2 of {spec.name!r}: its best configurations trained for {steps} steps."
    # One design trial per configuration, its other runs as reruns of it: `compare` and `adopt`
    # then weigh each configuration over all its seeds, as they do after `scitune reseed`.
    data["budget"] = {**data["budget"], "trials": 1, "runs": runs, "max_train_steps": steps}
    data["search"] = {"sampler": "quasirandom", "design": "per_value"}
    data.pop("based_on", None)
    data.pop("base", None)
    data["scientific"] = {LABEL: {"values": [p.label for p in plans]}}
    data["nuisance"] = {}
    fixed: dict[str, Any] = dict(common)
    fixed["when"] = {
        LABEL: {
            plan.label: {k: v for k, v in p.items() if k not in common}
            for plan, p in zip(plans, params, strict=True)
        }
    }
    data["fixed"] = fixed
    warnings = [TRANSFER]
    for plan in plans:
        if plan.low_lr_share > LOW_LR_SHARE:
            warnings.append(
                f"{plan.label} ({plan.source}): {plan.low_lr_share:.0%} of round 2's steps run "
                f"below {LOW_LR:.0%} of the base learning rate -- extra steps at too small a "
                "learning rate add nothing (§8). Shorten the decay or raise the final rate."
            )
    return data, plans, warnings


def _plan(config: ConfigRef, old_steps: int, steps: int) -> ConfigPlan:
    params = config.params
    kind = str(params.get("lr_schedule", "constant"))
    lr = params.get("learning_rate", params.get("lr"))
    label = f"t{config.trial.number}"
    if kind not in ("constant", "linear", "cosine") or not isinstance(lr, int | float):
        note = (
            f"schedule {kind!r} / learning rate {lr!r} unknown to scitune: it cannot apply the "
            "extension rules; check the schedule by hand."
        )
        return ConfigPlan(label, config.label, config.mean, kind, {}, 0.0, (note,))
    warmup = params.get("warmup_steps", 0)
    decay = params.get("decay_steps")
    round1 = lr_schedule(
        cast(ScheduleKind, kind),
        base_lr=float(lr),
        total_steps=old_steps,
        warmup_steps=int(warmup) if isinstance(warmup, int | float) else 0,
        decay_steps=int(decay) if isinstance(decay, int | float) and kind != "constant" else None,
    )
    round2 = round1.extended(steps)
    changes: dict[str, Value] = {}
    notes: list[str] = []
    if kind == "linear":
        changes["decay_steps"] = int(round2.decay_steps or steps)
        notes.append(
            f"linear decay: keeps its {changes['decay_steps']}-step decay and extends the "
            f"constant phase to {steps - int(changes['decay_steps'])} steps"
        )
    elif kind == "cosine":
        notes.append(f"cosine: keeps the base rate {lr:g} and stretches to {steps} steps")
    else:
        notes.append(
            "constant learning rate: nothing to carry over; a long run usually gains from a "
            "linear or cosine decay (§11), which would need re-tuning"
        )
    return ConfigPlan(
        label, config.label, config.mean, kind, changes, _low_share(round2, steps), tuple(notes)
    )


def _low_share(schedule: LRSchedule, steps: int) -> float:
    base = schedule.base_lr
    low = sum(1 for k in range(steps) if schedule(k) < LOW_LR * base)
    return low / steps
