#!/bin/sh
# `make demo`: one full round of the playbook on MNIST-1D, with the commands a user would type.
# Idempotent: run it again and it resumes, re-analyses and changes nothing that was decided.
set -eu
SCITUNE=${SCITUNE:-scitune}
STUDY=examples/mnist1d/study.toml
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

if ! $SCITUNE round list --json | grep -q '"number"'; then
  say scitune round start --goal "Find the CNN's Adam learning rate"
  $SCITUNE round start --goal "Find the CNN's Adam learning rate on MNIST-1D"
fi
say scitune run $STUDY --workers 2
$SCITUNE run $STUDY --workers 2
say scitune trials $STUDY
$SCITUNE trials $STUDY
say scitune reseed $STUDY --top 2 --seeds 2 --workers 2    "# trial-to-trial variance (§6)"
$SCITUNE reseed $STUDY --top 2 --seeds 2 --workers 2
say scitune analyze $STUDY
$SCITUNE analyze $STUDY
if $SCITUNE baseline show --json | grep -q '^null'; then
  say scitune adopt $STUDY --notes "..."
  $SCITUNE adopt $STUDY --notes "Best Adam learning rate of round 1 (mean over its seeds)"
fi
if $SCITUNE round list --json | grep -q '"open"'; then
  say scitune round close --decision "..."
  $SCITUNE round close --decision "Adopted the best learning rate as the first baseline" \
    --notes "Constant LR, 7,500 steps; see the findings kept with this round"
fi
say scitune baseline history
$SCITUNE baseline history
say scitune report $STUDY -o report.html
$SCITUNE report $STUDY -o report.html
