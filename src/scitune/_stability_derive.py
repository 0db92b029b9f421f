"""The derived studies: one per measurement, each a small grid on the user's configuration."""

from __future__ import annotations

from collections.abc import Sequence

from scitune._stability_base import (
    CONSTANT_LR,
    REGULARIZERS,
    Base,
    Derived,
    derive,
    derived_name,
    log_grid,
    round_lr,
    switch_off,
)
from scitune._stability_curves import StabilityConfig
from scitune._stability_sweeps import warmup_lengths
from scitune.errors import ScituneError
from scitune.space import Value

__all__ = [
    "derive_clipping",
    "derive_early",
    "derive_lr_sweep",
    "derive_max_steps",
    "derive_warmup",
]


def _constant_lr(base: Base) -> tuple[dict[str, Value], list[str]]:
    """Overrides for a constant learning rate without warmup, for the names the study has."""
    n = base.names
    fixed, lines = switch_off(base.params, {n.schedule: CONSTANT_LR, n.warmup: 0}, base.spec)
    if n.schedule not in base.params:
        lines.append(
            f"(the study has no {n.schedule}: scitune assumes the code keeps the learning rate "
            "constant)"
        )
    return fixed, lines


def derive_max_steps(
    base: Base, *, steps: int | None = None, trials: int = 8, name: str | None = None
) -> Derived:
    """A constant-LR sweep over the study's LR range, regularization off (§8 item 28)."""
    n = base.names
    steps = steps or base.spec.budget.max_train_steps
    values = log_grid(base.lr_low, base.lr_high, n=trials)
    fixed, changes = _constant_lr(base)
    off, removed = switch_off(base.params, REGULARIZERS, base.spec)
    fixed.update(off)
    if not removed:
        removed = ["(no regularization or augmentation hyperparameter found in the study)"]
    header = (
        "Derived by `scitune recommend max-steps` (§8: how long to train).\n"
        f"A constant-learning-rate sweep over {base.lr_where}, regularization off, {steps}\n"
        f"steps; everything else fixed at {base.origin}. The steps the fastest learning rate\n"
        "needs to fit the training set are the initial max_train_steps."
    )
    return derive(
        base,
        name=name or derived_name(base.spec, "max-steps"),
        goal=f"How many steps does {base.spec.name}'s model need to fit its training set?",
        steps=steps,
        sweep={n.learning_rate: values},
        fixed=fixed,
        header=header,
        changes=[*changes, *removed],
    )


def derive_lr_sweep(
    base: Base,
    *,
    steps: int | None = None,
    widen: float | None = None,
    per_decade: int | None = None,
    name: str | None = None,
) -> Derived:
    """An LR sweep from the study's lowest LR to ``widen`` x its highest, constant LR (§9)."""
    cfg = StabilityConfig()
    widen = widen or cfg.lr_widen
    steps = steps or base.spec.budget.max_train_steps
    values = log_grid(base.lr_low, base.lr_high * widen, per_decade=per_decade or cfg.per_decade)
    fixed, changes = _constant_lr(base)
    header = (
        "Derived by `scitune stability lr-sweep` (§9: find lr* and the unstable learning rate).\n"
        f"Learning rates from {values[0]:g} to {values[-1]:g} ({base.lr_where}, widened "
        f"{widen:g}x upward),\n"
        f"constant, {steps} steps; everything else fixed at {base.origin}."
    )
    return derive(
        base,
        name=name or derived_name(base.spec, "lr-sweep"),
        goal=f"Where does training of {base.spec.name} become unstable as the LR grows?",
        steps=steps,
        sweep={base.names.learning_rate: values},
        fixed=fixed,
        header=header,
        changes=changes,
    )


def derive_early(
    base: Base,
    *,
    best_lr: float,
    factor: float | None = None,
    steps: int | None = None,
    name: str | None = None,
) -> Derived:
    """The best LR and ``factor`` x it, ~500 steps, evaluated every step (§9 item 33)."""
    cfg = StabilityConfig()
    factor = factor or cfg.early_factor
    steps = steps or cfg.early_steps
    n = base.names
    fixed, changes = _constant_lr(base)
    fixed[n.eval_every] = 1
    added = "" if n.eval_every in base.params else " (added: the training code must read it)"
    changes.append(f"{n.eval_every}: 1, evaluate every step{added}")
    header = (
        "Derived by `scitune stability early` (§9: the early-instability probe).\n"
        f"{steps} steps at the best learning rate {best_lr:g} and at {factor:g}x it, constant,\n"
        f"evaluated every step; everything else fixed at {base.origin}."
    )
    return derive(
        base,
        name=name or derived_name(base.spec, "early"),
        goal=f"Is {base.spec.name} unstable early at {factor:g}x its best learning rate?",
        steps=steps,
        sweep={n.learning_rate: sorted({round_lr(best_lr), round_lr(factor * best_lr)})},
        fixed=fixed,
        header=header,
        changes=changes,
    )


