"""`make run`: start every service, print where to go, stop them all on Ctrl-C.

A supervisor rather than shell job control: a shell's background jobs ignore Ctrl-C, and
one service dying should stop the others instead of leaving half a product running.
`make run PROD=1` (`--prod`) runs the chatbot under gunicorn as the image does, instead of
the development server.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
from dotenv import load_dotenv

from llmserver.crash import describe_exit

# The chatbot in production, as docker-compose.yml runs it: gunicorn's threaded worker, with
# simple-websocket doing WebSocket, and one worker per instance, as Flask-SocketIO requires
# (a socket's state lives in its worker; more instances need REDIS_URL and a sticky proxy).
# Each open WebSocket holds one of the threads.
GUNICORN_OPTIONS = ["-k", "gthread", "-w", "1", "--threads", "500",
                    "--logger-class", "chatbot.logs.GunicornLogger"]


def gunicorn_command(host: str, port: int | str) -> list[str]:
    """The production chatbot listening on host:port."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [sys.executable, "-m", "gunicorn", *GUNICORN_OPTIONS, "-b", bind,
            "chatbot:create_app()"]


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str
    ready_message: str


def services(prod: bool = False) -> list[Service]:
    llm = f"http://{os.getenv('LLMSERVER_HOST', '127.0.0.1')}:{os.getenv('LLMSERVER_PORT', '8000')}"
    chat_host = os.getenv("CHATBOT_HOST", "127.0.0.1")
    chat_port = os.getenv("CHATBOT_PORT", "5000")
    chat = f"http://{chat_host}:{chat_port}"
    where = f"open {chat}/ in your browser"
    if prod:
        chatbot = Service("chatbot", gunicorn_command(chat_host, chat_port), f"{chat}/healthz",
                          f"chat ready (gunicorn, as in production): {where}")
    else:
        chatbot = Service("chatbot", [sys.executable, "-m", "chatbot"], f"{chat}/healthz",
                          f"chat ready: {where}")
    return [
        Service("llmserver", [sys.executable, "-m", "llmserver"], f"{llm}/health",
                f"OpenAI API ready at {llm}/v1"),
        chatbot,
    ]


def wait_ready(service: Service, proc: subprocess.Popen, timeout: float = 600) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(service.ready_url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start llmserver and the chatbot.")
    parser.add_argument("--prod", action="store_true",
                        help="run the chatbot under gunicorn, as the Docker image does")
    args = parser.parse_args(argv)
    load_dotenv()
    running: list[tuple[Service, subprocess.Popen]] = []
    interrupted = False

    def stop_all(interrupted: bool) -> None:
        # After a Ctrl-C the services have had their SIGINT from the terminal already; a
        # second one would make them skip their clean shutdown (uvicorn's forced exit).
        if not interrupted:
            for _, proc in reversed(running):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
        for _, proc in reversed(running):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    # Ctrl-C reaches the whole process group at once: the services stop on their own, and
    # the supervisor only has to wait for them.
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for service in services(args.prod):
            proc = subprocess.Popen(service.command)
            running.append((service, proc))
            if not wait_ready(service, proc):
                how = describe_exit(proc.returncode) if proc.poll() is not None else "timed out"
                print(f"run: {service.name} did not become ready ({how}); stopping.",
                      file=sys.stderr)
                return 1
            print(f"run: {service.ready_message}", flush=True)
        print("run: press Ctrl-C to stop.", flush=True)
        while all(proc.poll() is None for _, proc in running):
            time.sleep(0.5)
        time.sleep(0.5)  # a Ctrl-C that ended a service is about to reach us too
        dead, proc = next((s, p) for s, p in running if p.poll() is not None)
        print(f"run: {dead.name} {describe_exit(proc.returncode)}; stopping the rest.",
              file=sys.stderr)
        if dead.name == "llmserver" and proc.returncode < 0:
            print("run: that is a crash of the inference engine (llama.cpp) inside llmserver; "
                  "its messages are above. See docs/engine.md for building llama.cpp for "
                  "this CPU.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        interrupted = True
        return 0
    finally:
        stop_all(interrupted)


if __name__ == "__main__":
    sys.exit(main())
