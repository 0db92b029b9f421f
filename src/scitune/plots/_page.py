"""One offline HTML page for the measuring commands (probe, stability): facts, a table,
findings and figures, plotly.js inlined once. The study report has its own, richer page."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import plotly.io as pio

from scitune.analysis import Finding

__all__ = ["standalone_page"]


def standalone_page(
    title: str,
    figures: Sequence[go.Figure],
    *,
    facts: Mapping[str, str] | None = None,
    table: tuple[Sequence[str], Sequence[Sequence[str]]] | None = None,
    findings: Sequence[Finding] = (),
) -> str:
    """One offline HTML page: title, facts, a table, findings, then the figures.

    plotly.js is inlined once (the page makes no network request); all text is escaped.
    """
    h = html.escape
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
        f"<title>scitune · {h(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{h(title)}</h1>",
    ]
    if facts:
        rows = "".join(f"<tr><th>{h(k)}</th><td>{h(v)}</td></tr>" for k, v in facts.items())
        parts.append(f"<table class='facts'>{rows}</table>")
    if table is not None:
        columns, body = table
        head = "".join(f"<th>{h(c)}</th>" for c in columns)
        cells = "".join(
            "<tr>" + "".join(f"<td>{h(str(v))}</td>" for v in row) + "</tr>" for row in body
        )
        parts.append(
            f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"
        )
    for f in findings:
        parts.append(
            f"<div class='finding {h(f.severity)}'><b>{h(f.code)}</b> "
            f"<span class='section'>{h(f.section)}</span><p>{h(f.message)}</p>"
            f"<p class='action'>→ {h(f.action)}</p></div>"
        )
    for i, fig in enumerate(figures):
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=i == 0,
            config={"displaylogo": False, "responsive": True},
        )
        parts.append(f"<div class='plot'>{div}</div>")
    parts.append("<footer>scitune · works offline: everything it needs is in this file.</footer>")
    parts.append("</body></html>\n")
    return "".join(parts)


_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1f2933;"
    "max-width:1100px;margin:24px auto;padding:0 16px}h1{font-size:22px}"
    ".facts{border-collapse:collapse;margin:12px 0}.facts th{text-align:left;padding:3px 12px 3px"
    " 0;color:#616e7c;font-weight:500}.facts td{padding:3px 0}"
    ".data{border-collapse:collapse;margin:12px 0;font-size:13px}.data th,.data td{padding:4px "
    "12px 4px 0;text-align:right;border-bottom:1px solid #e4e7eb}.data th{color:#616e7c}"
    ".finding{border-left:4px solid #2f6db5;padding:6px 12px;margin:10px 0;background:#f5f7fa}"
    ".finding.warning{border-color:#f0a400}.finding.critical{border-color:#d1332e}"
    ".finding p{margin:4px 0}.section{color:#616e7c;font-size:12px;margin-left:8px}"
    ".action{color:#3e4c59}.plot{margin:18px 0}footer{color:#616e7c;font-size:12px;margin:24px 0}"
)
