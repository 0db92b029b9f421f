"""Which figures the report shows, in which sections: drawn from the analysis, never recomputed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

from scitune.analysis._results import Analysis
from scitune.analysis._snapshot import StudySnapshot
from scitune.plots import (
    all_curves_figure,
    axis_figure,
    best_of_k_figure,
    best_step_figure,
    curves_figure,
    curves_overlay_figure,
    grad_norm_figures,
    isolation_figure,
    trial_params,
)
from scitune.report._bests import bests_html
from scitune.report._parts import Plot, PlotSection, draw, failed
from scitune.report._project import ProjectRecords, project_section
from scitune.report._variance import variance_section

__all__ = ["Plot", "PlotSection", "report_figures"]

MAX_BEST_CURVES = 8  # one colour each in the palette


def report_figures(
    analysis: Analysis,
    snapshot: StudySnapshot,
    settings: Mapping[str, Any],
    *,
    project: ProjectRecords | None = None,
    now: datetime | None = None,
) -> list[PlotSection]:
    """The report's plot sections, in reading order; empty sections are left out.

    With ``project``, a last section shows its rounds and decisions (``now``: where an open
    round ends on the timeline; default: the current time).
    """
    metric, goal = analysis.metric, analysis.direction
    params = trial_params(snapshot)
    train_metric = snapshot.metric_for("train_loss", settings.get("train_metric"))

    space = PlotSection(
        "search-space",
        "Search space",
        "Score against every hyperparameter that varied. Shaded bands are the outer edges of "
        "each range (in the sampler's scale): the best trials crowding one means the range "
        "should grow that way. Red × are infeasible trials.",
    )
    for axis in analysis.axes:
        space.plots.append(
            draw(
                f"axis {axis.key}",
                partial(axis_figure, axis, metric=metric, goal=goal, params=params),
            )
        )

    isolation = PlotSection(
        "isolation",
        "Isolation",
        "The best trial for each value of a scientific hyperparameter once the nuisance ones "
        "are tuned away. Trust the comparison only when the verdict is fair.",
    )
    for result in analysis.isolation:
        isolation.plots.append(
            draw(
                f"isolation {result.name}",
                partial(
                    isolation_figure,
                    result,
                    metric=metric,
                    goal=goal,
                    variance=analysis.config_variance,
                ),
            )
        )

    density = PlotSection(
        "density",
        "Enough trials?",
        "How the best score improves with the number of trials (the playbook's figure 3).",
    )
    if analysis.best_of_k is not None and analysis.best_of_k.k:
        bok = analysis.best_of_k
        verdicts = ("density.more_trials", "density.flattened")
        verdict = next((f for f in analysis.findings if f.code in verdicts), None)
        density.plots.append(
            draw(
                "best of k",
                lambda: best_of_k_figure(bok, metric=metric, goal=goal, verdict=verdict),
            )
        )

    curves = PlotSection(
        "curves",
        "Training curves",
        "The best trials (and the best of each scientific value) in full, then every trial. "
        "Look for dev curves turning up (overfitting), noise late in training, curves still "
        "improving at the end, or training loss rising.",
    )
    chosen = [c.trial for c in analysis.curve_checks][:MAX_BEST_CURVES]
    labels = {c.trial: c.why for c in analysis.curve_checks}
    if not chosen:
        chosen = [t.number for t in snapshot.ranked()[:3]]
        labels = {n: f"best {i + 1}" for i, n in enumerate(chosen)}
    spikes = analysis.spikes
    bests = {c.trial: c for c in spikes.checked} if spikes is not None else {}
    smoothing = spikes.smoothing if spikes is not None else None
    if chosen:
        curves.plots.append(
            draw(
                "best curves",
                lambda: curves_figure(
                    snapshot,
                    chosen,
                    metric=metric,
                    train_metric=train_metric,
                    labels=labels,
                    bests=bests,
                    smoothing=smoothing,
                ),
                wide=True,
            )
        )
    if spikes is not None and spikes.checked:
        table = bests_html(spikes, labels, metric=metric)
        curves.plots.append(Plot(None, wide=True, html=table, name="raw and smoothed best"))
    if any(metric in per for per in snapshot.curves.values()):
        # Reruns would rank a configuration several times: the curve overviews show the design.
        design = snapshot.design()
        curves.plots.append(
            draw("overlay", lambda: curves_overlay_figure(design, metric=metric), wide=True)
        )
        flagged = spikes.spiky if spikes is not None else ()
        curves.plots.append(
            draw(
                "small multiples",
                lambda: all_curves_figure(design, metric=metric, flagged=flagged),
                wide=True,
            )
        )

    length = PlotSection(
        "train-length",
        "How long to train",
        "Where each trial reached its best score. Nearly always early: max_train_steps is too "
        "high. Consistently late: train longer and re-tune the decay schedule.",
    )
    if analysis.best_steps is not None and analysis.best_steps.fractions:
        steps = analysis.best_steps
        early = float(settings.get("best_step_early", 0.1))
        late = float(settings.get("best_step_late", 0.25))
        length.plots.append(
            draw("best step", lambda: best_step_figure(steps, early=early, late=late))
        )

    stability = PlotSection(
        "stability",
        "Stability",
        "Unclipped gradient norms of the checked trials, and the clipping threshold at the "
        "90th percentile.",
    )
    if analysis.grad_norm is not None and analysis.grad_norm.clipped_fraction:
        summary = analysis.grad_norm
        try:
            over, hist = grad_norm_figures(snapshot, summary)
            stability.plots += [Plot(over, name="grad norm"), Plot(hist, name="grad histogram")]
        except Exception as exc:  # one broken plot must not cost the whole report
            stability.plots.append(failed("gradient norms", exc))

    variance = variance_section(analysis, params)
    sections = [space, isolation, variance, density, curves, length, stability]
    if project is not None:
        sections.append(
            project_section(project, study=analysis.study, now=now or datetime.now().astimezone())
        )
    return [s for s in sections if s is not None and s.plots]
