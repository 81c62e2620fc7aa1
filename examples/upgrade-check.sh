#!/usr/bin/env bash
# Does a framework upgrade change what this suite measures? Run from the checkout, after `make test`
# (or `make run`) built .venv: a second environment beside it with the version to check, then the
# upgrade suite (the defaults audit and 3 seeds of the BN rows) in each environment and the side-by-side
# throughput gate. Exit 1 on a regression or a changed default; the report lands in
# runs/upgrades/base-vs-torch213/upgrade.md (and .json, .html).
set -euo pipefail
make env NAME=torch213 TORCH=2.13.0 TORCHVISION=0.28.0 PIP_ISOLATED=1
.venv/bin/parity upgrade-check base=.venv torch213=.venv-torch213 --out runs/upgrades
