"""The study report: one self-contained HTML file with the summary, findings, plots and trials.

Needs the ``plots`` extra (``pip install 'scitune[plots]'``). The file works offline: plotly.js
is embedded once and the page makes no network request.

Example:
    >>> from scitune.report import write_report
    >>> write_report(analysis, snapshot, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

from scitune.report._write import render_report, write_report

__all__ = ["render_report", "write_report"]