def derive_warmup(
    base: Base,
    *,
    unstable_lr: float,
    max_train_steps: int | None = None,
    factors: Sequence[float] = (),
    warmups: Sequence[int] = (),
    name: str | None = None,
) -> tuple[Derived, int, list[int]]:
    """Warmup lengths x base LRs (``factors`` x the unstable LR), constant after the ramp (§9).

    Each trial runs the longest warmup plus twice it at the base rate (§9: post-warmup steps =
    2x warmup_steps), so a short warmup is tested over a longer stretch. Returns the study, the
    max_train_steps the 10% cap was taken from, and the warmup lengths.
    """
    cfg = StabilityConfig()
    n = base.names
    max_steps = max_train_steps or base.spec.budget.max_train_steps
    lengths = sorted(set(warmups)) or warmup_lengths(max_steps, cfg)
    if not lengths:
        raise ScituneError(
            f"max_train_steps = {max_steps} leaves no warmup of 10 steps or more within 10% of "
            "training; pass --warmup N."
        )
    too_long = [w for w in lengths if w > cfg.warmup_max_share * max_steps]
    if too_long:
        raise ScituneError(
            f"warmup {too_long} exceeds {cfg.warmup_max_share:.0%} of max_train_steps = "
            f"{max_steps} (§9: never more). Use shorter warmups or pass --max-steps."
        )
    factors = sorted(set(factors)) or [cfg.base_lr_factor]
    lrs = sorted({round_lr(f * unstable_lr) for f in factors})
    steps = int(lengths[-1] * (1 + cfg.post_warmup_factor))
    fixed, changes = _constant_lr(base)
    fixed.pop(n.warmup, None)
    changes = [line for line in changes if not line.startswith(f"{n.warmup}:")]
    added = "" if n.warmup in base.params else " (added: the training code must read it)"
    changes.append(f"{n.warmup}: swept over {lengths}{added}")
    shown_lrs = ", ".join(f"{x:g}" for x in lrs)
    shown_factors = ", ".join(f"{f:g}x" for f in factors)
    header = (
        "Derived by `scitune stability warmup` (§9: learning-rate warmup).\n"
        f"Base learning rate {shown_lrs} ({shown_factors} the unstable {unstable_lr:g}),\n"
        f"a linear warmup of {lengths} steps, then constant; {steps} steps each "
        f"(the longest warmup + {cfg.post_warmup_factor:g}x it).\n"
        f"Everything else fixed at {base.origin}."
    )
    derived = derive(
        base,
        name=name or derived_name(base.spec, "warmup"),
        goal=f"Which warmup lets {base.spec.name} train at {factors[0]:g}x its unstable LR?",
        steps=steps,
        sweep={n.learning_rate: lrs, n.warmup: lengths},
        fixed=fixed,
        header=header,
        changes=changes,
    )
    return derived, max_steps, lengths


def derive_clipping(
    base: Base, *, threshold: float, steps: int | None = None, name: str | None = None
) -> Derived:
    """The base configuration once more, clipped at ``threshold``: how many updates clip."""
    n = base.names
    steps = steps or base.spec.budget.max_train_steps
    added = "" if n.grad_clip in base.params else " (added: the training code must read it)"
    header = (
        "Derived by `scitune stability clipping` (§9: gradient clipping).\n"
        f"{base.origin.capitalize()} again, clipping the global gradient norm at "
        f"{threshold:g},\n"
        f"for {steps} steps: which share of the updates gets clipped."
    )
    return derive(
        base,
        name=name or derived_name(base.spec, "clipping"),
        goal=f"How often does clipping at {threshold:g} act on {base.spec.name}'s best run?",
        steps=steps,
        sweep={},
        fixed={n.grad_clip: round_lr(threshold)},
        header=header,
        changes=[f"{n.grad_clip}: {round_lr(threshold):g}{added}"],
    )
