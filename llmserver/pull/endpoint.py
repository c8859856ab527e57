"""`llmserver pull` started over HTTP, for the chat page's model picker.

`POST /v1/models/pull {"model": NAME or OWNER/REPO/FILE.gguf}` starts one pull (409 while
another runs), `GET /v1/models/pull` says how it goes, `GET /v1/models/pull/catalog` lists the
curated models. The pull is the CLI itself in a child process: the server sets
HF_HUB_OFFLINE for itself (nothing it loads may reach a hub by accident), and only the child,
run because someone asked for this download, goes online. Progress is the size of what the
child has written into `MODELS_DIR/.pull/<alias>/` against the byte count it prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from starlette.types import Scope, Send

from llmserver import errors
from llmserver.errors import ApiError, send_json
from llmserver.names import UnsafeName, inside
from llmserver.pull.sources import CURATED, PullError, resolve

PULL_PATH = "/v1/models/pull"
CATALOG_PATH = "/v1/models/pull/catalog"
# The CLI's "Pulling OWNER/REPO/FILE (400 MB, 400123456 bytes) into ..." line.
SIZE = re.compile(r", (\d+) bytes\)")
ERROR_PREFIX = "llmserver pull: "
# Switches the server sets for itself that would stop the child from downloading.
OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class Pulls:
    """One pull at a time; `on_pulled(alias)` runs (in the pull's thread) once its GGUF is
    saved, so the server can offer it."""

    def __init__(self, models_dir: Path, on_pulled: Callable[[str], None]):
        self.models_dir = models_dir
        self._on_pulled = on_pulled
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"model": None, "state": "idle", "bytes": 0, "total": 0}

    async def answer(self, scope: Scope, body: bytes | None, send: Send) -> None:
        """Any of the three routes; `body`: a POST's (None when over the gateway's limit)."""
        if scope["path"] == CATALOG_PATH:
            await send_json(send, 200, {"models": catalog()})
        elif scope["method"] == "POST":
            await send_json(send, 202, self.start(_model_of(body)))
        else:
            await send_json(send, 200, self.state())

    def start(self, spec: str) -> dict[str, Any]:
        """Begin pulling `spec`; its first state. Raises ApiError for a name that cannot
        be pulled (400) or while another pull runs (409)."""
        try:
            source = resolve(spec, None)
        except PullError as exc:
            raise errors.bad_request(str(exc), param="model") from None
        with self._lock:
            if self._state["state"] == "running":
                raise ApiError(409, f"{self._state['model']} is being pulled; one pull at "
                               "a time", code="pull_in_progress")
            self._state = {"model": spec, "state": "running", "bytes": 0, "total": 0,
                           "alias": source.alias}
        threading.Thread(target=self._run, args=(spec, source.alias), daemon=True,
                         name=f"pull {source.alias}").start()
        return self.state()

    def state(self) -> dict[str, Any]:
        with self._lock:
            state = dict(self._state)
        if state["state"] == "running":
            try:
                state["bytes"] = _written(inside(self.models_dir, ".pull", state["alias"]))
            except UnsafeName:  # never, once resolve() has checked the alias
                state["bytes"] = 0
        return state

    def _run(self, spec: str, alias: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in OFFLINE_SWITCHES}
        # Progress is read from the staging folder; the child's bars would only fill a pipe.
        env["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        with tempfile.TemporaryFile("w+", encoding="utf-8") as stderr:
            child = subprocess.Popen(
                # `--`: whatever the name, the command line takes it as the name, never
                # as an option.
                [sys.executable, "-m", "llmserver", "pull",
                 "--models-dir", str(self.models_dir), "--", spec],
                env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
            assert child.stdout is not None
            for line in child.stdout:
                found = SIZE.search(line)
                if found:
                    with self._lock:
                        self._state["total"] = int(found.group(1))
            failed = child.wait() != 0
            problem = _last_line(stderr) if failed else ""
        if not failed:
            try:
                self._on_pulled(alias)
            # A saved file the server cannot offer (SystemExit: discover's own message).
            except (Exception, SystemExit) as exc:
                failed, problem = True, f"{alias} was saved but cannot be offered: {exc}"
        with self._lock:
            total = self._state["total"]
            self._state.update(state="failed" if failed else "done",
                               bytes=0 if failed else total)
            if failed:
                self._state["error"] = problem or "the pull failed"


def catalog() -> list[dict[str, str]]:
    return [{"name": name, "size": model.size, "description": model.about,
             "source": f"{model.repo}/{model.file}"} for name, model in CURATED.items()]


def _written(staging: Path) -> int:
    """Bytes the child has written so far (huggingface_hub's `.incomplete` file among them)."""
    total = 0
    for path in staging.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:  # renamed or removed while counted
            continue
    return total


def _last_line(stream: IO[str]) -> str:
    stream.seek(0)
    lines = [line.strip() for line in stream.read().splitlines() if line.strip()]
    return lines[-1].removeprefix(ERROR_PREFIX) if lines else ""


def _model_of(body: bytes | None) -> str:
    if body is None:
        raise errors.bad_request("The request body is too large.", param="model")
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        request = None
    model = request.get("model") if isinstance(request, dict) else None
    if not isinstance(model, str) or not model.strip():
        raise errors.bad_request('Expected a JSON object {"model": NAME or '
                                 'OWNER/REPO/FILE.gguf}.', param="model")
    return model.strip()
