# pushr-relay — every target creates the venv it needs from the pinned constraints.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install lint fmt test test-unit test-integration demo kafka kafka-stop \
        sandbox bench bench-quick bench-profile chaos lock clean k8s-rules

help:
	@echo "make demo         broker + sandbox + relay + sample events, then stop (Ctrl-C safe)"
	@echo "make test         unit + integration tests on real Kafka/Redis/sandbox"
	@echo "make lint         ruff + ruff format --check + mypy (strict on service/, tests/ lighter)"
	@echo "make bench        full benchmark (reports/bench.json); bench-quick: ~2 min"
	@echo "make bench-profile  the cost table: py-spy over scenarios a, c, d (reports/cost.md)"
	@echo "make chaos        fault scenarios (reports/chaos.json)"
	@echo "make kafka        start a local broker (kafka-stop stops it)"
	@echo "make sandbox      serve the Push.R sandbox on :6700"
	@echo "make k8s-rules    regenerate the PrometheusRule from deploy/prometheus/alerts.yml"

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP)

lock: $(STAMP)
	$(BIN)/uv pip compile --python $(BIN)/python pyproject.toml --all-extras -o constraints.txt -q

# mypy reads its files and profiles from pyproject.toml: service/ strict, tests/ lighter.
lint: $(STAMP)
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format service tests
	$(BIN)/ruff check --fix service tests

# Unit, contract and integration tests; the slow and chaos suites have their own targets.
test: $(STAMP)
	$(BIN)/pytest -m "not slow and not chaos" $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(BIN)/pytest -m "integration and not slow and not chaos" $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/pushr-relay demo

kafka: $(STAMP)
	$(BIN)/pushr-relay kafka start

kafka-stop: $(STAMP)
	$(BIN)/pushr-relay kafka stop

sandbox: $(STAMP)
	$(BIN)/pushr-relay sandbox --port 6700

bench: $(STAMP)
	$(BIN)/python -m tests.bench.run --profile acd
	$(BIN)/python -m tests.bench.cost_table reports/bench.json --out reports/cost.md

bench-quick: $(STAMP)
	$(BIN)/python -m tests.bench.run --quick

# py-spy samples the relay over a second burst after each measured phase (so the measured
# figures are not disturbed); the cost table splits the CPU the measured phase used by them.
# `make bench` does the same; this regenerates the cost table alone, without the peers.
bench-profile: $(STAMP)
	$(BIN)/python -m tests.bench.run --scenarios acd --profile acd --peers none \
		--out reports/bench-profile.json
	$(BIN)/python -m tests.bench.cost_table reports/bench-profile.json --out reports/cost.md

chaos: $(STAMP)
	$(BIN)/pytest -m chaos tests/chaos $(PYTEST_ARGS)

# The PrometheusRule of the overlays, generated from the one copy of the rules.
k8s-rules: $(STAMP)
	$(BIN)/python deploy/prometheus/prometheusrule.py > deploy/k8s/base/prometheusrule.yaml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis reports
