# triage: `make dev` runs the whole pipeline on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
GEN    := services/shared/contracts/triage
PROTOS := $(wildcard proto/triage/v1/*.proto)

.PHONY: dev test unit integration lint proto clean bench ops-tools

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Generated code is produced by the build, never edited. protoc writes absolute imports
# (`from triage.v1 import ...`); they are made relative so the package lives under services.shared.
$(GEN)/v1/.stamp: $(PROTOS) $(STAMP)
	rm -rf $(GEN) && mkdir -p $(GEN)/v1
	$(PY) -m grpc_tools.protoc -I proto --python_out=services/shared/contracts \
		--pyi_out=services/shared/contracts $(PROTOS)
	sed -i 's/^from triage\.v1 import/from . import/' $(GEN)/v1/*_pb2.py $(GEN)/v1/*_pb2.pyi
	touch $(GEN)/__init__.py $(GEN)/v1/__init__.py $@

proto: $(GEN)/v1/.stamp

dev: proto
	$(PY) -m devstack

test: proto ops-tools
	$(PY) -m ruff check .
	$(PY) -m pytest -q

unit: proto
	$(PY) -m pytest -q tests/unit

integration: proto
	$(PY) -m pytest -q tests/integration

lint: proto
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Debian's Prometheus and Alertmanager for tests/e2e (binaries prometheus, prometheus-alertmanager, promtool,
# amtool), installed only when missing. Their postinst scripts would start the daemons through invoke-rc.d, so a
# policy-rc.d that denies every start is in place while apt runs (any existing one is put back afterwards).
# Never fails the build: without root, apt-get or the network it warns, and the e2e tests skip saying why.
OPS_BINARIES := prometheus prometheus-alertmanager promtool amtool
POLICY_RC_D  := /usr/sbin/policy-rc.d

ops-tools:
	@missing=; for b in $(OPS_BINARIES); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	[ -n "$$missing" ] || exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "ops-tools: WARNING: missing$$missing; cannot install (needs root and apt-get): tests/e2e will SKIP" >&2; \
		exit 0; \
	fi; \
	echo "ops-tools: installing Debian's prometheus and prometheus-alertmanager (missing:$$missing)"; \
	saved=; if [ -e $(POLICY_RC_D) ]; then saved=$$(mktemp) && cp -p $(POLICY_RC_D) "$$saved"; fi; \
	restore() { if [ -n "$$saved" ]; then mv -f "$$saved" $(POLICY_RC_D); else rm -f $(POLICY_RC_D); fi; }; \
	trap restore EXIT; trap 'exit 130' INT TERM; \
	printf '#!/bin/sh\n# triage make ops-tools: no service starts while packages install\nexit 101\n' >$(POLICY_RC_D); \
	chmod 755 $(POLICY_RC_D); \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq || echo "ops-tools: WARNING: apt-get update failed; trying the package lists at hand" >&2; \
	apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
		prometheus prometheus-alertmanager >/dev/null \
	|| echo "ops-tools: WARNING: apt-get could not install prometheus, prometheus-alertmanager: tests/e2e will SKIP" >&2

clean:
	rm -rf $(VENV) $(GEN) .run .pytest_cache

# Not part of `make test`: ~6 minutes on 2 cores. Figures in bench/results/, summary in the README.
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--only throughput --instances correlator=2" (python -m bench.run -h).
bench: proto
	$(PY) -m bench.run $(BENCH_ARGS)

# Not part of `make test`: the pipeline twice on embedded parts, clean and under SIGKILLs and a PostgreSQL restart,
# compared (docs/reliability.md). ~10 minutes on 2 cores; `make chaos CHAOS_ARGS=--quick` takes ~5.
.PHONY: chaos
chaos: proto
	$(PY) -m chaos $(CHAOS_ARGS)
