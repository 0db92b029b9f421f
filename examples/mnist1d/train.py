"""Train the paper's CNN or MLP on MNIST-1D as a scitune trial.

The study entrypoint is :func:`main` (``python = "examples.mnist1d.train:main"``). It trains for
exactly ``trial.max_train_steps`` optimizer steps and, every ``eval_every`` steps and at the last
one, reports ``train_loss`` (mean over the interval), ``train_error`` (on the whole 3,600-example
train split), ``dev_error``, ``dev_loss``, ``grad_norm`` (global L2 norm, unclipped, of that
step's gradient), ``lr`` and ``examples_per_second`` (training throughput over the interval,
evaluation time excluded). With ``grad_clip`` set, the global gradient norm is clipped at it
every step (``grad_norm`` still reports the unclipped norm), and ``clipped`` (1.0 if that step
was clipped, else 0.0) and ``clipped_share`` (the share of the interval's updates clipped) are
reported too. ``params_millions`` is reported once, at step 0. The best checkpoint by dev error
is kept in ``trial.dir`` (overwritten on improvement). A NaN or infinite training loss,
or a loss still at chance level after a quarter of training (a collapsed network), makes the trial
INFEASIBLE.

Test data is used only by :func:`evaluate_test`, called explicitly after a study.

Standalone, without a study::

    python -m examples.mnist1d.train --learning_rate 0.01 --steps 500
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

import scitune
from examples.mnist1d import data
from examples.mnist1d.models import build_model, count_params
from scitune.integrations.torch import (
    LRSchedule,
    ScheduleKind,
    ThroughputMeter,
    apply_lr,
    clip_grad_norm,
    grad_norm,
    lr_schedule,
)
from scitune.trial import TrialContext

__all__ = ["CHECKPOINT_NAME", "TrainConfig", "evaluate_test", "main", "run_standalone"]

CHECKPOINT_NAME = "best.pt"
OPTIMIZERS = ("adam", "adamw", "sgd", "nesterov")
SCHEDULES = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """The hyperparameters ``main`` reads from ``trial.params``, with their defaults.

    ``channels`` applies to the CNN and ``hidden`` to the MLP; ``depth`` is the number of conv or
    hidden layers (``None``: the paper's 3 or 2). ``beta1``, ``beta2`` and ``epsilon`` apply to
    adam/adamw; ``momentum`` to sgd (default 0: plain SGD) and nesterov (default 0.9).
    ``weight_decay`` is Adam's and SGD's coupled L2 penalty, AdamW's decoupled decay.
    ``grad_clip`` (``None``: no clipping) clips the global gradient norm at that value.
    """

    model: str = "cnn"
    optimizer: str = "adam"
    learning_rate: float = 1e-2
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    momentum: float | None = None
    weight_decay: float = 0.0
    dropout: float = 0.0
    batch_size: int = 100
    eval_every: int | None = None  # None: max(1, max_train_steps // 30)
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    channels: int = 25
    hidden: int = 100
    depth: int | None = None
    grad_clip: float | None = None
    decay_steps: int | None = None  # linear/cosine: decay over only the last N steps

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainConfig:
        """Read and check the trial's params; unknown names are an error (they are typos).

        Names starting with ``_`` are labels for people (``scitune extend`` names round-1
        configurations ``_round1``), not hyperparameters: they are ignored.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(n for n in set(params) - known if not n.startswith("_"))
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {unknown} for examples.mnist1d.train. "
                f"Known: {sorted(known)}."
            )
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in params:
                continue
            value = params[f.name]
            kind = f.type.removesuffix(" | None")
            if kind == "int":
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{f.name} must be an integer, got {value!r}.")
            elif kind == "float":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{f.name} must be a number, got {value!r}.")
                value = float(value)
            values[f.name] = value
        config = cls(**values)
        config._check()
        return config

    def _check(self) -> None:
        problems = []
        if self.model not in ("cnn", "mlp"):
            problems.append(f"model must be 'cnn' or 'mlp', got {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.lr_schedule not in SCHEDULES:
            problems.append(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 1 <= self.batch_size <= 3600:
            problems.append(f"batch_size must be in [1, 3600], got {self.batch_size}")
        if self.optimizer == "nesterov" and self.momentum == 0:
            problems.append("nesterov needs momentum > 0 (use optimizer = 'sgd' for none)")
        if self.eval_every is not None and self.eval_every < 1:
            problems.append(f"eval_every must be >= 1, got {self.eval_every}")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            problems.append(f"grad_clip must be > 0 (or left out), got {self.grad_clip}")
        if problems:
            raise ValueError("; ".join(problems) + ".")

    @property
    def width(self) -> int:
        return self.channels if self.model == "cnn" else self.hidden

    def schedule(self, total_steps: int) -> LRSchedule:
        """The learning rate by update: linear warmup, then ``lr_schedule`` decaying to 0.

        ``schedule(k)`` is the rate of the update after ``k`` completed ones; a decay reaches 0
        only after the last update, so the last update keeps a small rate.
        """
        return lr_schedule(
            cast(ScheduleKind, self.lr_schedule),
            base_lr=self.learning_rate,
            total_steps=total_steps,
            warmup_steps=self.warmup_steps,
            decay_steps=self.decay_steps if self.lr_schedule != "constant" else None,
        )

    def lr_at(self, step: int, total_steps: int) -> float:
        """Learning rate of update ``step`` (1-based): linear warmup, then the schedule."""
        return self.schedule(total_steps)(step - 1)


# A 10-class classifier that predicts uniformly has cross-entropy ln 10.
CHANCE_LOSS = 0.98 * math.log(10)
COLLAPSE_AFTER = 0.25  # share of training after which a loss at chance means a dead network
# ...but never before this step: a short run (a throughput probe) is still at chance early on.
COLLAPSE_MIN_STEPS = 200


def main(trial: scitune.Trial) -> None:
    """Train one configuration for ``trial.max_train_steps`` steps, reporting as it goes.

    Raises:
        scitune.Infeasible: the training loss became NaN or infinite, or still sits at chance
            level after a quarter of training (a collapsed network).
        ValueError: a hyperparameter is unknown or out of range.
    """
    config = TrainConfig.from_params(trial.params)
    total_steps = trial.max_train_steps
    eval_every = config.eval_every or max(1, total_steps // 30)
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))

    train, dev = data.load_train_dev()
    torch.manual_seed(trial.seed)
    model = build_model(
        config.model, width=config.width, depth=config.depth, dropout=config.dropout
    )
    optimizer = _optimizer(config, model)
    trial.report(0, params_millions=count_params(model) / 1e6)

    trial.dir.mkdir(parents=True, exist_ok=True)
    checkpoint = trial.dir / CHECKPOINT_NAME
    best_dev_error = math.inf

    batches = _Batches(len(train), config.batch_size, seed=trial.seed)
    schedule = config.schedule(total_steps)
    loss_sum, interval_steps, clipped_steps = 0.0, 0, 0
    meter = ThroughputMeter()  # training time only: paused for evaluation, reset per interval
    for step in range(1, total_steps + 1):
        lr = schedule(step - 1)
        apply_lr(optimizer, lr)
        model.train()
        index = batches.next()
        loss = F.cross_entropy(model(train.x[index]), train.y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        is_eval_step = step % eval_every == 0 or step == total_steps
        loss_value = loss.item()
        finite = math.isfinite(loss_value)
        clipped = False
        if config.grad_clip is not None:  # clip_grad_norm returns the norm before clipping
            norm, clipped = clip_grad_norm(model, config.grad_clip)
        else:
            norm = grad_norm(model) if is_eval_step or not finite else math.nan
        loss_sum += loss_value
        interval_steps += 1
        clipped_steps += int(clipped)
        if not finite:  # report the partial interval, then stop: the run has diverged
            trial.report(step, train_loss=loss_sum / interval_steps, grad_norm=norm, lr=lr)
            raise scitune.Infeasible(f"training loss became {loss_value} at step {step}")
        optimizer.step()
        meter.step(config.batch_size)
        if not is_eval_step:
            continue

        meter.pause()
        clipping = {}
        if config.grad_clip is not None:
            clipping = {"clipped": float(clipped), "clipped_share": clipped_steps / interval_steps}
        dev_loss, dev_error = _evaluate(model, dev)
        _, train_error = _evaluate(model, train)
        trial.report(
            step,
            train_loss=loss_sum / interval_steps,
            train_error=train_error,
            dev_error=dev_error,
            dev_loss=dev_loss,
            grad_norm=norm,
            lr=lr,
            examples_per_second=meter.examples_per_second,
            **clipping,
        )
        collapse_check = max(COLLAPSE_AFTER * total_steps, COLLAPSE_MIN_STEPS)
        if step >= collapse_check and loss_sum / interval_steps >= CHANCE_LOSS:
            # The playbook counts an "uncharacteristically high loss" as infeasible (§5): a
            # ReLU net whose loss still sits at chance after a quarter of training is dead
            # (too-high learning rate), not a slow learner.
            raise scitune.Infeasible(
                f"training collapsed: train_loss {loss_sum / interval_steps:.3f} is at chance "
                f"level (ln 10 = {math.log(10):.3f}) at step {step}"
            )
        if dev_error < best_dev_error:
            best_dev_error = dev_error
            _save_atomically(model.state_dict(), checkpoint)
            trial.checkpoint(step, checkpoint, dev_error=dev_error, dev_loss=dev_loss)
        loss_sum, interval_steps, clipped_steps = 0.0, 0, 0
        meter.reset()


def evaluate_test(
    params: Mapping[str, Any], checkpoint_path: str | os.PathLike[str]
) -> dict[str, float]:
    """The final evaluation: the checkpoint's error on the 1,000 test examples.

    This is the only code that touches test data; call it once, on the configuration a study
    selected on dev error, never to choose between configurations.

    Example:
        >>> evaluate_test({"model": "cnn"}, "trials/7/best.pt")  # doctest: +SKIP
        {'test_error': 0.081, 'test_accuracy': 0.919, 'test_loss': 0.27, 'test_examples': 1000.0}
    """
    config = TrainConfig.from_params(params)
    model = build_model(
        config.model, width=config.width, depth=config.depth, dropout=config.dropout
    )
    model.load_state_dict(torch.load(checkpoint_path, map_location="cpu", weights_only=True))
    test = data.load_test()
    test_loss, test_error = _evaluate(model, test)
    return {
        "test_error": test_error,
        "test_accuracy": 1.0 - test_error,
        "test_loss": test_loss,
        "test_examples": float(len(test)),
    }


class _Batches:
    """Minibatch indices: a fresh permutation each epoch, from a generator seeded by the trial.

    An epoch's last partial batch is dropped (3,600 is a multiple of the default 100).
    """

    def __init__(self, n: int, batch_size: int, *, seed: int) -> None:
        self._n, self._batch_size = n, batch_size
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.randperm(n, generator=self._generator)
        self._position = 0

    def next(self) -> torch.Tensor:
        if self._position + self._batch_size > self._n:
            self._order = torch.randperm(self._n, generator=self._generator)
            self._position = 0
        index = self._order[self._position : self._position + self._batch_size]
        self._position += self._batch_size
        return index


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer in ("adam", "adamw"):
        cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
        return cls(
            params,
            lr=config.learning_rate,
            betas=(config.beta1, config.beta2),
            eps=config.epsilon,
            weight_decay=config.weight_decay,
        )
    default_momentum = 0.9 if config.optimizer == "nesterov" else 0.0
    return torch.optim.SGD(
        params,
        lr=config.learning_rate,
        momentum=default_momentum if config.momentum is None else config.momentum,
        nesterov=config.optimizer == "nesterov",
        weight_decay=config.weight_decay,
    )


@torch.no_grad()
def _evaluate(model: nn.Module, split: data.Split) -> tuple[float, float]:
    """Mean cross-entropy and the fraction misclassified, in eval mode (no dropout)."""
    model.eval()
    logits = model(split.x)
    loss = F.cross_entropy(logits, split.y).item()
    error = (logits.argmax(dim=1) != split.y).float().mean().item()
    return loss, error


def _save_atomically(state: Mapping[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(dict(state), tmp)
    os.replace(tmp, path)


# -- standalone use -------------------------------------------------------------------------------


def run_standalone(
    params: Mapping[str, Any], *, steps: int, seed: int = 0, directory: str | None = None
) -> tuple[list[dict[str, Any]], str | None, Path]:
    """Run :func:`main` once outside any study.

    Returns the reported points (``{"step": ..., **metrics}``), the infeasibility reason or None,
    and the trial directory (which holds ``best.pt`` and ``metrics.jsonl``).
    """
    root = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="mnist1d-"))
    root.mkdir(parents=True, exist_ok=True)
    (root / "metrics.jsonl").unlink(missing_ok=True)  # a reused directory starts a fresh curve
    context = TrialContext(
        study="standalone",
        number=0,
        params=dict(params),
        seed=seed,
        max_train_steps=steps,
        dir=str(root),
        metrics_file=str(root / "metrics.jsonl"),
    )
    trial = scitune.Trial(context)
    reason = None
    try:
        main(trial)
    except scitune.Infeasible as e:
        reason = e.reason
    finally:
        trial.close()
    points = []
    for line in Path(context.metrics_file).read_text().splitlines():
        record = json.loads(line)
        if "step" in record:
            points.append({"step": record["step"], **record["metrics"]})
    return points, reason, root


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.mnist1d.train",
        description="Train one MNIST-1D model without scitune and print its curve.",
    )
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        default = getattr(defaults, f.name)
        base = f.type.removesuffix(" | None")
        kind: Any = {"str": str, "int": int, "float": float}[base]
        parser.add_argument(f"--{f.name}", type=kind, default=None, help=f"default: {default}")
    parser.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="trial seed (default 0)")
    parser.add_argument("--dir", default=None, help="trial directory (default: a temp dir)")
    parser.add_argument(
        "--test", action="store_true", help="also evaluate the best checkpoint on the test set"
    )
    return parser.parse_args(argv)


