#!/usr/bin/env bash
# System packages the test suite drives for real: headless Chromium (the HTML report test).
# Installed with apt when missing and we may (root, or passwordless sudo); otherwise say how.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  echo "scitune tests need: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})." >&2
  echo "Without them the browser tests are skipped." >&2
fi
