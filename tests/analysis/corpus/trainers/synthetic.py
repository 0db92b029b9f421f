"""A second trainer for the validation corpus: a small PyTorch MLP on synthetic clusters.

The corpus must not read only one trainer's habits. This one differs from MNIST-1D's on
purpose: its own data (Gaussian class clusters in ``features`` dimensions, generated here from a
fixed seed, never downloaded), its own class count, no collapse check (a loss stuck high or
exploding is reported as it is, like many users' training loops; only a non-finite loss ends
the trial as INFEASIBLE), and a ``shuffle_labels`` switch that reproduces a classic data-pipeline
bug (training labels permuted against their inputs: the model can memorise them, never learn).

The study entrypoint is :func:`main` (``python = "tests.analysis.corpus.trainers.synthetic:main"``).
Every ``eval_every`` steps and at the last one it reports ``train_loss`` (mean over the
interval), ``dev_error``, ``dev_loss``, ``grad_norm`` (global L2 norm of that step's gradient)
and ``lr``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import scitune

__all__ = ["SyntheticConfig", "main", "make_data"]

DATA_SEED = 1234  # fixed for ever: the corpus's curves depend on it


@dataclass(frozen=True)
class SyntheticConfig:
    """The hyperparameters ``main`` reads from ``trial.params``; unknown names are an error."""

    optimizer: str = "adam"  # adam | sgd
    learning_rate: float = 1e-3
    momentum: float = 0.0  # sgd only
    weight_decay: float = 0.0
    hidden: int = 64  # 0: logistic regression
    batch_size: int = 32
    lr_schedule: str = "constant"  # constant | cosine
    warmup_steps: int = 0  # linear warmup from 0; = max_train_steps: the rate only ever rises
    eval_every: int | None = None  # None: max(1, max_train_steps // 30)
    classes: int = 5
    features: int = 20
    separation: float = 0.4  # spread of the class means, in units of the within-class noise
    train_size: int = 2000
    dev_size: int = 1000
    shuffle_labels: bool = False  # the bug: training labels permuted against their inputs

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SyntheticConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {unknown}; known: {sorted(known)}.")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in params:
                default = getattr(cls, f.name)
                value = params[f.name]
                if isinstance(default, float) and isinstance(value, int):
                    value = float(value)
                values[f.name] = value
        config = cls(**values)
        if config.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {config.optimizer!r}.")
        if config.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', got {config.lr_schedule!r}."
            )
        return config


@dataclass(frozen=True)
class Split:
    x: torch.Tensor
    y: torch.Tensor


def make_data(config: SyntheticConfig) -> tuple[Split, Split]:
    """Train and dev splits: ``classes`` Gaussian clusters, the same for every trial."""
    g = torch.Generator().manual_seed(DATA_SEED)
    means = config.separation * torch.randn(config.classes, config.features, generator=g)
    n = config.train_size + config.dev_size
    y = torch.randint(config.classes, (n,), generator=g)
    x = means[y] + torch.randn(n, config.features, generator=g)
    train_y = y[: config.train_size]
    if config.shuffle_labels:
        train_y = train_y[torch.randperm(config.train_size, generator=g)]
    n_train = config.train_size
    return Split(x[:n_train], train_y), Split(x[n_train:], y[n_train:])


def build_model(config: SyntheticConfig) -> nn.Module:
    if config.hidden == 0:
        return nn.Linear(config.features, config.classes)
    return nn.Sequential(
        nn.Linear(config.features, config.hidden),
        nn.ReLU(),
        nn.Linear(config.hidden, config.hidden),
        nn.ReLU(),
        nn.Linear(config.hidden, config.classes),
    )


def main(trial: scitune.Trial) -> None:
    """Train for ``trial.max_train_steps`` steps; INFEASIBLE only on a non-finite loss."""
    config = SyntheticConfig.from_params(trial.params)
    total = trial.max_train_steps
    eval_every = config.eval_every or max(1, total // 30)
    torch.set_num_threads(1)
    train, dev = make_data(config)
    torch.manual_seed(trial.seed)
    model = build_model(config)
    if config.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(
            model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
    else:
        opt = torch.optim.SGD(
            model.parameters(),
            lr=config.learning_rate,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    order = torch.Generator().manual_seed(trial.seed)
    perm, position = torch.randperm(len(train.y), generator=order), 0
    loss_sum, count = 0.0, 0
    for step in range(1, total + 1):
        lr = config.learning_rate
        if step <= config.warmup_steps:
            lr *= step / config.warmup_steps
        elif config.lr_schedule == "cosine":
            done = (step - 1 - config.warmup_steps) / max(1, total - config.warmup_steps)
            lr *= 0.5 * (1 + math.cos(math.pi * done))
        for group in opt.param_groups:
            group["lr"] = lr
        if position + config.batch_size > len(perm):
            perm, position = torch.randperm(len(train.y), generator=order), 0
        index = perm[position : position + config.batch_size]
        position += config.batch_size
        model.train()
        loss = F.cross_entropy(model(train.x[index]), train.y[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        value = loss.item()
        loss_sum, count = loss_sum + value, count + 1
        if not math.isfinite(value):
            trial.report(step, train_loss=loss_sum / count)
            raise scitune.Infeasible(f"training loss became {value} at step {step}")
        norm = math.sqrt(
            sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None)
        )
        opt.step()
        if step % eval_every and step != total:
            continue
        model.eval()
        with torch.no_grad():
            logits = model(dev.x)
            dev_loss = F.cross_entropy(logits, dev.y).item()
            dev_error = (logits.argmax(1) != dev.y).float().mean().item()
        trial.report(
            step,
            train_loss=loss_sum / count,
            dev_error=dev_error,
            dev_loss=dev_loss,
            grad_norm=norm,
            lr=lr,
        )
        loss_sum, count = 0.0, 0
