"""`python -m llmserver` / `llmserver`: serve the OpenAI API for the GGUFs in MODELS_DIR."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

import uvicorn

from llmserver.app import Gateway
from llmserver.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="llmserver",
        description="OpenAI-compatible llama.cpp server. Configured from the environment "
        "(LLM_MODEL, MODELS_DIR, LLMSERVER_HOST, LLMSERVER_PORT, LLM_N_CTX, LLM_THREADS, "
        "LLM_API_KEY); flags override it.",
    )
    parser.add_argument("--model", help="GGUF path or alias in MODELS_DIR (LLM_MODEL)")
    parser.add_argument("--models-dir", help="folder of GGUF files (MODELS_DIR)")
    parser.add_argument("--host", help="bind address (LLMSERVER_HOST)")
    parser.add_argument("--port", type=int, help="port (LLMSERVER_PORT)")
    parser.add_argument("--n-ctx", type=int, help="context size in tokens (LLM_N_CTX)")
    parser.add_argument("--threads", type=int, help="CPU threads (LLM_THREADS)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)

    # Nothing may reach a model hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    server: uvicorn.Server | None = None

    def stop_on_load_failure() -> None:
        if server is not None:
            server.should_exit = True

    gateway = Gateway(settings, on_load_failure=stop_on_load_failure)
    config = uvicorn.Config(
        gateway, host=settings.host, port=settings.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    gateway.start_loading()
    print(
        f"llmserver: OpenAI API at http://{settings.host}:{settings.port}/v1 "
        f"(GET /health turns 200 once the model is loaded)",
        flush=True,
    )
    # uvicorn re-raises the Ctrl-C it handled; for us that is a clean stop.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if gateway.inner is None:
        # Stopped (or failed) while llama.cpp was still loading in its thread: skip the
        # interpreter's shutdown, which would tear modules down under that native code.
        sys.stdout.flush()
        os._exit(1)


if __name__ == "__main__":
    main()
