"""The final evaluation: a configuration's test accuracy, over every run of it.

    python -m examples.mnist1d.evaluate [REF] [--storage URL] [--json]

REF is what ``scitune compare`` takes: ``baseline`` (the default: the adopted configuration),
``STUDY`` (its best configuration) or ``STUDY#N``. Each run of the configuration (the trial and
its reruns) kept its best checkpoint by dev error; each is evaluated once on the 1,000 test
examples and the mean and spread are printed. This is the only place the test set is read, and
it is read after every decision was made on dev error: it reports, it never chooses.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from examples.mnist1d.train import evaluate_test
from scitune.errors import ScituneError
from scitune.project import resolve_ref
from scitune.storage import FrozenTrial
from scitune.study import Study


def best_checkpoint(study: Study, trial: FrozenTrial) -> Path:
    """The checkpoint a run saved at its best dev error (its scored step)."""
    saved = study.storage.get_checkpoints(study.record.id, trial_ids=[trial.id])
    if not saved:
        raise ScituneError(f"{study.name}#{trial.number} saved no checkpoint.")
    at_best = [c for c in saved if c.step == trial.value_step]
    path = Path((at_best or saved)[-1].path)
    if not path.exists():
        raise ScituneError(f"{study.name}#{trial.number}: checkpoint {path} is gone.")
    return path


def evaluate(ref: str, storage_url: str | None = None) -> dict[str, Any]:
    config = resolve_ref(ref, storage_url=storage_url)
    runs = []
    for run in config.runs:
        result = evaluate_test(run.params, best_checkpoint(config.study, run))
        runs.append(
            {
                "trial": run.number,
                "seed": run.seed,
                "dev_error": run.value,
                "test_accuracy": result["test_accuracy"],
            }
        )
    accuracies = [r["test_accuracy"] for r in runs]
    return {
        "configuration": config.label,
        "params": dict(config.params),
        "max_train_steps": config.study.spec.budget.max_train_steps,
        "runs": runs,
        "test_accuracy_mean": statistics.fmean(accuracies),
        "test_accuracy_sd": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.mnist1d.evaluate")
    parser.add_argument("ref", nargs="?", default="baseline", help="default: baseline")
    parser.add_argument(
        "--storage",
        default=os.environ.get("SCITUNE_STORAGE"),
        help="storage URL (default: $SCITUNE_STORAGE, else .scitune/scitune.db)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        out = evaluate(args.ref, args.storage)
    except ScituneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['configuration']} ({out['max_train_steps']} steps): {json.dumps(out['params'])}")
    for r in out["runs"]:
        print(
            f"  trial {r['trial']:>3}  seed {r['seed']:>10}  dev error {r['dev_error']:.4f}  "
            f"test accuracy {r['test_accuracy']:.3f}"
        )
    sd = out["test_accuracy_sd"]
    spread = f" ± {sd:.3f} (sd over {len(out['runs'])} runs)" if sd is not None else ""
    print(f"test accuracy {out['test_accuracy_mean']:.3f}{spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
