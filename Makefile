# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# .venv is created once; the stamp file records that the install finished.
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin
export KERAS_BACKEND := tensorflow
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: run test bench smoke clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[ray]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/parity run --suite quick --out results/quick

test: $(STAMP)
	$(BIN)/python -m pytest tests parity -q

bench: $(STAMP)
	@mkdir -p results/throughput
	$(BIN)/python -m pytest parity/ --benchmark -q --parity-suite quick --parity-baseline results/quick \
		--benchmark-json results/throughput/pytest-benchmark.json

smoke: $(STAMP)
	$(BIN)/parity run --suite smoke --out results/smoke

clean-venv:
	rm -rf $(VENV)

# A second environment with other framework versions, beside .venv, for upgrade checks:
#   make env NAME=keras313 KERAS=3.13.2
#   make env NAME=torch213 TORCH=2.13.0 TORCHVISION=0.28.0 PIP_ISOLATED=1
# PIP_ISOLATED=1 ignores the machine's pip configuration (local wheel stores, caps) and takes
# every package from PyPI: needed where a local CPU-only torch wheel would otherwise win.
TF ?= 2.21.0
KERAS ?= 3.15.1
TORCH ?= 2.14.1
TORCHVISION ?= 0.29.1
ENV_VENV = .venv-$(NAME)
ENV_PIP_INSTALL = $(if $(PIP_ISOLATED),PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= )$(ENV_VENV)/bin/python -m pip \
	install --quiet $(if $(PIP_ISOLATED),--index-url https://pypi.org/simple)

.PHONY: env
env:
	@test -n "$(NAME)" || { echo "make env: give NAME=... (and TF=, KERAS=, TORCH=, TORCHVISION= to change)" >&2; exit 2; }
	@test -x $(ENV_VENV)/bin/python || $(PY) -m venv $(ENV_VENV)
	$(ENV_PIP_INSTALL) "tensorflow-cpu==$(TF)" "keras==$(KERAS)" "torch==$(TORCH)" \
		"torchvision==$(TORCHVISION)" tensorflow-datasets "safetensors>=0.4" "numpy<3" pyyaml matplotlib \
		pytest pytest-benchmark
	$(ENV_PIP_INSTALL) --no-deps -e .
	@$(ENV_VENV)/bin/python -c "import torch, torchvision, tensorflow as tf, keras; \
		print('$(ENV_VENV):', 'tensorflow', tf.__version__, 'keras', keras.__version__, 'torch', torch.__version__, \
		'torchvision', torchvision.__version__)"
