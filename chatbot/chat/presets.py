"""Presets ("assistants"): a named system prompt with its sampling settings (temperature,
top_p, answer length), a model and a collection to answer from, which a new conversation
copies.

A preset is its owner's (a browser with accounts off, a user with AUTH on). An admin may
share one: every user may then start from it, and only admins change it. A conversation
started from a preset takes a copy of its settings and records which preset, under its name
then (db/presets.py): changing or deleting the preset later leaves the conversation as it
was.

What a request may carry is checked here, each refusal a sentence to show: known fields
only, a name of 1 to NAME_CHARS characters, ChatSettings' bounds, a model the server offers
(and with accounts on only an admin's choice, as for a conversation), a collection its
users may read, a system prompt that leaves the model room to answer, at most MAX_PRESETS
per owner.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from chatbot.accounts.viewer import Viewer
from chatbot.chat.llm import LLMClient
from chatbot.chat.model_picker import SWITCH_NOT_ALLOWED, ModelPicker
from chatbot.db.presets import Preset, PresetStore
from chatbot.documents.library import Library
from chatbot.errors import BadPayload, Refused, first_error
from chatbot.settings import ChatSettings, Settings

MAX_PRESETS = 50
NAME_CHARS = 80
# The conversation settings a preset sets; beside them, `collection` (None: no documents).
FIELDS = ("system_prompt", "temperature", "top_p", "max_tokens", "model")
COLLECTION_CHARS = 200  # as a conversation's `rag_collection`
# The system prompt goes with every question: past this share of the model's context too
# little is left for the question, the earlier messages and the answer (chat/budget.py).
SYSTEM_SHARE = 0.5
MISSING = "That preset no longer exists."


def public(preset: Preset, viewer: Viewer) -> dict[str, Any]:
    """A preset as the `presets` event lists it."""
    return {"id": preset.id, "name": preset.name, **preset.settings, "shared": preset.shared,
            "yours": preset.owner == viewer.key,
            "can_edit": viewer.can_edit_preset(preset.owner, preset.shared)}


class Presets:
    def __init__(self, settings: Settings, rows: PresetStore, llm: LLMClient,
                 library: Library, picker: ModelPicker):
        self.settings = settings
        self.rows = rows
        self.llm = llm
        self.library = library
        self.picker = picker

    def listing(self, viewer: Viewer) -> dict[str, Any]:
        """The `presets` event."""
        return {"presets": [public(p, viewer) for p in self.rows.visible(viewer.key)],
                "can_share": viewer.can_share(), "max": MAX_PRESETS}

    def find(self, viewer: Viewer, data: dict[str, Any]) -> Preset:
        """The preset `data["id"]` names, if `viewer` may start from it: another user's
        private preset is answered as one that does not exist."""
        preset_id = data.get("id")
        if not isinstance(preset_id, str):
            raise BadPayload("Malformed request: `id` must be a preset's id from `presets`.")
        preset = self.rows.get(preset_id)
        if preset is None or not viewer.can_use_preset(preset.owner, preset.shared):
            raise BadPayload(MISSING)
        return preset

    def create(self, viewer: Viewer, data: dict[str, Any]) -> Preset:
        name, settings, shared = self._checked(viewer, data, None)
        return self.rows.add(viewer.key, name, settings, shared, MAX_PRESETS)

    def update(self, viewer: Viewer, data: dict[str, Any]) -> tuple[Preset, Preset]:
        """The preset before and after; fields the request leaves out keep their value."""
        before = self._editable(viewer, data)
        name, settings, shared = self._checked(viewer, data, before)
        after = Preset(before.id, before.owner, name, settings, shared)
        self.rows.replace(after)
        return before, after

    def delete(self, viewer: Viewer, data: dict[str, Any]) -> Preset:
        preset = self._editable(viewer, data)
        self.rows.delete(preset.id)
        return preset

    def start(self, viewer: Viewer, data: dict[str, Any]) -> tuple[Preset, ChatSettings]:
        """The preset and the settings of a conversation started from it, once what it
        names is still there for `viewer`: its model offered (a shared preset's model was an
        admin's choice, so any user may start on it), its collection readable."""
        preset = self.find(viewer, data)
        model, collection = preset.settings.get("model"), preset.settings.get("collection")
        if model is not None:
            allowed = preset.shared or viewer.can_manage_models()
            problem = self.picker.offered_problem(model) if allowed else SWITCH_NOT_ALLOWED
            if problem:
                raise Refused(f"Cannot start from “{preset.name}”: {problem}")
        if collection is not None and self.library.find(collection, viewer) is None:
            raise Refused(f"Cannot start from “{preset.name}”: its collection "
                          f"`{collection}` is no longer there for you.")
        chat = ChatSettings.defaults(self.settings).model_copy(update={
            **{k: preset.settings[k] for k in FIELDS if k in preset.settings},
            "rag": collection is not None, "rag_collection": collection})
        return preset, chat

    def link(self, conversation_id: str, preset: Preset) -> None:
        self.rows.link(conversation_id, preset)

    def of_conversation(self, conversation_id: str) -> dict[str, str] | None:
        """{"id", "name"} of the preset the conversation was started from, or None."""
        return self.rows.of_conversation(conversation_id)

    def _editable(self, viewer: Viewer, data: dict[str, Any]) -> Preset:
        preset = self.find(viewer, data)
        if not viewer.can_edit_preset(preset.owner, preset.shared):
            raise Refused("Only an admin can change a shared preset.")
        return preset

    def _checked(self, viewer: Viewer, data: dict[str, Any], before: Preset | None
                 ) -> tuple[str, dict[str, Any], bool]:
        """(name, settings, shared) of the preset `data` makes of `before` (None: a new
        one), or the refusal."""
        known = {"name", "shared", "collection", *FIELDS, *(("id",) if before else ())}
        unknown = sorted(k[:40] for k in data if k not in known)
        if unknown:
            raise BadPayload(f"Malformed preset: unknown field `{unknown[0]}`.")
        defaults = ChatSettings.defaults(self.settings).model_dump(include=set(FIELDS))
        old: dict[str, Any] = (before.settings if before else
                               {**defaults, "collection": None})
        name = data.get("name", before.name if before else None)
        if not isinstance(name, str) or not 0 < len(name.strip()) <= NAME_CHARS:
            raise BadPayload(f"A preset needs a name of 1 to {NAME_CHARS} characters.")
        shared = data.get("shared", before.shared if before else False)
        if not isinstance(shared, bool):
            raise BadPayload("Malformed preset: `shared` must be true or false.")
        collection = data.get("collection", old.get("collection"))
        if collection == "":
            collection = None
        if collection is not None and (not isinstance(collection, str)
                                       or len(collection) > COLLECTION_CHARS):
            raise BadPayload("Malformed preset: `collection` must be a collection name or "
                             "null.")
        try:
            chat = ChatSettings(**{**defaults, **{k: old[k] for k in FIELDS if k in old},
                                   **{k: data[k] for k in FIELDS if k in data}})
        except ValidationError as exc:
            raise BadPayload(f"Invalid preset: {first_error(exc)}") from exc
        settings = {**chat.model_dump(include=set(FIELDS)), "collection": collection}

        if shared and not (before and before.shared) and not viewer.can_share():
            raise Refused("Only an admin can share a preset (with accounts on).")
        if chat.model is not None and chat.model != old.get("model"):
            problem = self.picker.switch_problem(viewer, chat.model)
            if problem:
                raise Refused(problem)
        if collection is not None:
            self._check_collection(viewer, collection, shared)
        if settings["system_prompt"] != old.get("system_prompt") or chat.model != old.get(
                "model"):
            self._check_room(settings["system_prompt"], chat.model)
        return name.strip(), settings, shared

    def _check_collection(self, viewer: Viewer, name: str, shared: bool) -> None:
        info = self.library.find(name, viewer)
        if info is None:
            raise Refused(f"No collection `{name}`.")
        if shared and viewer.name is not None and not info.shared:
            raise Refused(f"A shared preset answers its users from a collection they may "
                          f"read: share `{name}` first, or choose a shared one.")

    def _check_room(self, system_prompt: str, model: str | None) -> None:
        tokens = self.llm.count_tokens(system_prompt, model)
        limit = int(self.llm.n_ctx() * SYSTEM_SHARE)
        if tokens > limit:
            raise Refused(f"The system prompt is too long for the model: about {tokens} "
                          f"tokens, at most {limit} (half its context, leaving the rest for "
                          "the question, earlier messages and the answer).")
