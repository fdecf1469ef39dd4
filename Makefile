# One entry point for developers and CI. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

.DEFAULT_GOAL := help
.PHONY: help install lint types unit test plan

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

install: $(STAMP) ## Create .venv (when missing) and install requirements.txt into it.

lint: $(STAMP) ## ruff: lint and format check.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP) ## pyright over the whole project (zero errors expected).
	$(BIN)/pyright

unit: $(STAMP) ## pytest: settings, components, policies and every stack, offline.
	$(BIN)/python -m pytest

test: lint types unit ## Everything CI runs: lint, types and tests.

plan: $(STAMP) ## Offline plan of STACK (inventory, policy verdicts, cost); no AWS needed.
	@test -n "$(STACK)" || { echo "usage: make plan STACK=dev|staging|prod" >&2; exit 2; }
	$(BIN)/python -m components.plan $(STACK)
