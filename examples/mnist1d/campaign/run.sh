#!/bin/sh
# A full MNIST-1D campaign with the playbook, from the repository root:
#     sh examples/mnist1d/campaign/run.sh
# Round 1 explores (quasi-random), refines the ranges around the best trials and exploits them
# (Bayesian optimization on everything already run), measures trial variance and adopts a
# baseline; round 2 trains round 1's best configurations 3x longer with their schedules
# extended, and adopts only on evidence; the adopted configuration is then evaluated once on
# the test set. Everything lives in .scitune/campaign.db; run it again and it resumes.
set -eu
SCITUNE=${SCITUNE:-scitune}
PYTHON=${PYTHON:-python}
HERE=examples/mnist1d/campaign
OUT=${CAMPAIGN_DIR:-.scitune/campaign}
export SCITUNE_STORAGE=${SCITUNE_STORAGE:-sqlite:///.scitune/campaign.db}
mkdir -p "$OUT"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
open_round() { $SCITUNE round list --json | grep -q '"open"'; }
rounds() { $SCITUNE round list --json | grep -c '"number"' || true; }

# -- round 1: explore, refine, exploit ---------------------------------------------------------
if [ "$(rounds)" -eq 0 ]; then
  say scitune round start --goal "Does a wider CNN help?"
  $SCITUNE round start --goal "Does widening the CNN to 64 channels help, with LR, weight decay and dropout tuned?"
fi
say scitune run $HERE/explore.toml --workers 2
$SCITUNE run $HERE/explore.toml --workers 2
say scitune analyze cnn-width
$SCITUNE analyze cnn-width
if [ ! -f "$OUT/refined.toml" ]; then
  say scitune refine cnn-width --trials 12 -o "$OUT/refined.toml"
  $SCITUNE refine cnn-width --trials 12 -o "$OUT/refined.toml"
fi
say scitune run "$OUT/refined.toml" --workers 2      "# GP on the explored trials too"
$SCITUNE run "$OUT/refined.toml" --workers 2
say scitune reseed cnn-width-refined --top 3 --seeds 2 --workers 2
$SCITUNE reseed cnn-width-refined --top 3 --seeds 2 --workers 2
say scitune analyze cnn-width-refined
$SCITUNE analyze cnn-width-refined
if open_round && [ "$(rounds)" -eq 1 ]; then
  say scitune adopt cnn-width-refined
  $SCITUNE adopt cnn-width-refined --notes "Round 1: best configuration (mean over its 3 runs)"
  say scitune round close
  $SCITUNE round close --decision "Adopted the best refined configuration" \
    --notes "3,000 steps, cosine; width answered by the isolation findings of cnn-width"
fi

# -- round 2: the same configurations, trained 3x longer (§8, compute-bound) ------------------
if [ "$(rounds)" -eq 1 ]; then
  say scitune round start --goal "Does training 3x longer pay?"
  $SCITUNE round start --goal "Do round 1's best configurations gain from 9,000 steps?"
fi
if [ ! -f "$OUT/round2.toml" ]; then
  say scitune extend cnn-width-refined --steps 9000 --top 3 --runs 3 -o "$OUT/round2.toml"
  $SCITUNE extend cnn-width-refined --steps 9000 --top 3 --runs 3 -o "$OUT/round2.toml"
fi
say scitune run "$OUT/round2.toml" --workers 2
$SCITUNE run "$OUT/round2.toml" --workers 2
say scitune analyze cnn-width-refined-round2
$SCITUNE analyze cnn-width-refined-round2
say scitune compare baseline cnn-width-refined-round2
$SCITUNE compare baseline cnn-width-refined-round2
if open_round; then
  verdict=$($SCITUNE compare baseline cnn-width-refined-round2 --json \
    | $PYTHON -c 'import json, sys; print(json.load(sys.stdin)["verdict"])')
  if [ "$verdict" = adopt ]; then
    say scitune adopt cnn-width-refined-round2
    $SCITUNE adopt cnn-width-refined-round2 --notes "Round 2: 9,000 steps beat 3,000 on evidence"
    $SCITUNE round close --decision "Adopted the 9,000-step configuration"
  else
    say scitune reject cnn-width-refined-round2
    $SCITUNE reject cnn-width-refined-round2 --reason "9,000 steps did not beat 3,000 on evidence"
    $SCITUNE round close --decision "Kept the 3,000-step baseline"
  fi
fi
say scitune baseline history
$SCITUNE baseline history
say scitune report cnn-width-refined -o "$OUT/report.html"
$SCITUNE report cnn-width-refined -o "$OUT/report.html"

# -- the final evaluation: once, on the adopted configuration ----------------------------------
say $PYTHON -m examples.mnist1d.evaluate baseline
$PYTHON -m examples.mnist1d.evaluate baseline
