# Two commands: `make run` and `make test`. Everything else here serves them.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MODELS_DIR ?= models
DEFAULT_MODEL := $(MODELS_DIR)/gemma-3-270m-q4_k_m.gguf

.PHONY: run test install model lint bench clean

install: $(INSTALLED) $(DEFAULT_MODEL)

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV)."
	@echo "The first install compiles llama-cpp-python from source: about 6 minutes on 2 cores."
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[dev]' | grep -v '^Requirement already satisfied'
	@touch $@

$(DEFAULT_MODEL): | $(INSTALLED)
	@echo "Assembling the default model into $(MODELS_DIR)/ (sha256 checked)."
	$(PY) -c "from llmserver.models import ensure_default_model; from pathlib import Path; print(ensure_default_model(Path('$(MODELS_DIR)')))"

model: $(DEFAULT_MODEL)

# Starts every service; Ctrl-C (or any service dying) stops them all.
run: install
	@$(PY) scripts/run.py

test: install
	$(PY) -m pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check llmserver chatbot rag tests bench

bench: install
	$(PY) bench/llm_stream.py

clean:
	rm -rf $(VENV) build *.egg-info
