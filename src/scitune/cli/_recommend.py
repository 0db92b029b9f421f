"""``scitune recommend ...``: the playbook's rules of thumb, answered for your budget."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from scitune._spec_advice import ADAM_BETA2_TRIALS, adam_default, adam_tunable
from scitune.cli._common import JSON_HELP, console, handle_errors, print_json

recommend_app = typer.Typer(help="Rules of thumb from the playbook, for your budget.")

# Starting ranges for the tuned ones: ours (the playbook names the knobs, not the ranges).
ADAM_RANGES = {
    "learning_rate": '{ low = 1e-5, high = 1e-1, scale = "log" }',
    "beta1": '{ low = 0.5, high = 0.99, scale = "reverse_log" }',
    "epsilon": '{ low = 1e-10, high = 1e-3, scale = "log" }',
    "beta2": '{ low = 0.9, high = 0.9999, scale = "reverse_log" }',
}
ORDER = ("learning_rate", "beta1", "epsilon", "beta2")


@recommend_app.command("adam")
@handle_errors
def adam(
    trials: Annotated[
        int, typer.Option(min=1, help="Trials per scientific value the study can afford.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Which Adam hyperparameters to tune for a budget of N trials (§2, PLAYBOOK item 10).

    Fewer than 10 trials: only the learning rate; 10-25: also beta1; 25 or more: also epsilon;
    well past 25 (50 or more, our reading): also beta2. The rest stay fixed at Adam's usual values.
    """
    tune = adam_tunable(trials)
    fix = {name: adam_default(name) for name in ORDER if name not in tune}
    if as_json:
        print_json(
            {
                "trials": trials,
                "tune": {name: ADAM_RANGES[name] for name in tune},
                "fix": fix,
                "rule": "< 10: lr; 10-25: + beta1; 25+: + epsilon; "
                f">= {ADAM_BETA2_TRIALS} (ours): + beta2",
                "section": "§2 Choosing the initial configuration",
            }
        )
        return
    console.print(
        f"With {trials} trials per scientific value, tune {', '.join(tune)}; fix the rest "
        "(playbook: < 10 trials: learning rate; 10-25: + beta1; 25+: + epsilon; well past 25, "
        f"{ADAM_BETA2_TRIALS}+ in our reading: + beta2)."
    )
    lines = ["[nuisance]"] + [f"{name} = {ADAM_RANGES[name]}" for name in tune]
    if fix:
        lines += ["", "[fixed]"] + [f"{name} = {value}" for name, value in fix.items()]
    console.print(escape("\n".join(lines)), highlight=False)
    console.print("[dim]Ranges are scitune's starting points; widen them if analyze finds a "
                  "boundary.[/]")
