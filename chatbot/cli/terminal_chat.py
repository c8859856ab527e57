"""One terminal conversation (`chatbot chat`, see terminal.py): lines typed in, answers
streamed to standard output.

An answer is assembled by the page's own parts (answering.py and what it runs,
streaming.py, transcript.py), so a conversation is fitted into the model's context, grounded
and stored exactly as on the page; only the socket is replaced by standard output.

The conversation lives in an in-memory store, not in DATA_DIR: a terminal chat is a client
of the LLM server, like a shell session, and needs no writable data folder; nor does it
appear among (or, when accounts are turned on, get handed over with) the page's
conversations. `/reset` starts a new one; quitting forgets it.

The answer streams in the main thread, so Ctrl-C interrupts the read itself: the upstream
stream is closed at once (the server stops generating), even while it is silent.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TextIO

from chatbot.accounts.viewer import Viewer
from chatbot.chat import commands
from chatbot.chat.answering import FAILED, Answering, Ask, Written
from chatbot.chat.grounding import Grounding, OneOff
from chatbot.chat.llm import LLMClient
from chatbot.chat.prompt import PromptBuilder
from chatbot.chat.streaming import Generation, Streamer
from chatbot.chat.transcript import Ending, Transcript
from chatbot.chat.whole import Whole
from chatbot.cli.terminal_text import HELP, RAG_WITHOUT_USER, markdown_to_text, sources_text
from chatbot.db.store import Store
from chatbot.documents.library import Library
from chatbot.errors import LLMError, MessageTooLong
from chatbot.metrics import Metrics
from chatbot.settings import ChatSettings, Settings

log = logging.getLogger("chatbot.cli.terminal")

OWNER = "terminal"
# commands.py's that make sense without a page.
SHARED_COMMANDS = ("set", "model", "rag", "version")


class TerminalChat:
    def __init__(self, settings: Settings, llm: LLMClient, library: Library,
                 viewer: Viewer, documents: bool, chat: ChatSettings, out: TextIO):
        self.settings = settings
        self.llm = llm
        self.library = library
        self.viewer = viewer
        self.documents = documents  # False: accounts are on and no --user was given
        self.out = out
        self.store = Store(Path(":memory:"))
        metrics = Metrics()
        self.transcript = Transcript(self.store, metrics, self._emit)
        self.answering = Answering(
            settings, llm, Grounding(settings, self.store, library, metrics, self._emit,
                                     Whole(llm, library, settings.data_dir)),
            PromptBuilder(self.store, self.transcript, metrics, self._emit))
        # Every piece printed as it comes: a terminal write is cheap, unlike a socket frame.
        self.streamer = Streamer(self._emit, metrics, 0)
        self.conversation = self.store.create(OWNER, chat.model_dump())
        self._line_open = False  # the cursor is after streamed text, not at a line start
        # True until the answer's first visible character: the whitespace models often
        # start with is not printed, so that the answer starts at the line's start.
        self._answer_fresh = False
        # A reasoning model's thoughts are not printed (they may run for pages): one line
        # says it is thinking, the answer follows on its own lines.
        self._thinking_shown = False

    def close(self) -> None:
        self.store.close()

    # Output ---------------------------------------------------------------------------

    def _emit(self, event: str, payload: dict[str, Any], _room: str) -> None:
        if event == "token":
            text = payload["text"].lstrip() if self._answer_fresh else payload["text"]
            if self._answer_fresh and text.startswith("> "):
                # A quote from the documents: "> " would read as the input prompt here.
                text = "│ " + text[2:]
            if text:
                self._answer_fresh = False
                self._write(text)
        elif event == "reasoning" and not self._thinking_shown:
            self._thinking_shown = True
            self.say("(thinking…)")
        elif event == "notice":
            self.say(markdown_to_text(payload["text"]))
        elif event == "status" and payload.get("state") == "retrieving":
            self.say(f"(searching {payload.get('collection') or payload.get('url')}…)")

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self._line_open = not text.endswith("\n")

    def say(self, text: str) -> None:
        """`text` on lines of its own."""
        self._write(("\n" if self._line_open else "") + text + "\n")

    # Input ----------------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """Answer or run one line; False when it asks to leave."""
        line = line.strip()
        if not line:
            return True
        if line.startswith("/"):
            return self.command(line)
        self.ask(line)
        return True

    def command(self, line: str) -> bool:
        name, _, args = line[1:].partition(" ")
        name = name.lower()
        if name in ("quit", "exit"):
            return False
        if name == "help":
            self.say(HELP)
        elif name == "reset":
            self.conversation = self.store.create(OWNER, self.conversation.settings)
            self.say("Started a new conversation (settings are kept; /set reset restores "
                     "the defaults).")
        elif name == "rag" and not self.documents:
            self.say(RAG_WITHOUT_USER)
        elif name in SHARED_COMMANDS:
            self._shared(name, args)
        else:
            self.say(f"Unknown command /{name}. Type /help for the list.")
        return True

    def _shared(self, name: str, args: str) -> None:
        words = args.split()
        if name == "rag" and len(words) == 1 and words[0].lower() not in ("on", "off", "list"):
            args = f"on {words[0]}"  # `/rag COLLECTION`: a terminal shorthand
        chat = ChatSettings.load(self.settings, self.conversation.settings)
        reply = commands.run(f"/{name} {args}", commands.Context(
            self.settings, self.llm, chat, self.viewer, self.library))
        if reply.settings is not None:
            self.store.update_settings(self.conversation.id, reply.settings.model_dump())
            self.conversation.settings = reply.settings.model_dump()
        self.say(markdown_to_text(reply.text))
        if reply.ask is not None:
            self.ask(reply.ask, reply.once)

    # One answer -----------------------------------------------------------------------

    def ask(self, text: str, once: OneOff | None = None) -> None:
        """Stream the answer to `text` (grounded by a command's `once`); Ctrl-C stops it
        and keeps what was printed."""
        conversation = self.store.get(OWNER, self.conversation.id) or self.conversation
        generation = Generation(conversation.id, text, self.viewer, once=once)
        done: tuple[Ask, Written] | None = None
        try:
            ask = self.answering.prepare(conversation, generation)
            self._answer_fresh = True
            self._thinking_shown = False
            written = self.answering.write(ask, generation, self.streamer)
            assert written is not None  # nothing to wait for here
            self.answering.conclude(ask, generation)
            ending = self.transcript.close(generation, "done", usage=written.usage,
                                           finish_reason=written.finish_reason)
            done = ask, written
        except KeyboardInterrupt:
            ending = self.transcript.close(generation, "stopped")
        except (LLMError, MessageTooLong) as exc:
            self.streamer.flush(generation)  # what was printed before the failure is kept
            ending = self.transcript.close(generation, "error", error=str(exc))
        except Exception:
            log.exception("answer failed")
            ending = self.transcript.close(generation, "error", error=FAILED)
        if ending is None:
            return
        self._show(generation, ending)
        if done is not None:
            self.answering.count(*done, ending.message_id, generation)

    def _show(self, generation: Generation, ending: Ending) -> None:
        if ending.state == "error":
            self.say(f"error: {ending.error}")
        elif ending.state == "stopped":
            # On the answer's line, after the ^C the terminal echoed.
            self._write(" [stopped]\n")
        else:
            if self._line_open:
                self._write("\n")
            if ending.finish_reason == "length":
                self.say("[cut off at max_tokens: /set max_tokens N allows longer answers]")
            if generation.sources:
                self.say(sources_text(generation.sources))
