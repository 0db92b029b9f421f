"""One look for every figure, and the text helpers that keep user strings inert.

Plotly renders titles, tick labels, legend names and hover labels as a subset of HTML, so every
user-supplied string (study, metric, parameter values, labels) goes through :func:`esc` before it
reaches a figure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import plotly.graph_objects as go

from scitune.space import Value

FONT = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif'
)
INK = "#1f2933"
MUTED = "#616e7c"
GRID = "#e4e7eb"

BLUE = "#2f6db5"
GOLD = "#f0a400"
RED = "#d1332e"
GREY = "#a3acb9"
ORANGE = "#e8731a"
GREEN = "#2e9e6a"
RERUN = "#7b3f98"  # runs of one configuration (scitune reseed): apart from blues, gold and red

# Okabe-Ito, reordered for contrast on white (no yellow): distinguishable with colour blindness.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#999933")

# Plotly's own web font would be fetched from nowhere (the report is offline): a system stack.
DEFAULT_HEIGHT = 420


@lru_cache(maxsize=1)
def template() -> go.layout.Template:
    """The scitune figure template (small on purpose: it is embedded in every figure)."""
    axis = {
        "showgrid": True,
        "gridcolor": GRID,
        "zeroline": False,
        "showline": True,
        "linecolor": "#9aa5b1",
        "ticks": "outside",
        "tickcolor": "#9aa5b1",
        "ticklen": 4,
        "title": {"font": {"size": 13, "color": MUTED}, "standoff": 8},
        "tickfont": {"size": 11, "color": MUTED},
        "automargin": True,
    }
    return go.layout.Template(
        layout={
            "font": {"family": FONT, "size": 12, "color": INK},
            "paper_bgcolor": "#ffffff",
            "plot_bgcolor": "#ffffff",
            "colorway": list(PALETTE),
            "xaxis": axis,
            "yaxis": axis,
            "title": {
                "x": 0.0,
                "xref": "paper",
                "xanchor": "left",
                "font": {"size": 15, "color": INK},
                "subtitle": {"font": {"size": 12, "color": MUTED}},
            },
            "legend": {
                "orientation": "h",
                "yanchor": "top",
                "y": -0.16,
                "x": 0.0,
                "font": {"size": 11},
                "bgcolor": "rgba(0,0,0,0)",
            },
            "hoverlabel": {"font": {"family": FONT, "size": 12}, "align": "left"},
            "margin": {"l": 64, "r": 24, "t": 78, "b": 64},
            "height": DEFAULT_HEIGHT,
        }
    )


def layout(title: str, subtitle: str | None = None, **extra: Any) -> dict[str, Any]:
    """Layout arguments with the template, a title and an optional 'how to read' subtitle.

    ``title`` and ``subtitle`` are plotly text: escape user strings before passing them.
    """
    head: dict[str, Any] = {"text": f"<b>{title}</b>"}
    if subtitle:
        head["subtitle"] = {"text": subtitle}
    return {"template": template(), "title": head, **extra}


def log_axis(low: float, high: float) -> dict[str, Any]:
    """A log axis labelled at powers of ten (``10⁻⁴``) when it spans two decades or more.

    Plotly's default labels minor ticks too ("2 5 2 5") and writes 1e-4 as "100µ".
    """
    out: dict[str, Any] = {"type": "log", "exponentformat": "power"}
    if low > 0 and high > 0 and math.log10(high / low) >= 2:
        out["dtick"] = 1
    return out


def esc(text: object) -> str:
    """User text made inert for plotly (which renders a subset of HTML) and for HTML pages."""
    return html.escape(str(text), quote=False)


def tesc(text: object) -> str:
    """:func:`esc` for text inside a ``hovertemplate``: ``%{`` would be read as a variable."""
    return esc(text).replace("%{", "%&#123;")


def fmt(x: float | None, digits: int = 4) -> str:
    """A number as a short readable string (4 significant digits); ``None`` as an en dash."""
    if x is None:
        return "–"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def fmt_value(value: Value) -> str:
    """A hyperparameter value for display (not escaped)."""
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, float):
        return fmt(value)
    return str(value)


def short(text: str, limit: int = 20) -> str:
    """A label cut to ``limit`` characters (tick labels; hover keeps the full text)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def params_text(params: Mapping[str, Value], *, sep: str = "<br>") -> str:
    """``name = value`` lines, escaped, for a hover label."""
    return sep.join(f"{esc(k)} = {esc(fmt_value(v))}" for k, v in params.items())


def trial_text(
    number: int,
    state: str,
    score: float | None,
    metric: str,
    params: Mapping[str, Value] | None,
) -> str:
    """The hover label of one trial: number, state, score, parameters (escaped)."""
    head = f"<b>trial {number}</b>"
    if state != "COMPLETE":
        head += f" · {esc(state)}"
    lines = [head]
    if score is not None:
        lines.append(f"{esc(metric)} = {fmt(score)}")
    if params:
        lines.append(params_text(params))
    return "<br>".join(lines)


def better_word(goal: str) -> str:
    return "lower is better" if goal == "minimize" else "higher is better"


def rule(
    axis: str,
    at: float,
    *,
    color: str,
    text: str,
    log: bool = False,
    dash: str = "dash",
    left: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A labelled horizontal (``axis="y"``) or vertical (``"x"``) rule: a shape and its label.

    Shapes take data values on a log axis, annotations take log10 values: both handled here.
    """
    position = math.log10(at) if log and at > 0 else at
    if axis == "y":
        shape = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": at, "y1": at}
        note = {
            "xref": "paper",
            "x": 0.0 if left else 1.0,
            "xanchor": "left" if left else "right",
            "yref": "y",
            "y": position,
            "yanchor": "bottom",
        }
    else:
        shape = {"type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": at, "x1": at}
        note = {
            "yref": "paper",
            "y": 1.0,
            "yanchor": "top",
            "xref": "x",
            "x": position,
            "xanchor": "right" if left else "left",
            "xshift": -4 if left else 4,
        }
    shape["line"] = {"color": color, "width": 1.5, "dash": dash}
    note.update(text=text, showarrow=False, font={"size": 11, "color": color})
    note["bgcolor"] = "rgba(255,255,255,0.8)"
    return shape, note
