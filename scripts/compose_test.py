"""`make compose-test`: build docker-compose.yml's images and run the product for real.

Opt-in, not part of `make test`: it needs a Docker engine and Compose (on these machines
`../shared/tools/docker-here` provides both) and takes from minutes (images cached) to half
an hour (llama.cpp compiled). Over 127.0.0.1 only, under a compose project of its own that it
removes at the end (volumes included), it checks, printing each step and its time:

  build          `docker-compose build`; the image's size, and no torch in it
  up             `up -d` until llmserver, chroma and chatbot report healthy
  stream         an answer streamed over the chatbot's Socket.IO (WebSocket)
  ingest         a document and a scanned PDF (read by the image's tesseract) uploaded as
                 the page does, into the Chroma container, then a grounded answer whose
                 `done` cites the document
  restart        `restart chatbot`: the conversation is still there (history on reconnect)
  down/up        `down` then `up -d`: the conversation and the collection are still there
  backup         the data volumes archived with the documented `docker run ... tar` command
  restore        the archives restored into fresh volumes of another project, which serves
                 the same conversation and collection
  scale          (--scale, or SCALE=1) the scale profile: an answer through nginx over
                 WebSocket, and an answer asked on instance A streamed to a tab on instance B

Builds reach PyPI only here, not PyTorch's index: with TORCH_WHEELS (default /opt/wheels,
when it holds a torch wheel) that folder is served over HTTP on the Docker bridge for the
build (build argument TORCH_FIND_LINKS). Elsewhere the Dockerfile's default index is used.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test harness, beside scripts/ (not an installed package)

from harness.documents import scanned_pdf  # noqa: E402
from harness.socketclient import ChatClient  # noqa: E402
from harness.uploads import finished, upload  # noqa: E402

SERVICES = ("llmserver", "chroma", "chatbot")
SCALE_SERVICES = ("llmserver", "chroma", "redis", "chatbot-a", "chatbot-b", "proxy")
# Archived and restored; `models` is not: the default model is assembled again on start.
DATA_VOLUMES = ("chat-data", "chroma-data")
TOOLBOX = "debian:bookworm-slim"
DOCUMENT = ("zorblax.md", b"# Zorblax lighthouse\n\nThe Zorblax lighthouse on Quimby island is "
            b"painted bright violet and stands 43 metres tall. Its lamp was first lit in 1891.")
TITLE = "Zorblax lighthouse"
QUESTION = "What colour is the Zorblax lighthouse on Quimby island?"
COLLECTION = "deploy"
SCANNED = ("logbook.pdf", scanned_pdf(["The lighthouse keeper counted",
                                       "seventeen schooners passing Kerrow Point."]))


class Failed(Exception):
    """A step did not do what it should; the message says what happened instead."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


class Steps:
    """Prints each step with the seconds it took, and keeps the times for the summary."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.times: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        print(f"--- {name}", flush=True)
        start = time.monotonic()
        try:
            yield
        except BaseException:
            print(f"FAILED {name} after {time.monotonic() - start:.1f} s", flush=True)
            raise
        self.times[name] = time.monotonic() - start
        print(f"ok  {name}: {self.times[name]:.1f} s", flush=True)

    def note(self, text: str) -> None:
        print(f"    {text}", flush=True)


class Compose:
    """docker-compose for one project, with this checkout's compose file."""

    def __init__(self, project: str, env: dict[str, str]) -> None:
        self.project = project
        self.env = env

    def __call__(self, *args: str, capture: bool = False, check: bool = True,
                 timeout: float = 3600) -> str:
        result = subprocess.run(["docker-compose", "-p", self.project, *args], cwd=ROOT,
                                env=self.env, text=True, timeout=timeout, check=False,
                                stdout=subprocess.PIPE if capture else None)
        if check and result.returncode != 0:
            raise Failed(f"docker-compose {' '.join(args)} exited with {result.returncode}")
        return result.stdout or ""

    def volume(self, name: str) -> str:
        return f"{self.project}_{name}"

    def wait_healthy(self, services: tuple[str, ...], timeout: float) -> None:
        """Until every service's container reports healthy (Compose 1.29 has no --wait)."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            for service in services:
                ids = self("ps", "-q", service, capture=True).split()
                states[service] = docker("inspect", "-f", "{{.State.Status}} "
                                         "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
                                         ids[0]).strip() if ids else "missing"
                if states[service].startswith(("exited", "dead")):
                    self("logs", "--tail", "40", service, check=False)
                    raise Failed(f"{service} stopped: {states[service]}")
            if all(state == "running healthy" for state in states.values()):
                return
            time.sleep(2)
        self("logs", "--tail", "40", check=False)
        raise Failed(f"not healthy within {timeout:.0f} s: {states}")


def docker(*args: str) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Failed(f"docker {' '.join(args[:3])}...: {result.stderr.strip()}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Not a line per wheel request among the build's output."""


