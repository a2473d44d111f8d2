# triage: `make dev` runs the whole pipeline on embedded defaults; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
GEN    := services/shared/contracts/triage
PROTOS := $(wildcard proto/triage/v1/*.proto)

.PHONY: dev test unit integration lint proto clean bench

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

test: proto
	$(PY) -m ruff check .
	$(PY) -m pytest -q

unit: proto
	$(PY) -m pytest -q tests/unit

integration: proto
	$(PY) -m pytest -q tests/integration

lint: proto
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) $(GEN) .run .pytest_cache

# Not part of `make test`: ~5 minutes on 2 cores. Figures in bench/results/, summary in the README.
bench: proto
	$(PY) -m bench.run
