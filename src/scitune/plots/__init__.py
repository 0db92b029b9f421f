"""Plotly figures of the analysis results: the playbook's plots, drawn, never recomputed.

Every builder takes the typed results of :mod:`scitune.analysis` (or the snapshot they were
computed from, for curves) and returns a ``plotly.graph_objects.Figure``. User strings are
escaped: plotly renders text as a subset of HTML.

Needs the ``plots`` extra: ``pip install 'scitune[plots]'``. ``import scitune`` never loads it.

Example:
    >>> from scitune.plots import axis_figure, trial_params
    >>> fig = axis_figure(analysis.axes[0], metric="dev_error", goal="minimize",
    ...                   params=trial_params(snapshot))  # doctest: +SKIP
    >>> fig.show()  # doctest: +SKIP
"""

from __future__ import annotations

try:
    import plotly  # noqa: F401
    import tsdownsample  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"scitune.plots needs the 'plots' extra ({exc.name} is missing): "
        "pip install 'scitune[plots]'"
    ) from exc

from scitune.plots._axis import axis_figure
from scitune.plots._curves import all_curves_figure, curves_figure, curves_overlay_figure
from scitune.plots._downsample import downsample, downsample_indices
from scitune.plots._isolation import isolation_figure
from scitune.plots._project import ComparisonRow, comparisons_figure, rounds_figure
from scitune.plots._summary import best_of_k_figure, best_step_figure, grad_norm_figures
from scitune.plots._trials import trial_params
from scitune.plots._variance import (
    scientific_share_figure,
    trial_variance_figure,
    winner_share_figure,
)

__all__ = [
    "ComparisonRow",
    "all_curves_figure",
    "axis_figure",
    "best_of_k_figure",
    "best_step_figure",
    "comparisons_figure",
    "curves_figure",
    "curves_overlay_figure",
    "downsample",
    "downsample_indices",
    "grad_norm_figures",
    "isolation_figure",
    "rounds_figure",
    "scientific_share_figure",
    "trial_params",
    "trial_variance_figure",
    "winner_share_figure",
]