@contextlib.contextmanager
def wheel_server(folder: Path, port: int) -> Iterator[str]:
    """`folder` served over HTTP on the Docker bridge, where build containers reach the host.
    A fixed port: the URL is a build argument, and a new one would rebuild its layers."""
    config = json.loads(docker("network", "inspect", "bridge"))[0]["IPAM"]["Config"][0]
    # Docker gives the bridge the subnet's first address unless told otherwise.
    address = config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer((address, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def answer(client: ChatClient, text: str, timeout: float = 300) -> tuple[str, dict[str, Any]]:
    reply, (_, event, done) = client.ask(text, timeout=timeout)
    check(event == "done", f"{event} instead of an answer: {done}")
    return reply, done


def command(client: ChatClient, text: str) -> str:
    start = client.send(text)
    return str(client.wait("notice", since=start, timeout=60)[2]["text"])


def history(base_url: str, cookie: str) -> list[dict[str, Any]]:
    with ChatClient(base_url, cookie=cookie) as client:
        return list(client.wait("history")[2]["messages"])


def check_conversation(base_url: str, cookie: str, where: str) -> None:
    messages = history(base_url, cookie)
    asked = [m["content"] for m in messages if m["role"] == "user"]
    cited = [s["title"] for m in messages if m["role"] == "assistant"
             for s in m.get("sources") or []]
    check(QUESTION in asked and TITLE in cited,
          f"{where}: the conversation is not there (questions {asked}, sources {cited})")


def check_collection(base_url: str, cookie: str, where: str) -> None:
    with ChatClient(base_url, cookie=cookie) as client:
        listing = command(client, "/rag list")
        check(f"`{COLLECTION}`" in listing, f"{where}: no collection {COLLECTION}: {listing}")
        _, done = answer(client, f"/rag {QUESTION}")
    titles = [s["title"] for s in done["sources"]]
    check(titles[:1] == [TITLE], f"{where}: the answer cites {titles}, not {TITLE}")


def check_stopped(compose: Compose) -> str:
    """Every service ended on its SIGTERM, none killed at the end of the grace period."""
    codes = {}
    for service in SERVICES:
        ids = compose("ps", "-q", service, capture=True).split()
        codes[service] = int(docker("inspect", "-f", "{{.State.ExitCode}}", ids[0]))
    check(137 not in codes.values(), f"killed after the grace period (exit codes {codes})")
    return ", ".join(f"{service} exited {code}" for service, code in codes.items())


def backup(compose: Compose, folder: Path) -> None:
    """The documented command: each volume archived by a throwaway container."""
    for name in DATA_VOLUMES:
        docker("run", "--rm", "-v", f"{compose.volume(name)}:/data:ro",
               "-v", f"{folder}:/backup", TOOLBOX,
               "tar", "-C", "/data", "-czf", f"/backup/{name}.tar.gz", ".")


def restore(compose: Compose, folder: Path) -> None:
    for name in DATA_VOLUMES:
        docker("volume", "create", compose.volume(name))
        docker("run", "--rm", "-v", f"{compose.volume(name)}:/data",
               "-v", f"{folder}:/backup:ro", TOOLBOX,
               "tar", "-C", "/data", "-xzf", f"/backup/{name}.tar.gz")


# A tab on one instance, run inside that instance's container (the instances are reachable
# only through nginx, whose ip_hash would send every tab of this machine to the same one).
TAB = """
import sys, threading, socketio
cookie, mode = sys.argv[1], sys.argv[2]
done, tokens = threading.Event(), []
sio = socketio.Client(reconnection=False)
sio.on("token", lambda data: tokens.append(data["text"]))
sio.on("done", lambda data: done.set())
sio.on("error", lambda data: (print("error", data, flush=True), done.set()))
sio.connect("http://127.0.0.1:5000", headers={"Cookie": cookie}, transports=["websocket"],
            wait_timeout=10)
print("connected", flush=True)
if mode == "ask":
    sio.emit("message", {"text": sys.argv[3]})
print("tokens", len(tokens) if done.wait(300) else -1, flush=True)
sio.disconnect()
"""


def scale(compose: Compose, steps: Steps, port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    with steps("scale-up: build redis and nginx, up, all six healthy"):
        compose("--profile", "scale", "build", "redis", "proxy")
        compose("--profile", "scale", "up", "-d", "proxy")
        compose.wait_healthy(SCALE_SERVICES, timeout=600)
    with steps("scale-proxy: an answer through nginx over WebSocket"), \
            ChatClient(base) as client:
        reply, done = answer(client, "Say hello.")
        check(bool(reply), f"an empty answer through nginx: {done}")
        cookie = client.cookie
        steps.note(f"{done['usage'].get('completion_tokens')} tokens through the proxy")
    with steps("scale-instances: asked on instance A, streamed to a tab on B"):
        exec_tab = ["docker-compose", "-p", compose.project, "--profile", "scale", "exec", "-T"]
        listener = subprocess.Popen([*exec_tab, "chatbot-b", "python", "-c", TAB, cookie,
                                     "listen"], cwd=ROOT, env=compose.env, text=True,
                                    stdout=subprocess.PIPE)
        try:
            assert listener.stdout is not None
            check(listener.stdout.readline().strip() == "connected", "tab B did not connect")
            asked = subprocess.run([*exec_tab, "chatbot-a", "python", "-c", TAB, cookie, "ask",
                                    "Count to five."], cwd=ROOT, env=compose.env, text=True,
                                   capture_output=True, timeout=360, check=False)
            seen = listener.communicate(timeout=360)[0]
        finally:
            if listener.poll() is None:
                listener.kill()
        sent = asked.stdout.splitlines()[-1:] if asked.stdout else [asked.stderr]
        check(sent[0].startswith("tokens ") and int(sent[0].split()[1]) > 0,
              f"tab A: {asked.stdout}{asked.stderr}")
        received = seen.split()
        check(received[-2:-1] == ["tokens"] and int(received[-1]) > 0, f"tab B saw: {seen}")
        steps.note(f"tab A streamed {sent[0].split()[1]} tokens, tab B {received[-1]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="store_true", default=os.getenv("SCALE") == "1",
                        help="also run the scale profile (two chatbots, Redis, nginx)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the projects and their volumes up, to look at them")
    args = parser.parse_args(argv)
    if shutil.which("docker-compose") is None or subprocess.run(
            ["docker", "info"], capture_output=True, check=False).returncode != 0:
        print("compose-test needs a running Docker engine and docker-compose "
              "(here: ../shared/tools/docker-here).", file=sys.stderr)
        return 2

    project = f"lcct{secrets.token_hex(3)}"
    port, scale_port = free_port(), free_port()
    env = {**os.environ, "COMPOSE_PROJECT_NAME": project, "CHATBOT_PORT": str(port),
           "SCALE_PORT": str(scale_port), "SECRET_KEY": secrets.token_hex(32),
           # Compose 1.29 builds with the classic builder; pin it, for the layer cache.
           "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
    # The restored project runs beside the first: its `edge` network needs a subnet of its
    # own (Docker refuses two networks on one address range).
    restored_env = {**env, "SCALE_SUBNET": "172.31.251.0/24",
                    "SCALE_IP_RANGE": "172.31.251.128/25", "SCALE_PROXY_ADDRESS": "172.31.251.10"}
    compose, restored = Compose(project, env), Compose(f"{project}restored", restored_env)
    base = f"http://127.0.0.1:{port}"
    steps = Steps()
    wheels = Path(os.getenv("TORCH_WHEELS", "/opt/wheels"))
    print(f"compose-test: project {project}, chat on {base}", flush=True)
    try:
        with contextlib.ExitStack() as stack:
            if any(wheels.glob("torch-*.whl")):
                env["TORCH_FIND_LINKS"] = stack.enter_context(
                    wheel_server(wheels, int(os.getenv("TORCH_WHEELS_PORT", "8765"))))
                steps.note(f"torch from {wheels}, served at {env['TORCH_FIND_LINKS']}")
            with steps("build"):
                compose("build")
        image = env.get("LOCALCHAT_IMAGE", "localchat:latest")
        size = int(docker("image", "inspect", "-f", "{{.Size}}", image))
        steps.note(f"{image}: {size / 1e9:.2f} GB")
        torch = subprocess.run(["docker", "run", "--rm", image, "pip", "show", "torch"],
                               capture_output=True, check=False)
        check(torch.returncode != 0, "torch is installed in the image")
        steps.note("pip show torch: not installed")

        with steps("up: llmserver, chroma, chatbot healthy"):
            compose("up", "-d")
            compose.wait_healthy(SERVICES, timeout=900)

        with steps("stream: an answer over Socket.IO"), ChatClient(base) as client:
            reply, done = answer(client, "Say hello.")
            check(bool(reply), f"an empty answer: {done}")
            cookie = client.cookie
            steps.note(f"{done['usage'].get('completion_tokens')} tokens, "
                       f"{done['tokens_per_s']:.1f} tokens/s")

        with steps("ingest: upload into Chroma, a grounded answer"), \
                ChatClient(base, cookie=cookie) as client:
            summary = finished(client, upload(client, [DOCUMENT, SCANNED], COLLECTION),
                               timeout=300)
            # A scanned page gives text only if the image's tesseract read it.
            check(summary["state"] == "done" and not summary["summary"]["failed"],
                  f"the upload failed: {summary}")
            check("RAG is on" in command(client, f"/rag on {COLLECTION} 3"), "no RAG")
            _, done = answer(client, QUESTION)
            titles = [s["title"] for s in done["sources"]]
            check(titles[:1] == [TITLE], f"the answer cites {titles}, not {TITLE}")
            steps.note(f"sources: {titles}")

        with steps("restart: `restart chatbot`, the conversation is still there"):
            compose("restart", "chatbot")
            compose.wait_healthy(SERVICES, timeout=300)
            check_conversation(base, cookie, "after the restart")

        with steps("down-up: the conversation and the collection are still there"):
            compose("down")
            compose("up", "-d")
            compose.wait_healthy(SERVICES, timeout=900)
            check_conversation(base, cookie, "after down and up")
            check_collection(base, cookie, "after down and up")

        folder = Path(tempfile.mkdtemp(prefix="compose-test-backup-"))
        try:
            with steps("backup: the data volumes, services stopped"):
                stopping = time.monotonic()
                compose("stop")
                steps.note(f"stop: {time.monotonic() - stopping:.1f} s; " + check_stopped(compose))
                backup(compose, folder)
                steps.note(", ".join(f"{p.name} {p.stat().st_size / 1e3:.0f} kB"
                                     for p in sorted(folder.iterdir())))
            with steps("restore: fresh volumes, another project, same data"):
                restore(restored, folder)
                restored("up", "-d")
                restored.wait_healthy(SERVICES, timeout=900)
                check_conversation(base, cookie, "restored")
                check_collection(base, cookie, "restored")
            restored("down", "-v")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

        if args.scale:
            scale(compose, steps, scale_port)
        else:
            print("--- scale: not run (--scale or SCALE=1 runs it)", flush=True)
    except (Failed, TimeoutError, httpx.HTTPError, subprocess.TimeoutExpired) as e:
        print(f"compose-test FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            for each in (restored, compose):
                each("--profile", "scale", "down", "-v", "--remove-orphans", check=False,
                     capture=True)
    total = time.monotonic() - steps.started
    print("compose-test passed in " + f"{total:.0f} s: " +
          ", ".join(f"{name.split(':')[0]} {t:.0f} s" for name, t in steps.times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
