# The README's two commands: `make demo` (run the product) and `make test` (the whole suite).
# Every target creates what is missing and is safe to run again.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON310 ?= $(shell PYENV_VERSION=3.10.13 pyenv which python 2>/dev/null || command -v python3.10)
PYTHON312 ?= $(shell PYENV_VERSION=3.12.1 pyenv which python 2>/dev/null || command -v python3.12)
VENV := .venv
RASA_VENV := .venv-rasa
export RASA_TELEMETRY_ENABLED := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup model lint unit test demo bench bench-training nlu-experiment lock clean

help:
	@echo "make demo   - set up and run the product (SQLite, demo portfolio, terminal chat)"
	@echo "make model  - train the Rasa model if its inputs changed"
	@echo "make test   - set up and run the whole test suite (lint first; installs Redis, PostgreSQL, Chromium)"
	@echo "make unit   - the tests that need no Rasa server, on SQLite only (the inner loop)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - run the benchmarks (they print their numbers)"
	@echo "make bench-training - train the whole model from scratch aside; seconds per component and per epoch"
	@echo "make nlu-experiment CONFIG=path/to/config.yml [FOLDS=5] - train a pipeline aside, score it on the held-out sets"
	@echo "make lock   - refresh constraints*.txt from the current venvs"

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found (pyenv install 3.12.1)"; exit 1; }
	$(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null \
		|| $(PYTHON312) -m venv --clear $(VENV)  # a .venv of another Python (3.10 before) is rebuilt
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

$(RASA_VENV)/.installed: constraints-rasa.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (pyenv install 3.10.13)"; exit 1; }
	test -x $(RASA_VENV)/bin/python || $(PYTHON310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install -q --upgrade pip
	# jsonschema 3.2 (Rasa allows >=3.2,<4.18): Rasa checks every action server answer with jsonschema.validate,
	# which under 4.x re-checks the schema against the 2020-12 metaschema each time: 15 ms of Rasa's event loop
	# per action call, against 2 ms (README, "Performance").
	$(RASA_VENV)/bin/pip install -q -c constraints-rasa.txt rasa==3.6.21 jsonschema==3.2.0
	touch $@

setup: $(VENV)/.installed $(RASA_VENV)/.installed

# Trains only when no model exists for the current inputs (models are named by their hash).
model: setup
	$(VENV)/bin/python -m bot.admin.rasa_model train

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

unit: $(VENV)/.installed
	ACUERDO_TEST_DATABASES=sqlite $(VENV)/bin/python -m pytest -m "not e2e" -q

test: lint model
	bash scripts/system-packages
	$(VENV)/bin/python -m pytest

demo: model
	$(VENV)/bin/python -m scripts.demo

bench: model
	$(VENV)/bin/python -m benchmarks.import_portfolio
	$(VENV)/bin/python -m benchmarks.nlu
	$(VENV)/bin/python -m benchmarks.webhook_ack
	$(VENV)/bin/python -m benchmarks.gateway
	$(VENV)/bin/python -m benchmarks.campaigns
	$(VENV)/bin/python -m benchmarks.kpis

# Trains the whole model from scratch aside (models/ untouched) and prints where the minutes go.
bench-training: setup
	$(VENV)/bin/python -m benchmarks.training

# Trains an NLU-only model from CONFIG into a temporary directory (models/ untouched), prints one markdown table
# (held-out and hard held-out macro-F1 and accuracy, weakest intents) and appends it to benchmarks/experiments/.
# FOLDS=N (N >= 2) adds N-fold cross-validation on data/nlu: N more trainings, so it is off (0) by default.
CONFIG ?= config.yml
FOLDS ?= 0
nlu-experiment: setup
	$(VENV)/bin/python -m benchmarks.nlu_experiment --config $(CONFIG) --folds $(FOLDS)

lock:
	$(VENV)/bin/pip freeze --exclude-editable > constraints.txt
	$(RASA_VENV)/bin/pip freeze > constraints-rasa.txt

clean:
	rm -rf $(VENV) $(RASA_VENV) models var .pytest_cache .rasa
