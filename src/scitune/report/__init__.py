"""The study report: one self-contained HTML file with the summary, findings, plots and trials.

Needs the ``plots`` extra (``pip install 'scitune[plots]'``). The file works offline: plotly.js
is embedded once and the page makes no network request.

Example:
    >>> from scitune.report import write_report
    >>> write_report(analysis, snapshot, "report.html")  # doctest: +SKIP

With the project's records (read by the caller), a Project section shows the rounds, the
baseline's lineage and the rejected ideas:

    >>> project = ProjectRecords(
    ...     tuple(store.list_rounds()), tuple(store.list_decisions())
    ... )  # doctest: +SKIP
    >>> write_report(analysis, snapshot, "report.html", project=project)  # doctest: +SKIP
"""

from __future__ import annotations

from scitune.report._project import ProjectRecords
from scitune.report._write import render_report, write_report

__all__ = ["ProjectRecords", "render_report", "write_report"]
