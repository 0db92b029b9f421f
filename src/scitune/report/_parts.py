"""The pieces a report section is made of: figures, blocks of HTML, and plots that failed."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import plotly.graph_objects as go

from scitune.errors import ScituneWarning

__all__ = ["Plot", "PlotSection", "draw", "failed"]


@dataclass
class Plot:
    """One card of a section: a figure, a block of HTML, or why the figure could not be drawn.

    ``html`` is trusted markup, built with every user string escaped (:func:`~._embed.h`).
    """

    figure: go.Figure | None
    wide: bool = False
    error: str | None = None
    name: str = ""
    html: str | None = None


@dataclass
class PlotSection:
    anchor: str
    title: str
    intro: str
    plots: list[Plot] = field(default_factory=list)


def draw(name: str, build: Callable[[], go.Figure], *, wide: bool = False) -> Plot:
    """The figure ``build`` returns, or the reason it failed (and a warning)."""
    try:
        return Plot(build(), wide=wide, name=name)
    except Exception as exc:  # one broken plot must not cost the whole report
        return failed(name, exc)


def failed(name: str, exc: Exception) -> Plot:
    message = f"could not draw {name}: {type(exc).__name__}: {exc}"
    warnings.warn(f"scitune report: {message}", ScituneWarning, stacklevel=3)
    return Plot(None, error=message, name=name)
