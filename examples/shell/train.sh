#!/bin/sh
# A trial in plain POSIX sh: scitune passes params as arguments, the script appends JSON lines.
lr="$1"; steps="$2"; step=0
while [ "$step" -lt "$steps" ]; do
  step=$((step + 100))
  loss=$(awk -v lr="$lr" -v s="$step" 'BEGIN { printf "%.6f", 1 / (1 + lr * s) + (lr - 0.1)^2 }')
  echo "{\"step\": $step, \"metrics\": {\"loss\": $loss}}" >> "$SCITUNE_METRICS"
done
[ "$(awk -v lr="$lr" 'BEGIN { print (lr > 0.5) }')" = 1 ] && echo '{"infeasible": "lr too high"}' >> "$SCITUNE_METRICS"
exit 0
