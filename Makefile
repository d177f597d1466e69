# The two commands of the README. Each creates its own venv and installs what it needs.
#   make demo   build a demo dataset from images bundled in PyPI packages and run a selection
#   make test   lint, type-check and run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO ?= $(CURDIR)/demo
N ?= 20

.PHONY: demo test lint install system-deps clean-demo

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	LIGHTLY_RUNNER_DEMO=$(DEMO) $(PY) examples/build_example_dataset.py
	LIGHTLY_RUNNER_DEMO=$(DEMO) $(VENV)/bin/lightly-run +dataset=example selection.n_samples=$(N)
	@echo "report: $(DEMO)/lightly/example/.lightly/runs/latest/report.pdf"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check runner hydra_plugins tests examples benchmarks
	$(VENV)/bin/ruff format --check runner hydra_plugins tests examples benchmarks
	$(VENV)/bin/mypy

system-deps:
	bash scripts/install-system-deps.sh

test: system-deps lint
	$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; \
	exit $$rc

clean-demo:
	rm -rf $(DEMO)
