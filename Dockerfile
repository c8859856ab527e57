# One image for the three services; docker-compose.yml picks each one's command.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DATA_DIR=/data \
    MODELS_DIR=/app/models

# A compiler for llama-cpp-python (built from source), npm for the page's packages.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# torch's CPU build: the default Linux wheel bundles CUDA and weighs several GB.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --extra-index-url "$TORCH_INDEX_URL" "torch==2.13.0"

COPY pyproject.toml README.md ./
COPY llmserver ./llmserver
COPY chatbot ./chatbot
COPY rag ./rag
# Editable, as `make install` does: the app finds templates/ and static/ beside its package.
RUN pip install -e .

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY templates ./templates
COPY static ./static

RUN useradd --create-home --uid 1000 app \
    && mkdir -p /data /app/models \
    && python -c "from pathlib import Path; from llmserver.models import ensure_default_model; ensure_default_model(Path('/app/models'))" \
    && python -c "from rag.embedding import Embedder; from rag.settings import RagSettings; Embedder(RagSettings()).model" \
    && chown -R app:app /data /app/models
USER app

EXPOSE 5000 8000
CMD ["llmserver", "--host", "0.0.0.0"]
