"""The one error type: a stable code (DESIGN.md), a sentence for a person, maybe a wait.

Everything a person can be refused, and every way a reply can fail, is a ChatError. The
socket sends `.frame()`; an HTTP view answers `.body()`. Exception text never reaches a
client: only `message`, which is written for a person.

Four things answer with the code `busy`, and they are told apart by type, because only one
of them is worth an immediate retry: ConversationBusy (another reply is being written here;
it may belong to a process that died, which the consumer checks before it retries), a
plan's concurrency limit (a QuotaError), Unavailable (the channel layer or database is
restarting) and InternalError (a bug).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext


class ChatError(Exception):
    code = "invalid_request"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"

    def frame(self, client_id: str | None = None) -> dict[str, Any]:
        """The socket's `error` frame."""
        frame: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.retry_after is not None:
            frame["retry_after"] = round(self.retry_after)
        if client_id is not None:
            frame["client_id"] = client_id
        return frame

    def body(self) -> dict[str, Any]:
        """The HTTP error body."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            error["retry_after"] = round(self.retry_after)
        return {"error": error}


class InvalidRequest(ChatError):
    code = "invalid_request"


class NotFound(ChatError):
    code = "not_found"


class ModelUnavailable(ChatError):
    code = "model_unavailable"


class Unauthorized(ChatError):
    """A call of the API without a key that works: none, wrong, revoked or expired, or its
    person deactivated."""

    code = "unauthorized"
    status = 401


class Refused(ChatError):
    """A POST the CSRF check refused: from a page older than the person's last login (the
    token it holds is stale), without the site's cookie, or sent from another site."""

    code = "invalid_request"
    status = 403


class NotLoggedIn(ChatError):
    """A page's script asking after its login session ended."""

    code = "not_logged_in"
    status = 401


class QuotaError(ChatError):
    """A limit of the person's plan: quota_exceeded, rate_limited, busy (replies at once) or
    model_unavailable (a model the plan leaves out)."""


class StorageFull(QuotaError):
    """The person keeps as much text as their plan allows (a `quota_exceeded` that no
    waiting lifts: deleting conversations does)."""

    code = "quota_exceeded"
    status = 403


class ConversationBusy(ChatError):
    """A reply is already being written in this conversation."""

    code = "busy"

    def __init__(self) -> None:
        super().__init__("A reply is still being written here. Stop it or wait for it.")


class Unavailable(ChatError):
    """A service the app needs (the channel layer, the database) is not answering."""

    code = "busy"

    def __init__(self, message: str | None = None) -> None:
        message = message or gettext(
            "The chat service is restarting. Please try again in a moment."
        )
        super().__init__(message, retry_after=5)


class InternalError(ChatError):
    """Something failed that should not have: logged with its traceback, told as a retry."""

    code = "busy"

    def __init__(self) -> None:
        super().__init__(
            gettext("The server could not handle this just now. Please try again."),
            retry_after=5,
        )


class UpstreamError(ChatError):
    """The model service failed: one of the `upstream_*` codes, and the HTTP status if any."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, retry_after=retry_after)
        self.status = status
        # The prompt's tokens as the upstream counted them, when its error says.
        self.prompt_tokens: int | None = None

    def __repr__(self) -> str:
        return f"UpstreamError({self.code!r}, {self.message!r}, status={self.status})"
