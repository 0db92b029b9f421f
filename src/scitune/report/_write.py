"""One self-contained, offline HTML file: summary, findings, the playbook's plots, the trials."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from scitune.analysis._results import Analysis
from scitune.analysis._snapshot import StudySnapshot
from scitune.plots._axis import HOVER_META
from scitune.report._embed import csp_hash, h, json_block, json_element
from scitune.report._figures import Plot, PlotSection, report_figures
from scitune.report._page import CSS, SCRIPT
from scitune.report._project import ProjectRecords
from scitune.report._sections import findings_html, settings_html, summary_html
from scitune.report._table import table_data

__all__ = ["render_report", "write_report"]


def write_report(
    analysis: Analysis,
    snapshot: StudySnapshot,
    path: str | os.PathLike[str],
    *,
    config_settings: Mapping[str, Any] | None = None,
    project: ProjectRecords | None = None,
) -> Path:
    """Write the study's report to ``path``: one HTML file that works offline.

    plotly.js is embedded once; figures are JSON drawn by ``Plotly.newPlot``; the page makes no
    network request (its Content-Security-Policy forbids any) and runs only its own scripts.

    Args:
        analysis: what ``scitune analyze`` found (rendered, never recomputed).
        snapshot: the study it was computed from (curves, trial parameters).
        path: the file to write; parent folders are created.
        config_settings: the analysis settings to list (default: ``analysis.settings``).
        project: the project's rounds and decisions (read from the store by the caller): a
            Project section shows the rounds, the baseline's lineage and the rejected ideas.
            ``None`` leaves the section out.

    Returns:
        The path written.

    Example:
        >>> write_report(analysis, snapshot, "report.html")  # doctest: +SKIP
        PosixPath('report.html')
        >>> project = ProjectRecords(
        ...     tuple(store.list_rounds()), tuple(store.list_decisions())
        ... )  # doctest: +SKIP
        >>> write_report(analysis, snapshot, "report.html", project=project)  # doctest: +SKIP
        PosixPath('report.html')
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(analysis, snapshot, config_settings=config_settings, project=project)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


def render_report(
    analysis: Analysis,
    snapshot: StudySnapshot,
    *,
    config_settings: Mapping[str, Any] | None = None,
    project: ProjectRecords | None = None,
) -> str:
    """The report as one HTML string (what :func:`write_report` writes)."""
    from plotly.offline import get_plotlyjs

    settings = dict(config_settings if config_settings is not None else analysis.settings)
    now = datetime.now().astimezone()
    sections = report_figures(analysis, snapshot, settings, project=project, now=now)
    hover: dict[str, str] = {}
    blocks: list[str] = []
    counter = 0
    for section in sections:
        cards: list[str] = []
        for plot in section.plots:
            counter += 1
            cards.append(_plot_card(plot, f"fig-{counter}", hover))
        blocks.append(_section(section, cards))

    plotly_js = get_plotlyjs()
    if "</script" in plotly_js.lower():  # pragma: no cover - would break the page
        raise RuntimeError("the bundled plotly.js contains '</script': cannot inline it")
    prelude = "window.PlotlyConfig = {MathJaxConfig: 'local'};"
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {csp_hash(prelude)} {csp_hash(plotly_js)} {csp_hash(SCRIPT)}",
            "style-src 'unsafe-inline'",
            "img-src data: blob:",
            "font-src data:",
            "connect-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    table = table_data(snapshot, analysis.metric)
    nav = [("summary", "Summary"), ("findings", "Findings")]
    nav += [(s.anchor, s.title) for s in sections]
    nav += [("trials", "Trials")]
    generated = now.strftime("%Y-%m-%d %H:%M %Z")
    study = h(analysis.study)
    omitted = (
        f" stderr of {table['stderr_omitted']} trials left out (size)."
        if table["stderr_omitted"]
        else ""
    )
    return "".join(
        [
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
            f'<meta http-equiv="Content-Security-Policy" content="{h(policy)}">',
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>scitune · {study}</title><style>{CSS}</style></head><body>",
            "<header class='top'><div class='in'><span class='brand'>scitune</span>",
            f"<span class='study'>{study}</span><nav>",
            "".join(f"<a href='#{a}'>{h(t)}</a>" for a, t in nav),
            "</nav></div></header><main>",
            summary_html(analysis, snapshot, analysis.config_variance),
            findings_html(analysis.findings),
            *blocks,
            "<section id='trials'><h2>Trials</h2>",
            "<p class='intro'>Every trial; sorted by rank (ranked trials first). Click a column "
            f"header to sort.{omitted}</p>",
            "<div class='tablebar' id='trials-bar'></div>",
            "<div class='tablewrap'><table class='trials' id='trials-table'></table></div>",
            "</section>",
            settings_html(settings),
            "</main>",
            f"<footer>scitune report of study {study} · generated {h(generated)} · works "
            "offline: everything it needs is in this file.</footer>",
            json_block("trial-hover", hover),
            json_block("trial-table", table),
            f"<script>{prelude}</script>",
            f"<script>{plotly_js}</script>",
            f"<script>{SCRIPT}</script>",
            "</body></html>\n",
        ]
    )


def _section(section: PlotSection, cards: list[str]) -> str:
    return (
        f"<section id='{h(section.anchor)}'><h2>{h(section.title)}</h2>"
        f"<p class='intro'>{h(section.intro)}</p><div class='plots'>{''.join(cards)}</div>"
        "</section>"
    )


def _plot_card(plot: Plot, element_id: str, hover: dict[str, str]) -> str:
    wide = " wide" if plot.wide else ""
    if plot.html is not None:
        return f"<div class='html-card{wide}'>{plot.html}</div>"
    if plot.figure is None:
        return f"<div class='plot-card{wide}'><p class='plot-error'>{h(plot.error)}</p></div>"
    fig = plot.figure
    _share_hover(fig, hover)
    height = fig.layout.height or 420
    return (
        f"<div class='plot-card{wide}'>"
        f"<div class='plot' data-fig='{element_id}' style='height:{int(height)}px'></div>"
        f"{json_element(element_id, fig.to_json())}</div>"
    )


def _share_hover(fig: go.Figure, hover: dict[str, str]) -> None:
    """Store each trial's hover label once for the page (axis plots repeat them per axis)."""
    for trace in fig.data:
        if getattr(trace, "meta", None) != HOVER_META or trace.text is None:
            continue
        numbers = list(trace.customdata or ())
        texts = list(trace.text)
        if len(numbers) != len(texts):
            continue
        pending = {str(n): t for n, t in zip(numbers, texts, strict=True)}
        if any(hover.get(k, t) != t for k, t in pending.items()):
            continue  # a label that differs between figures stays with its figure
        hover.update(pending)
        trace.text = None