def _cli(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    params = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name) is not None
    }
    config = TrainConfig.from_params(params)
    print(f"config: {json.dumps(asdict(config))}")
    started = time.perf_counter()
    points, reason, root = run_standalone(
        params, steps=args.steps, seed=args.seed, directory=args.dir
    )
    seconds = time.perf_counter() - started
    columns = (
        "train_loss",
        "train_error",
        "dev_error",
        "dev_loss",
        "grad_norm",
        "lr",
        "examples_per_second",
    )
    print(f"{'step':>6} " + " ".join(f"{c:>19}" for c in columns))
    for point in points:
        if "train_loss" in point:
            cells = (f"{point[c]:19.4g}" if c in point else f"{'':>19}" for c in columns)
            print(f"{point['step']:>6} " + " ".join(cells))
    size = next((p["params_millions"] for p in points if "params_millions" in p), math.nan)
    print(f"params: {size * 1e6:,.0f}  time: {seconds:.1f}s  trial dir: {root}")
    if reason is not None:
        print(f"INFEASIBLE: {reason}")
        return 1
    dev = [p["dev_error"] for p in points if "dev_error" in p]
    print(f"best dev error: {min(dev):.4f}  final dev error: {dev[-1]:.4f}")
    if args.test:
        print(f"test (best checkpoint): {evaluate_test(params, root / CHECKPOINT_NAME)}")
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
