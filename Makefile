# vidpred: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# A local torch wheel (this project's CI machines keep a CPU build there) is installed first,
# so pip never pulls a multi-GB CUDA build when a CPU one is at hand. Elsewhere: plain PyPI torch.
WHEELHOUSE ?= /opt/wheels
TORCH_WHEEL := $(firstword $(wildcard $(WHEELHOUSE)/torch-2.13.0+cpu-cp311-*.whl))
PYTEST_ARGS ?=
RUNS ?= outputs
REPORT_DIR ?= outputs/report
SEARCH ?=

.DEFAULT_GOAL := help
.PHONY: help install demo test test-all report search clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  if [ -n "$(TORCH_WHEEL)" ]; then $(PY) -m pip install -q "$(TORCH_WHEEL)"; \
	  else $(PY) -m pip install -q "torch>=2.4"; fi; fi
	$(PY) -m pip install -q -e ".[dev,video,cluster,search]"
	@# the Optuna sweeper of earlier versions pinned optuna < 3; a virtualenv made then still holds it
	$(PY) -m pip uninstall -q -y hydra-optuna-sweeper 2>/dev/null || true
	touch $@

install: $(VENV)/.installed ## create the virtualenv and install vidpred with its test tools

demo: install ## train and test the default experiment (LSTM on sines) on the CPU
	$(PY) -m vidpred.run trainer.device=cpu

test: install ## run the test suite (slow and GPU tests excluded), a worker per core
	$(PY) -m pytest -m "not slow and not gpu" -n auto --dist loadfile $(PYTEST_ARGS)

test-all: install ## run every test, slow ones included (GPU tests skip without CUDA), and print line coverage
	$(PY) -m pytest -n auto --dist loadfile --cov=vidpred --cov-report=term $(PYTEST_ARGS)

report: install ## study tables, pivot and figures of the runs under RUNS=outputs (into REPORT_DIR)
	$(PY) -m vidpred.report $(RUNS) --out $(REPORT_DIR)

search: install ## a search over settings: SEARCH="model=... data=... hparams_search.n_trials=N"; again: continues it
	$(PY) -m vidpred.search $(SEARCH)

clean: ## remove the virtualenv and caches (keeps outputs/)
	rm -rf $(VENV) .pytest_cache src/*.egg-info
