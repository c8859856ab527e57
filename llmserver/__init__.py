"""llmserver: an OpenAI-compatible gateway in front of llama.cpp's own `llama-server`, which
it builds (`llama_build/`), starts and supervises (`engines/`, where llama-cpp-python in
process is the alternative), for the GGUFs in MODELS_DIR (`models/`) and those it downloads
(`pull/`); plus `/v1/embeddings` from rag's embedding model.

Imports nothing: the image's build stage imports `llmserver.llama_build` with none of the
server's dependencies installed.
"""
