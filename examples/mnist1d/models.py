"""The paper's MLP and CNN for MNIST-1D, with width, depth and dropout as arguments.

Defaults reproduce the models of Greydanus & Kobak's reference code (``notebooks/models.py`` in
github.com/greydanus/mnist1d; the pip package ships only the data):

- MLP: 40 → 100 → 100 → 10, ReLU; the second hidden layer is residual (``h + relu(W h)``),
  as in the reference. 15,210 parameters.
- CNN: three ``Conv1d`` layers of 25 channels, stride 2, padding 1, kernel 5 for the first and 3
  for the others (the reference code's sizes), ReLU, then a linear classifier on the flattened
  25 × 5 features. 5,210 parameters.

``hidden``/``channels`` (width), ``depth`` and ``dropout`` let a study make them scientific
hyperparameters. Dropout (default 0, i.e. the paper's models) follows every hidden activation.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["CNN", "MLP", "ModelName", "build_model", "count_params"]

ModelName = Literal["cnn", "mlp"]
INPUT_SIZE = 40
NUM_CLASSES = 10


class MLP(nn.Module):
    """Fully connected network; hidden layers after the first are residual."""

    def __init__(
        self,
        *,
        input_size: int = INPUT_SIZE,
        num_classes: int = NUM_CLASSES,
        hidden: int = 100,
        depth: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_positive(hidden=hidden, depth=depth)
        _check_dropout(dropout)
        self.input = nn.Linear(input_size, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth - 1))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.input(x).relu())
        for layer in self.hidden:
            h = self.dropout(h + layer(h).relu())
        return self.output(h)


class CNN(nn.Module):
    """Strided 1-D convolutions (no pooling) and a linear classifier."""

    def __init__(
        self,
        *,
        input_size: int = INPUT_SIZE,
        num_classes: int = NUM_CLASSES,
        channels: int = 25,
        depth: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        _check_positive(channels=channels, depth=depth)
        _check_dropout(dropout)
        layers: list[nn.Module] = []
        length, in_channels = input_size, 1
        for i in range(depth):
            kernel = 5 if i == 0 else 3
            layers.append(nn.Conv1d(in_channels, channels, kernel, stride=2, padding=1))
            length = (length + 2 * 1 - kernel) // 2 + 1
            in_channels = channels
            if length < 1:
                raise ValueError(
                    f"CNN depth={depth} shrinks a length-{input_size} input to nothing "
                    f"(each layer halves it). Use depth <= {i}."
                )
        self.convs = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(channels * length, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(1)  # [batch, 1, length]: one input channel
        for conv in self.convs:
            h = self.dropout(conv(h).relu())
        return self.linear(h.flatten(1))


def build_model(
    name: str,
    *,
    width: int | None = None,
    depth: int | None = None,
    dropout: float = 0.0,
) -> nn.Module:
    """The named model; ``width`` is the CNN's channels or the MLP's hidden units.

    ``None`` keeps the paper's value. Example: ``build_model("cnn", width=50, dropout=0.1)``.
    """
    if name == "cnn":
        return CNN(
            channels=25 if width is None else width,
            depth=3 if depth is None else depth,
            dropout=dropout,
        )
    if name == "mlp":
        return MLP(
            hidden=100 if width is None else width,
            depth=2 if depth is None else depth,
            dropout=dropout,
        )
    raise ValueError(f"model must be 'cnn' or 'mlp', got {name!r}.")


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_positive(**sizes: int) -> None:
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"{name} must be a positive integer, got {size!r}.")


def _check_dropout(dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
