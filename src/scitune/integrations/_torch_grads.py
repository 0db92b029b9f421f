"""The global gradient norm the playbook asks to log, and clipping that reports it (§9)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from scitune.errors import IntegrationError

__all__ = ["Parameters", "clip_grad_norm", "grad_norm"]

Parameters = Iterable[torch.Tensor] | torch.Tensor | nn.Module
"""A module, one tensor, or an iterable of tensors (usually ``model.parameters()``)."""


def _tensors(parameters: Parameters) -> list[torch.Tensor]:
    if isinstance(parameters, nn.Module):
        return list(parameters.parameters())
    if isinstance(parameters, torch.Tensor):
        return [parameters]
    return list(parameters)


def _total_norm(grads: list[torch.Tensor], norm_type: float) -> torch.Tensor:
    get_total_norm = getattr(nn.utils, "get_total_norm", None)
    if get_total_norm is not None:  # torch >= 2.6: the computation clip_grad_norm_ uses
        total: torch.Tensor = get_total_norm(grads, norm_type)
        return total
    device = grads[0].device
    norms = [torch.linalg.vector_norm(g.detach(), norm_type).to(device) for g in grads]
    combined: torch.Tensor = torch.linalg.vector_norm(torch.stack(norms), norm_type)
    return combined


def grad_norm(parameters: Parameters, norm_type: float = 2.0) -> float:
    """The global norm of the gradients as they are now (log it before any clipping).

    One fused computation: per-tensor norms (``torch._foreach_norm``, grouped by device and
    dtype) combined by ``torch.linalg.vector_norm``, the same arithmetic as
    ``torch.nn.utils.clip_grad_norm_``. Parameters without a gradient are skipped; with none at
    all the norm is 0.0. A NaN or infinite gradient gives a NaN or infinite norm (a divergence
    signal, never hidden). On an accelerator this waits for the gradients (it returns a float).

    Example:
        >>> model = nn.Linear(3, 1)
        >>> model(torch.ones(2, 3)).sum().backward()
        >>> round(grad_norm(model), 4)  # weight grad [2, 2, 2], bias grad [2]
        4.0
    """
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    if not grads:
        return 0.0
    return float(_total_norm(grads, float(norm_type)))


def clip_grad_norm(
    parameters: Parameters, max_norm: float, *, norm_type: float = 2.0
) -> tuple[float, bool]:
    """Clip the gradients to global norm ``max_norm``; return the unclipped norm and whether.

    The playbook clips ``g' = max_norm * g / |g|`` when ``|g| > max_norm``, logs the *unclipped*
    norm (its 90th percentile is the recommended threshold) and warns when more than half of the
    updates are clipped (§9, item 35). This wraps ``torch.nn.utils.clip_grad_norm_``, which
    returns the norm before clipping. A NaN or infinite norm is returned as is with
    ``clipped=False``; torch then leaves the gradients non-finite: treat the step as diverged.

    Raises:
        IntegrationError: ``max_norm`` is not a number > 0.

    Example:
        >>> model = nn.Linear(3, 1)
        >>> model(torch.ones(2, 3)).sum().backward()
        >>> norm, clipped = clip_grad_norm(model, 1.0)
        >>> round(norm, 4), clipped, round(grad_norm(model), 4)
        (4.0, True, 1.0)
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, int | float) or not max_norm > 0:
        raise IntegrationError(
            f"clip_grad_norm: 'max_norm' must be a number > 0, got {max_norm!r}. The playbook "
            "suggests the 90th percentile of the logged unclipped gradient norms."
        )
    tensors = _tensors(parameters)
    total = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=float(norm_type))
    norm = float(total)
    return norm, math.isfinite(norm) and norm > max_norm
