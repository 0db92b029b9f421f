#!/bin/sh
# The entrypoint of the fault-injection test: sh wrapper.sh PYTHON FAULT STEPS.
# It starts the trainer as its child (not with exec): a runner killed alone takes this shell
# with it (PR_SET_PDEATHSIG down the chain) and leaves the trainer orphaned, which the next
# runner must find by its SCITUNE_ATTEMPT mark and end.
set -u
python=$1
shift
echo "$$ sh ${SCITUNE_ATTEMPT##*/}" >> "$(dirname "$SCITUNE_METRICS")/pids.txt"
"$python" "$(dirname "$0")/trainer.py" "$@"
exit $?
