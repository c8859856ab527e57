"""A reasoning model's thoughts, told apart from its answer as the stream arrives.

llama-server (with a reasoning format) and vLLM send them in the delta's `reasoning_content`
(some servers: `reasoning`); a server that does not parse them leaves `<think>…</think>` at
the start of the text. Both become `Thought` pieces. The tags may be split across chunks
(`<thi` + `nk>`), so a few characters are held back until they are known to be text or tag;
once the block has closed (or the text did not open one) pieces pass through untouched.
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


class Thought(str):
    """A piece of the model's reasoning, not of its answer."""

    __slots__ = ()


def _partial_tail(text: str, tag: str) -> int:
    """The length of the longest end of `text` that begins `tag`: it may be the tag's start."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Splits `<think>…</think>` off the start of a text fed piece by piece; `done` once
    nothing more can be reasoning (then the caller passes pieces on without it)."""

    def __init__(self) -> None:
        # Pieces at the start not yet known to be answer or tag, kept as they came: each is
        # a token of the answer's count when they turn out to be answer.
        self._start: list[str] = []
        self._held = ""  # the end of the thoughts, perhaps the beginning of `</think>`
        self._state = "start"  # then "thinking", "after" (the answer's leading blanks), done
        self.done = False

    def feed(self, text: str) -> list[str]:
        if self._state == "start":
            self._start.append(text)
            stripped = "".join(self._start).lstrip()
            if OPEN.startswith(stripped):  # blanks, or the tag's beginning: wait for more
                return []
            pieces, self._start = self._start, []
            if not stripped.startswith(OPEN):
                self.done = True
                return pieces
            self._state = "thinking"
            text = stripped[len(OPEN):]
        held = self._held + text
        self._held = ""
        if self._state == "thinking":
            end = held.find(CLOSE)
            if end < 0:
                keep = _partial_tail(held, CLOSE)
                self._held = held[len(held) - keep:] if keep else ""
                thought = held[:len(held) - keep]
                return [Thought(thought)] if thought else []
            self._state = "after"
            thoughts: list[str] = [Thought(held[:end])] if end else []
            return thoughts + self._answer_start(held[end + len(CLOSE):])
        return self._answer_start(held)

    def _answer_start(self, text: str) -> list[str]:
        # The blank lines a model writes after `</think>` are not part of its answer.
        text = text.lstrip()
        if not text:
            return []
        self.done = True
        return [text]

    def end(self) -> list[str]:
        """What is still held when the stream ends: text that only looked like a tag's
        beginning, or the end of reasoning that never closed."""
        if self._state == "start":
            pieces, self._start = self._start, []
            return pieces
        held, self._held = self._held, ""
        return [Thought(held)] if held and self._state == "thinking" else []
