# Two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MODELS_DIR ?= models
DEFAULT_MODEL := $(MODELS_DIR)/gemma-3-270m-q4_k_m.gguf
# The chat page's JavaScript (socket.io client, marked, DOMPurify, highlight.js, PDF.js), from the
# npm registry at the versions in package-lock.json, served by chatbot from our own origin;
# optional packages (PDF.js's canvas for Node, 35 MB) are for Node programs, not the page.
NODE_DEPS := node_modules/.package-lock.json
CHROMIUM ?= /usr/bin/chromium
REDIS_SERVER ?= /usr/bin/redis-server
TESSERACT ?= /usr/bin/tesseract

.PHONY: run test test-fast install model lint bench clean browser redis tesseract compose-test

# Stamp of the embedding model's ONNX export (see below).
EMBEDDING := $(VENV)/.embedding-exported
# Stamps of the llama.cpp build and of its smoke check (see llmserver/llama_build/).
ENGINE := $(VENV)/.llama-cpp-built
SMOKED := $(VENV)/.llama-cpp-smoked

install: $(INSTALLED) $(ENGINE) $(DEFAULT_MODEL) $(SMOKED) $(NODE_DEPS) $(EMBEDDING)

# llama-cpp-python is installed without compiling llama.cpp (LLAMA_BUILD=OFF): the next
# step compiles it once, portably, for both llama-cpp-python and llama-server.
$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV)."
	$(PY) -m pip install --quiet --upgrade pip
	CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" \
	  $(PY) -m pip install --progress-bar off -e '.[dev]' | grep -v '^Requirement already satisfied'
	@touch $@

# Portable: runs on any x86-64 CPU, the fastest code for it chosen at start (see
# docs/engine.md). LLAMA_CMAKE_ARGS adds CMake flags of your own.
$(ENGINE): $(INSTALLED) $(wildcard llmserver/llama_build/*.py)
	@command -v cmake >/dev/null || { echo "CMake is needed to build llama.cpp: apt-get install -y cmake"; exit 1; }
	$(PY) -m llmserver.llama_build
	@touch $@

# One short generation in a child process: a build that cannot run on this CPU stops the
# install here, with a message, instead of crashing the server on its first request.
$(SMOKED): $(ENGINE) $(DEFAULT_MODEL)
	$(PY) -m llmserver.llama_build --smoke $(DEFAULT_MODEL)
	@touch $@

$(DEFAULT_MODEL): | $(ENGINE)
	@echo "Assembling the default model into $(MODELS_DIR)/ (sha256 checked)."
	$(PY) -c "from llmserver.models.discovery import ensure_default_model; from pathlib import Path; print(ensure_default_model(Path('$(MODELS_DIR)')))"

model: $(DEFAULT_MODEL)

# The embedding model exported to ONNX int8 (about 20 s, once) into the virtualenv
# (.venv/share/rag/onnx, beside llama.cpp's libraries), where rag and the chat look for it
# whatever their DATA_DIR; otherwise the first `rag ingest`, or the first question with RAG
# on, waits for the export. The export is the one step that loads torch and
# sentence-transformers: the ONNX backends run on onnxruntime and tokenizers alone.
$(EMBEDDING): $(INSTALLED) rag/export.py
	$(PY) -c "from rag.export import main; main()"
	@touch $@

$(NODE_DEPS): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the chat page: apt-get install -y npm"; exit 1; }
	npm ci --omit=optional --no-audit --no-fund --loglevel=error
	@touch $@

# Browser tests drive Debian's Chromium (never a browser downloaded by Playwright).
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "The browser tests need Chromium at $(CHROMIUM). Install it with"; \
	    echo "  sudo apt-get update && sudo apt-get install -y chromium"; \
	    echo "then run make test again."; exit 1; \
	  fi; }

# The scale-out tests run two chatbot instances sharing Debian's redis-server.
redis:
	@test -x $(REDIS_SERVER) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's redis-server for the scale-out tests."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; \
	  else \
	    echo "The scale-out tests need redis-server at $(REDIS_SERVER). Install it with"; \
	    echo "  sudo apt-get update && sudo apt-get install -y redis-server"; \
	    echo "then run make test again."; exit 1; \
	  fi; }

# Scanned PDF pages are read with Debian's tesseract-ocr (optional for users, tested here).
tesseract:
	@test -x $(TESSERACT) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's tesseract-ocr for the OCR tests."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr; \
	  else \
	    echo "The OCR tests need tesseract at $(TESSERACT). Install it with"; \
	    echo "  sudo apt-get update && sudo apt-get install -y tesseract-ocr"; \
	    echo "then run make test again."; exit 1; \
	  fi; }

# Starts every service; Ctrl-C (or any service dying) stops them all. PROD=1 runs the
# chatbot under gunicorn, the command of the Docker image, instead of the development server.
run: install
	@$(PY) scripts/run.py $(if $(filter-out 0,$(PROD)),--prod)

test: install browser redis tesseract
	$(PY) -m pytest

# The quick loop while changing something: the tests that start no model, browser, Chroma
# server or child process (docs/development.md), spread over the cores.
test-fast: install
	$(PY) -m pytest -q -m "not slow" -n auto

lint: $(INSTALLED)
	$(VENV)/bin/ruff check llmserver chatbot rag tests bench harness

bench: install
	$(PY) bench/llm_stream.py --native
	$(PY) bench/llm_concurrency.py
	$(PY) bench/chat_stream.py
	$(PY) bench/chat_stream.py --users 4

# Builds and runs docker-compose.yml for real (docs/deploy.md): opt-in, not part of `make test`;
# needs Docker and Compose (on the development machines: ../shared/tools/docker-here).
# SCALE=1 adds the scale profile (Redis, two chatbots, nginx).
compose-test: $(INSTALLED)
	$(PY) scripts/compose_test.py $(if $(filter-out 0,$(SCALE)),--scale)

clean:
	rm -rf $(VENV) build *.egg-info
