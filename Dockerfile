# One image for the three services; docker-compose.yml picks each one's command.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DATA_DIR=/data \
    MODELS_DIR=/app/models

# A compiler and CMake for llama.cpp (built from source), npm for the page's packages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# torch's CPU build: the default Linux wheel bundles CUDA and weighs several GB.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --extra-index-url "$TORCH_INDEX_URL" "torch==2.13.0"

# The Python packages, then llama.cpp built once, portably (llmserver/build.py: no
# -march=native, every CPU variant loadable, chosen where the image runs), for llama-cpp-python
# and llama-server alike. Only the build script is copied first, so that editing the app does
# not recompile llama.cpp; the empty package folders let the editable install map them.
COPY pyproject.toml README.md ./
COPY llmserver/__init__.py llmserver/build.py llmserver/crash.py ./llmserver/
ARG LLAMA_CMAKE_ARGS=""
RUN mkdir -p chatbot rag && touch chatbot/__init__.py rag/__init__.py \
    && CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" pip install -e . \
    && LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS" python -m llmserver.build --work-dir /tmp/llama.cpp \
    && rm -rf /tmp/llama.cpp
# Editable, as `make install` does: the app finds templates/ and static/ beside its package.
COPY llmserver ./llmserver
COPY chatbot ./chatbot
COPY rag ./rag

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY templates ./templates
COPY static ./static

RUN useradd --create-home --uid 1000 app \
    && mkdir -p /data /app/models \
    && python -c "from pathlib import Path; from llmserver.models import ensure_default_model; ensure_default_model(Path('/app/models'))" \
    && python -m llmserver.build --smoke /app/models/gemma-3-270m-q4_k_m.gguf \
    && python -c "from rag.embedding import Embedder; from rag.settings import RagSettings; Embedder(RagSettings()).model" \
    && chown -R app:app /data /app/models
USER app

EXPOSE 5000 8000
CMD ["llmserver", "--host", "0.0.0.0"]
