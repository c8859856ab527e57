"""Every failure the chatbot tells someone about, in one place, each a `ChatbotError` whose
message is the sentence shown (to the user in the page or the terminal, or to the operator
for a migration). Raised where the failure is known; caught at the edges: the socket guard
(sockets/base.py), the HTTP routes, the CLI. A service that answers a request with the
sentence to show or None (`Ingests.cancel`, `ModelPicker.pull`) does so where the caller
decides how to show it; the socket events turn such a sentence into `Refused`.

Nothing else reaches a user: an unexpected exception is logged and replaced by a generic
sentence (`chat.answering.FAILED`, the guard's "Something went wrong on the server")."""

from __future__ import annotations

from pydantic import ValidationError


class ChatbotError(Exception):
    """A failure with a message fit to show."""


class Refused(ChatbotError):
    """A request that is well formed but not allowed or not possible now (an upload over a
    limit, a collection that is another user's, a job that is not yours); `status` is its
    HTTP status when it came over HTTP."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class BadPayload(ChatbotError):
    """A socket event whose payload this server cannot act on; the message says what."""


class BadImport(ChatbotError, ValueError):
    """The file to import is not an export; the message says what is wrong."""


class AccountError(ChatbotError, ValueError):
    """A request about accounts that cannot be done; the message says why."""


class Throttled(AccountError):
    def __init__(self, retry_after: int):
        super().__init__(f"Too many failed sign-ins. Try again in {retry_after} seconds.")
        self.retry_after = retry_after


class LLMError(ChatbotError):
    """A failure talking to the LLM server."""


class MessageTooLong(ChatbotError):
    """The new message (with system prompt and context) leaves no room for an answer."""

    def __init__(self, tokens: int, limit: int):
        super().__init__(
            f"Your message is too long for the model's context: about {tokens} tokens, "
            f"at most {limit} fit. Shorten it or start a new conversation.")
        self.tokens = tokens
        self.limit = limit


class StoreFull(ChatbotError):
    """The database could not grow (its disk is full); nothing of the write was kept."""


class BusDown(ChatbotError, RuntimeError):
    """The instances cannot reach each other (REDIS_URL)."""


class MigrationError(ChatbotError, RuntimeError):
    """A schema migration could not be applied; the message names it."""


def first_error(exc: Exception) -> str:
    """The first complaint of a validation (a conversation's or a preset's settings), as
    "field: what is wrong"; anything else was a field that does not exist."""
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return "unexpected fields"
