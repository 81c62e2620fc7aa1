#!/usr/bin/env bash
# Run the upgrade suite, the throughput benchmark and the defaults audit in one environment,
# into results/upgrades/<name>/ (a folder `parity compare` understands).
#   scripts/upgrade_check.sh base .venv
#   scripts/upgrade_check.sh keras313 .venv-keras313
#   .venv/bin/parity compare results/upgrades/base results/upgrades/keras313 --md results/upgrades/keras313.md
set -euo pipefail
name="${1:?usage: scripts/upgrade_check.sh NAME VENV}"
venv="${2:?usage: scripts/upgrade_check.sh NAME VENV}"
out="results/upgrades/$name"
mkdir -p "$out"
"$venv/bin/parity" audit --out "$out/defaults.json" > "$out/audit.txt"
"$venv/bin/parity" bench --out "$out" --rounds 5 > /dev/null
"$venv/bin/parity" run --suite upgrade --out "$out" "${@:3}"
