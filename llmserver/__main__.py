"""`python -m llmserver` / `llmserver`: serve the OpenAI API for the GGUFs in MODELS_DIR;
`llmserver pull`: download one from Hugging Face (llmserver/pull/)."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import os
import sys

import uvicorn

from llmserver import logs
from llmserver.app import Gateway
from llmserver.settings import Settings


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["pull"]:
        # Imported only here: the server itself never talks to a model hub.
        from llmserver.pull.cli import main as pull

        pull(arguments[1:])
        return
    parser = argparse.ArgumentParser(
        prog="llmserver",
        description="OpenAI-compatible llama.cpp server. Configured from the environment "
        "(LLM_ENGINE, LLM_MODEL, MODELS_DIR, LLMSERVER_HOST, LLMSERVER_PORT, LLM_N_CTX, "
        "LLM_PARALLEL, LLM_THREADS, LLM_API_KEY, LLM_ALLOWED_HOSTS, LLM_ALLOWED_ORIGINS); "
        "flags override it.",
        epilog="`llmserver pull --help`: download a model from Hugging Face into MODELS_DIR.",
    )
    parser.add_argument("--model", help="GGUF path or alias in MODELS_DIR (LLM_MODEL)")
    parser.add_argument("--models-dir", help="folder of GGUF files (MODELS_DIR)")
    parser.add_argument("--host", help="bind address (LLMSERVER_HOST)")
    parser.add_argument("--port", type=int, help="port (LLMSERVER_PORT)")
    parser.add_argument("--n-ctx", type=int, help="context size in tokens (LLM_N_CTX)")
    parser.add_argument("--threads", type=int, help="CPU threads (LLM_THREADS)")
    parser.add_argument("--parallel", type=int,
                        help="requests generated at once, llama-server engine (LLM_PARALLEL)")
    parser.add_argument("--engine", choices=["llama-server", "llama-cpp-python"],
                        help="inference engine (LLM_ENGINE)")
    args = parser.parse_args(arguments)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)

    # Nothing may reach a model hub at run time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logs.setup(settings.log_level, settings.log_format)

    # A crash inside llama.cpp (in-process engine) leaves at least a stack on stderr.
    faulthandler.enable()
    server: uvicorn.Server | None = None
    failure: list[str] = []

    def stop_serving(message: str) -> None:
        failure.append(message)
        if server is not None:
            server.should_exit = True

    gateway = Gateway(settings, on_fatal=stop_serving)
    # log_config=None: uvicorn's records go to the handler above, in the same format.
    config = uvicorn.Config(
        gateway, host=settings.host, port=settings.port, log_level="warning", lifespan="on",
        log_config=None,
    )
    server = uvicorn.Server(config)
    print(
        f"llmserver: OpenAI API at http://{settings.host}:{settings.port}/v1 "
        f"(GET /health turns 200 once the model is loaded)",
        flush=True,
    )
    # uvicorn re-raises the Ctrl-C it handled; for us that is a clean stop.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if failure:
        print(f"llmserver: stopped: {failure[0]}", file=sys.stderr, flush=True)
        # Skip the interpreter's shutdown, which could tear modules down under native code
        # still running in a loader thread.
        sys.stdout.flush()
        os._exit(1)


if __name__ == "__main__":
    main()
