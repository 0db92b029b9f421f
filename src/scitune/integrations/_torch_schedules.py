"""Learning-rate schedules: linear warmup, then constant, linear or cosine decay (§9, §11).

The schedule itself is plain arithmetic and imports no torch, so scitune's own commands (which
extend schedules for longer runs) can use it; only :func:`make_scheduler` touches torch, lazily.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from scitune.errors import IntegrationError

if TYPE_CHECKING:
    import torch

__all__ = [
    "SCHEDULE_KINDS",
    "LRSchedule",
    "ScheduleKind",
    "apply_lr",
    "lr_schedule",
    "make_scheduler",
]

ScheduleKind = Literal["constant", "linear", "cosine"]
SCHEDULE_KINDS: tuple[ScheduleKind, ...] = ("constant", "linear", "cosine")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class LRSchedule:
    """A learning rate as a pure function of the step; build it with :func:`lr_schedule`.

    ``schedule(step)`` is the learning rate of the update that follows ``step`` completed updates
    (``schedule(0)`` is the first update's, as ``torch.optim.lr_scheduler.LambdaLR`` counts).
    The fields are the settings, recorded as given; every combination is checked when built.
    """

    kind: ScheduleKind
    base_lr: float
    total_steps: int
    warmup_steps: int = 0
    final_lr: float = 0.0
    decay_steps: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in SCHEDULE_KINDS:
            problems.append(
                f"'kind' must be one of {', '.join(map(repr, SCHEDULE_KINDS))}, got {self.kind!r}"
            )
        if not (_is_number(self.base_lr) and math.isfinite(self.base_lr) and self.base_lr > 0):
            problems.append(
                f"'base_lr' must be a finite number > 0, got {self.base_lr!r}; pass the peak "
                "learning rate, e.g. base_lr=1e-3"
            )
        if not (_is_int(self.total_steps) and self.total_steps >= 1):
            problems.append(
                f"'total_steps' must be an integer >= 1, got {self.total_steps!r}; pass the "
                "run's max_train_steps"
            )
        if not (_is_int(self.warmup_steps) and self.warmup_steps >= 0):
            problems.append(
                f"'warmup_steps' must be an integer >= 0, got {self.warmup_steps!r}; use 0 for "
                "no warmup"
            )
        problems += self._decay_problems()
        if problems:
            raise IntegrationError("lr_schedule: " + "; ".join(problems) + ".")

    def _decay_problems(self) -> list[str]:
        if self.kind == "constant":
            unused = []
            if self.final_lr != 0.0:
                unused.append(f"final_lr={self.final_lr!r}")
            if self.decay_steps is not None:
                unused.append(f"decay_steps={self.decay_steps!r}")
            if unused:
                return [
                    f"a constant schedule has no decay, got {' and '.join(unused)}; leave them "
                    "out or use kind='linear' or 'cosine'"
                ]
            return []
        problems = []
        if not (_is_number(self.final_lr) and math.isfinite(self.final_lr)):
            problems.append(f"'final_lr' must be a finite number, got {self.final_lr!r}")
        elif not 0.0 <= self.final_lr <= self.base_lr:
            problems.append(
                f"'final_lr' must be in [0, base_lr = {self.base_lr!r}] (the decay ends there), "
                f"got {self.final_lr!r}"
            )
        if self.decay_steps is not None:
            if not (_is_int(self.decay_steps) and self.decay_steps >= 1):
                problems.append(
                    f"'decay_steps' must be an integer >= 1 or None (decay over every step "
                    f"after warmup), got {self.decay_steps!r}"
                )
            elif (
                _is_int(self.warmup_steps)
                and _is_int(self.total_steps)
                and self.warmup_steps + self.decay_steps > self.total_steps
            ):
                problems.append(
                    f"warmup_steps + decay_steps must be <= total_steps, got {self.warmup_steps} "
                    f"+ {self.decay_steps} > {self.total_steps}; shorten the decay or use "
                    "decay_steps=None"
                )
        return problems

    @property
    def decay_length(self) -> int:
        """Steps the decay takes (after the constant phase); 1 when warmup fills the run."""
        if self.decay_steps is not None:
            return self.decay_steps
        return max(1, self.total_steps - self.warmup_steps)

    @property
    def decay_start(self) -> int:
        """The step where the decay begins: ``schedule(decay_start) == base_lr``."""
        if self.decay_steps is not None:
            return self.total_steps - self.decay_steps
        return self.warmup_steps

    def __call__(self, step: int) -> float:
        if step < 0:
            raise IntegrationError(
                f"lr_schedule: the step must be >= 0 (updates completed so far), got {step}."
            )
        if step < self.warmup_steps:
            # Starts at base_lr / warmup_steps, not 0: an update at lr 0 would be wasted.
            return self.base_lr * (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return self.base_lr
        start = self.decay_start
        progress = 0.0 if step <= start else min(1.0, (step - start) / self.decay_length)
        if self.kind == "linear":
            return self.final_lr + (self.base_lr - self.final_lr) * (1.0 - progress)
        return self.final_lr + (self.base_lr - self.final_lr) * 0.5 * (
            1.0 + math.cos(math.pi * progress)
        )

    def extended(self, total_steps: int) -> LRSchedule:
        """The same schedule for a longer run, by the playbook's rules (§8, item 29).

        Linear: the decay keeps its length and the constant phase before it grows. Cosine: the
        base learning rate stays and the decay stretches to end at the new ``total_steps``.
        Constant: only the length changes. Warmup is kept in every case (it transfers).

        Example:
            >>> short = lr_schedule("linear", base_lr=0.1, total_steps=1000, warmup_steps=100)
            >>> long = short.extended(3000)
            >>> long.decay_steps, long(2100), long(3000)
            (900, 0.1, 0.0)
        """
        if not (_is_int(total_steps) and total_steps >= self.total_steps):
            raise IntegrationError(
                f"LRSchedule.extended: 'total_steps' must be an integer >= the current "
                f"{self.total_steps}, got {total_steps!r}; build a new schedule to shorten a run."
            )
        if self.kind == "linear":
            return dataclasses.replace(self, total_steps=total_steps, decay_steps=self.decay_length)
        if self.kind == "cosine" and self.decay_steps is not None:
            added = total_steps - self.total_steps
            return dataclasses.replace(
                self, total_steps=total_steps, decay_steps=self.decay_steps + added
            )
        return dataclasses.replace(self, total_steps=total_steps)


def lr_schedule(
    kind: ScheduleKind,
    *,
    base_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    final_lr: float = 0.0,
    decay_steps: int | None = None,
) -> LRSchedule:
    """A learning-rate schedule: linear warmup, then constant, linear or cosine decay.

    ``schedule(step)`` is the learning rate of the update after ``step`` completed updates
    (``schedule(0)`` is the first update's). Warmup ramps linearly over ``warmup_steps`` updates,
    from ``base_lr / warmup_steps`` to ``base_lr`` (``schedule(warmup_steps - 1) == base_lr``);
    then ``constant`` stays at ``base_lr``, and ``linear`` and ``cosine`` decay from ``base_lr``
    at ``schedule(warmup_steps)`` to ``final_lr`` at ``schedule(total_steps)``, the step after
    the last update (so the last update still has a small, non-zero rate). Past ``total_steps``
    the rate stays at ``final_lr``. ``warmup_steps`` may exceed ``total_steps``: a truncated run,
    such as a throughput probe, then stays in warmup. ``decay_steps`` (linear and cosine) decays
    over only the last ``decay_steps`` steps, holding ``base_lr`` between warmup and decay.

    The playbook's defaults (§11, item 42): a non-constant schedule should be linear or cosine;
    warmup (§9, item 34) is the first fix for early instability, no longer than 10% of the run.

    Extending a run (§8, item 29; :meth:`LRSchedule.extended` applies these rules):

    - linear: keep the length of the decay from round 1 and extend the constant phase before it
      (``decay_steps`` stays, ``total_steps`` grows);
    - cosine: keep ``base_lr`` and stretch the decay to the new ``max_train_steps``;
    - either way, beware of extra steps spent at a learning rate that is already too small.

    Raises:
        IntegrationError: an unknown kind, ``base_lr`` not finite and > 0, ``total_steps`` < 1,
            ``warmup_steps`` < 0, ``final_lr`` outside ``[0, base_lr]``, a decay setting on a
            constant schedule, or ``warmup_steps + decay_steps > total_steps``.

    Example:
        >>> schedule = lr_schedule("cosine", base_lr=1.0, total_steps=110, warmup_steps=10)
        >>> schedule(4), schedule(9), schedule(60), schedule(110)
        (0.5, 1.0, 0.5, 0.0)
    """
    return LRSchedule(
        kind=kind,
        base_lr=base_lr,
        total_steps=total_steps,
        warmup_steps=warmup_steps,
        final_lr=final_lr,
        decay_steps=decay_steps,
    )


def apply_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate to ``lr`` (call before ``optimizer.step()``).

    Example:
        >>> schedule = lr_schedule("linear", base_lr=1e-3, total_steps=1000)
        >>> for step in range(1000):  # doctest: +SKIP
        ...     apply_lr(optimizer, schedule(step))
        ...     ...  # forward, backward, optimizer.step()
    """
    if not (_is_number(lr) and math.isfinite(lr) and lr >= 0):
        raise IntegrationError(f"apply_lr: the learning rate must be finite and >= 0, got {lr!r}.")
    for group in optimizer.param_groups:
        group["lr"] = lr


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: LRSchedule
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` that follows ``schedule``; call its ``step()`` after each optimizer step.

    ``LambdaLR`` multiplies each group's initial learning rate by ``schedule(step) /
    schedule.base_lr``: a group created with ``lr = base_lr`` follows the schedule (up to
    rounding; :func:`apply_lr` sets exact values), and groups with their own learning rates keep
    their ratios to it.

    Example:
        >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # doctest: +SKIP
        >>> scheduler = make_scheduler(
        ...     optimizer, lr_schedule("cosine", base_lr=0.1, total_steps=1000, warmup_steps=50)
        ... )  # doctest: +SKIP
    """
    from torch.optim.lr_scheduler import LambdaLR

    if not isinstance(schedule, LRSchedule):
        raise IntegrationError(
            f"make_scheduler: 'schedule' must be an LRSchedule from lr_schedule(), got "
            f"{type(schedule).__name__}; its base_lr is what LambdaLR's factors are relative to."
        )

    def factor(step: int) -> float:
        return schedule(step) / schedule.base_lr

    return LambdaLR(optimizer, lr_lambda=factor)
