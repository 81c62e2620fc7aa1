# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# .venv is created once; the stamp file records that the install finished.
# The first of Python 3.11, 3.12, 3.13 found (the package supports all three; this machine's local wheel
# store serves 3.11, other versions take the registry's wheels). Override with PY=/path/to/python.
PY ?= $(firstword $(foreach v,3.11 3.12 3.13,$(shell command -v python$(v) 2>/dev/null)))
VENV := .venv
STAMP := $(VENV)/.installed
JAX_STAMP := $(VENV)/.installed-jax
BIN := $(VENV)/bin
# scripts/uv_install.py: uv with pip's package sources (see the install rule below)
UV_INSTALL = $(BIN)/python scripts/uv_install.py --python $(BIN)/python --quiet --no-cache \
	--index-strategy unsafe-best-match --compile-bytecode -c constraints.txt

.PHONY: run real test test-system test-all bench smoke clean-venv publish-quick

# The package declares supported version ranges; constraints.txt holds the reference versions.
# uv installs them (pip's resolution: best match over every index; unpacked and byte-compiled in
# parallel, no cache kept): about 40 s here where pip takes 80-100 s. It is handed the package
# sources pip is configured with (scripts/uv_install.py), since it reads none of pip's files.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || test -n "$(PY)" || { echo "make: needs Python 3.11, 3.12 or 3.13 (none found; give PY=...)" >&2; exit 2; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt uv
	$(UV_INSTALL) -e '.[tf-cpu,torch,ray,real]'
	@touch $(STAMP)

# The tests also need Keras on JAX (the [jax] extra, ~700 MB, ~15 s) and the [test] extra (hypothesis,
# pytest-xdist); `make run` does without them.
$(JAX_STAMP): $(STAMP)
	$(UV_INSTALL) -e '.[tf-cpu,torch,ray,real,jax,test]'
	@touch $(JAX_STAMP)

# $(call reproduce,SUITE,PUBLISHED,RUN): run SUITE into the ignored scratch folder RUN (replaced each
# time) and gate it against the published PUBLISHED, ending with one line: reproduced (rows,
# bit-identical jobs) or what differs. A run with failed jobs exits 1; the gate still reads what ran,
# and make fails with either code.
define reproduce
	@rm -rf $(3)
	@$(BIN)/parity run --suite $(1) --out $(3); run=$$?; test -d $(3)/jobs || exit $$run; \
		$(BIN)/parity compare $(2) $(3) --md $(3)/reproduction.md > /dev/null 2> $(3)/.gate-line; \
		code=$$?; sed 's|^reproduced $(2)|reproduced the published $(1) table ($(2))|' $(3)/.gate-line; \
		test $$code -ne 1 || echo "details: $(3)/reproduction.md"; test $$code -ne 0 || code=$$run; exit $$code
endef

# `make run` reproduces the published quick table, it does not overwrite it. Publishing a new
# table is explicit: `make publish-quick`.
QUICK_RUN := results/quick-run
run: $(STAMP)
	$(call reproduce,quick,results/quick,$(QUICK_RUN))

# `make real`: the real network on real images (EfficientNet-Lite0, digits and photos), all four
# columns, ~5 h on 2 cores (~10.5 h of job time, ~4.8 h of it Keras on JAX's small-batch rows), against
# the published results/real.
real: $(STAMP) $(JAX_STAMP)
	$(call reproduce,real,results/real,results/real-run)

publish-quick: $(STAMP)
	@test -d $(QUICK_RUN)/jobs || { echo "make publish-quick: run 'make run' first" >&2; exit 2; }
	rm -rf results/quick
	mkdir -p results/quick
	cp -r $(QUICK_RUN)/jobs results/quick/jobs
	$(BIN)/parity report results/quick --screenshot > /dev/null

# Two test processes (pytest-xdist), each taking a whole file at a time, so a module's fixtures run once:
# most tests wait on child processes and imports, so two overlap well even on 2 cores.
# `make test` leaves out the tests marked system (whole `parity` commands with real framework workers, 10-60 s
# each: interrupts, killed workers, resume, a full disk, ...) and slow (minutes each: the upgrade check's
# planted default, the chaos run, Ray, bfloat16 jobs, ...). CI (.ci/run) runs `make test` then
# `make test-system`; `make test-all` runs every test.
test: $(STAMP) $(JAX_STAMP)
	$(BIN)/python -m pytest tests parity -q -n 2 --dist loadfile -m "not slow and not system"

test-system: $(STAMP) $(JAX_STAMP)
	$(BIN)/python -m pytest tests parity -q -n 2 --dist loadfile -m "system and not slow"

test-all: $(STAMP) $(JAX_STAMP)
	$(BIN)/python -m pytest tests parity -q -n 2 --dist loadfile

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
ENV_PIP_INSTALL = $(if $(PIP_ISOLATED),env -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= )$(ENV_VENV)/bin/python \
	-m pip install --quiet

.PHONY: env
env:
	@test -n "$(NAME)" || { echo "make env: give NAME=... (and TF=, KERAS=, TORCH=, TORCHVISION= to change)" >&2; exit 2; }
	@test -x $(ENV_VENV)/bin/python || $(PY) -m venv $(ENV_VENV)
	$(ENV_PIP_INSTALL) "tensorflow-cpu==$(TF)" "keras==$(KERAS)" "torch==$(TORCH)" \
		"torchvision==$(TORCHVISION)" tensorflow-datasets "safetensors>=0.4" "numpy<3" scipy pyyaml matplotlib jsonschema \
		jinja2 rich pytest pytest-benchmark
	$(ENV_PIP_INSTALL) --no-deps -e .
	@$(ENV_VENV)/bin/python -c "import torch, torchvision, tensorflow as tf, keras, jsonschema, jinja2, rich; \
		print('$(ENV_VENV):', 'tensorflow', tf.__version__, 'keras', keras.__version__, 'torch', torch.__version__, \
		'torchvision', torchvision.__version__)"
