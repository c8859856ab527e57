"""A local HTTP server standing in for the Hugging Face hub (HF_ENDPOINT): the few endpoints
hf_hub_download uses, answered the way the hub answers them for an LFS file, serving small
real GGUFs; and a real llmserver that pulls from it."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gguf
import numpy as np

from harness.processes import DEFAULT_MODELS_DIR, llmserver
from llmserver.models.discovery import DEFAULT_MODEL_FILE

REPO = "someone/Tiny-GGUF"
FILE = "tiny-Q4_K_M.gguf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# What REPO/FILE is saved as.
ALIAS = "tiny-Q4_K_M"
# The stand-in's GGUF holds no vocabulary, so its yaml gives a chat template: llmserver then
# offers it without opening the file.
CONFIG = 'description: A tiny test model\nchat_template: "{{ messages[0].content }}"\n'


def write_gguf(path: Path, rows: int = 64) -> bytes:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    weights = np.random.default_rng(0).standard_normal((rows, 1024)).astype(np.float32)
    writer.add_tensor("weights", weights)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


@dataclass
class Hub:
    """What the stand-in hub serves and what it was asked."""

    files: dict[str, bytes]  # "owner/repo/file" -> content
    port: int = 0
    # The sha256 it publishes for a file; by default the true one.
    published: dict[str, str] = field(default_factory=dict)
    # Close the connection after this many bytes of the next GET's body.
    cut_next_get_after: int | None = None
    ranges: list[str | None] = field(default_factory=list)
    # While set and not released, a GET sends its headers and waits before the body: a pull
    # stays under way for as long as a test needs.
    hold: threading.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def handler_for(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            found = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path)
            key = f"{found.group(1)}/{found.group(3)}" if found else ""
            if key not in hub.files:
                repo_known = found and any(k.startswith(found.group(1) + "/") for k in hub.files)
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound" if repo_known else "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            content = hub.files[key]
            sha = hub.published.get(key) or hashlib.sha256(content).hexdigest()
            start = 0
            requested = self.headers.get("Range")
            if body:
                hub.ranges.append(requested)
            if body and requested:
                start = int(re.fullmatch(r"bytes=(\d+)-", requested).group(1))
                self.send_response(206)
                self.send_header("Content-Range",
                                 f"bytes {start}-{len(content) - 1}/{len(content)}")
            else:
                self.send_response(200)
            # As the hub answers for an LFS file: the object's sha256 and size in the
            # x-linked headers, the commit the revision resolved to.
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(content)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(content) - start))
            self.end_headers()
            if not body:
                return
            if hub.hold is not None:
                hub.hold.wait(60)
            cut, hub.cut_next_get_after = hub.cut_next_get_after, None
            if cut is None:
                self.wfile.write(content[start:])
                return
            self.wfile.write(content[start:start + cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)

    return Handler



@contextmanager
def serving(hub: Hub) -> Iterator[Hub]:
    """`hub` answering on a loopback port (set in `hub.port`) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(hub))
    hub.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        if hub.hold is not None:
            hub.hold.set()
        server.shutdown()
        server.server_close()


def models_dir_for(tmp: Path, *aliases: str) -> Path:
    """A MODELS_DIR with the packaged model (linked, not copied) and CONFIG for each alias."""
    models = tmp / "models"
    models.mkdir()
    (models / DEFAULT_MODEL_FILE).symlink_to(DEFAULT_MODELS_DIR / DEFAULT_MODEL_FILE)
    for alias in aliases:
        (models / f"{alias}.yaml").write_text(CONFIG, encoding="utf-8")
    return models


@contextmanager
def pulling_llmserver(hub_url: str, models: Path, key: str) -> Iterator[str]:
    """A real llmserver on `models` whose pulls go to the hub at `hub_url`; its base URL."""
    with llmserver(MODELS_DIR=str(models), LLM_API_KEY=key, HF_ENDPOINT=hub_url,
                   NO_PROXY="127.0.0.1,localhost") as url:
        yield url
