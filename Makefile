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
