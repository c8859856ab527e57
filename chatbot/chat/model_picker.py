"""The page's model picker: the models the LLM server offers, and pulling another from
Hugging Face through llmserver (`/v1/models/pull`).

Pulling is for the one local user while accounts are off, and for admins once they are on:
a download of gigabytes into the server's MODELS_DIR is the operator's call. The pull runs in
llmserver; a background task here asks it how it goes about once a second and tells the
asking owner's tabs (`model_pull`), then sends them the new listing (`models`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chatbot.accounts.viewer import Viewer
from chatbot.chat.llm import LLMClient
from chatbot.common import Emit, Spawn, browser_room
from chatbot.errors import LLMError

log = logging.getLogger("chatbot.chat.model_picker")

POLL_S = 1.0
# Polls in a row that may fail (llmserver restarting, a slow answer) before the pull is
# reported lost.
MISSED_POLLS = 5
NOT_ALLOWED = "Only an admin can pull models (with accounts on)."
# One llama-server holds one model: a conversation on another makes it load that one, for
# every user at once.
SWITCH_NOT_ALLOWED = ("Only an admin can switch the model (with accounts on): every "
                      "conversation shares the model the server has loaded.")


class ModelPicker:
    def __init__(self, llm: LLMClient, emit: Emit, spawn: Spawn):
        self.llm = llm
        self.emit = emit
        self.spawn = spawn

    def listing(self, viewer: Viewer, fresh: bool = False) -> dict[str, Any]:
        """The `models` event: {"models": [{"id", "description"}], "current", "can_pull",
        "catalog"}; `current` is the server's default model, "" when it cannot be asked."""
        try:
            offered = self.llm.descriptions(fresh=fresh)
            current = self.llm.default_model()
        except LLMError as exc:
            offered, current = {}, ""
            log.info("no model listing: %s", exc)
        allowed = viewer.can_manage_models()
        return {"models": [{"id": m, "description": d} for m, d in offered.items()],
                "current": current, "can_pull": allowed,
                "catalog": self.llm.pull_catalog() if allowed else []}

    def switch_problem(self, viewer: Viewer, wanted: str | None) -> str | None:
        """Why `viewer` may not make a conversation use model `wanted` (None: the server's
        default, always allowed), or None: it must be one the server offers, and with
        accounts on only admins switch."""
        if wanted is None:
            return None
        if not viewer.can_manage_models():
            return SWITCH_NOT_ALLOWED
        return self.offered_problem(wanted)

    def offered_problem(self, wanted: str) -> str | None:
        """Why a conversation cannot use model `wanted` now (the server does not offer it,
        or cannot be asked), or None."""
        try:
            offered = self.llm.descriptions()
        except LLMError as exc:
            return f"Cannot switch models now: {exc}"
        if wanted not in offered:
            return f"No model `{wanted}` on the server."
        return None

    def pull(self, viewer: Viewer, model: str) -> str | None:
        """Start pulling `model` for `viewer`; why not, as a message for them, or None."""
        if not viewer.can_manage_models():
            return NOT_ALLOWED
        try:
            state = self.llm.pull(model)
        except LLMError as exc:
            return f"Could not pull {model}: {exc}"
        self._tell(viewer, state)
        self.spawn(self._follow, viewer)
        return None

    def _follow(self, viewer: Viewer) -> None:
        missed = 0
        while True:
            time.sleep(POLL_S)
            try:
                state = self.llm.pull_state()
            except LLMError as exc:
                missed += 1
                if missed < MISSED_POLLS:
                    continue
                state = {"state": "failed", "bytes": 0, "total": 0, "error": str(exc)}
            else:
                missed = 0
            self._tell(viewer, state)
            if state.get("state") != "running":
                break
        self.emit("models", self.listing(viewer, fresh=True), browser_room(viewer.key))

    def _tell(self, viewer: Viewer, state: dict[str, Any]) -> None:
        payload = {k: state[k] for k in ("model", "state", "bytes", "total", "error", "alias")
                   if k in state}
        self.emit("model_pull", payload, browser_room(viewer.key))
