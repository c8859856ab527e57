"""The settings dialog's model picker: the models offered, and pulls from the page."""

from __future__ import annotations

from typing import Any

from flask_socketio import emit

from chatbot.errors import BadPayload
from chatbot.sockets.base import Client, EventsBase, guarded, refuse_if


class ModelEvents(EventsBase):
    @guarded
    def on_models(self, client: Client, _: dict[str, Any]) -> None:
        emit("models", self.picker.listing(client.viewer))

    @guarded
    def on_pull_model(self, client: Client, data: dict[str, Any]) -> None:
        """{"model"}: pull a curated name or OWNER/REPO/FILE.gguf (admins, with accounts);
        progress comes as `model_pull`, then a new `models`."""
        model = data.get("model")
        if not isinstance(model, str) or not model.strip():
            raise BadPayload("Malformed request: `model` must be a model name.")
        refuse_if(self.picker.pull(client.viewer, model.strip()))
