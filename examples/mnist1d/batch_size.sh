#!/bin/sh
# Choosing MNIST-1D's batch size from measurements (§1), with the commands a user would type.
# Run it from the repository root, best after `scitune run examples/mnist1d/study.toml` (the probe
# then runs the best trial's learning rate; before, the middle of the range, 3e-3, where the
# example's collapse check ends every probe trial after its first 10 steps).
#
# 1. Throughput at doubling batch sizes until one runs out of memory. A CPU machine has no small
#    device memory, so each trial's address space is capped (RLIMIT_AS). That counts virtual
#    memory: ~930 MiB of it is torch and the data before the first step, and this 5,210-parameter
#    CNN needs only ~10 MiB more at batch 3584 than at batch 28 (evaluating the 3,600 training
#    examples dominates below that). So the limit is measured, not guessed: a one-size probe
#    records a small batch's peak address space, and the probe runs 5 MiB above it. A fixed
#    glibc mmap threshold keeps that peak reproducible to ~1 MiB (it wanders by several MiB
#    otherwise). Measured on 2 CPU cores (torch 2.13): peak 926 MiB at batch 28, OOM at 3584.
#    One thread per trial by default: on a busy machine two OpenMP threads contend with the other
#    processes and step times stop meaning anything (measured: ~400 ms per step at batch 448-1792
#    with two threads on a loaded machine; 12-44 ms with one, 9-32 ms with two on a quiet one).
#    Set OMP_NUM_THREADS to the cores you train with when the machine is yours.
# 2. Perfect scaling: steps to 20% dev error by batch size, each with its own tuned learning rate
#    (25 trials, ~3 minutes with 2 workers).
set -eu
SCITUNE=${SCITUNE:-scitune}
STUDY=examples/mnist1d/study.toml
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
export MALLOC_MMAP_THRESHOLD_=65536 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

PEAK=$($SCITUNE probe batch-size $STUDY --start 28 --max 28 --memory-limit 64G \
  --name mnist1d-cnn-lr-peak-memory --json |
  python -c 'import json, sys; print(json.load(sys.stdin)["table"][0]["peak_memory_bytes"] >> 20)')
LIMIT="$((PEAK + 5))M"
say scitune probe batch-size $STUDY --start 28 --max 3600 --memory-limit "$LIMIT" -o batch_size.html
$SCITUNE probe batch-size $STUDY --start 28 --max 3600 --memory-limit "$LIMIT" -o batch_size.html

say scitune probe scaling examples/mnist1d/perfect_scaling.toml --target 0.2 --workers 2 -o scaling.html
$SCITUNE probe scaling examples/mnist1d/perfect_scaling.toml --target 0.2 --workers 2 -o scaling.html
