# danlu: `make demo` runs the whole job on the offline demo model, `make test` runs the tests.
# Both create .venv on first use.  TORCH picks the torch build: torch==2.13.0 is the CPU wheel on
# machines that keep one locally and the default CUDA build from PyPI elsewhere.
PY    ?= python3
TORCH ?= torch==2.13.0
VENV  := .venv
BIN   := $(VENV)/bin

.PHONY: setup demo test
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/danlu quickstart

test: setup
	$(BIN)/python -m pytest -q
