"""The API's refusals in OpenAI's shape, `{"error": {"message", "type", "code"}}`, with the
status OpenAI's clients expect, mapped from the same stable codes the socket sends.
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from webchat.errors import ChatError, ModelUnavailable, QuotaError, UpstreamError

# stable code → (status, OpenAI's error type, OpenAI's error code)
CODES: dict[str, tuple[int, str, str | None]] = {
    "invalid_request": (400, "invalid_request_error", None),
    "context_too_long": (400, "invalid_request_error", "context_length_exceeded"),
    "unauthorized": (401, "authentication_error", "invalid_api_key"),
    "no_plan": (403, "permission_error", "no_plan"),
    "model_unavailable": (403, "permission_error", "model_not_allowed"),
    "not_found": (404, "invalid_request_error", "not_found"),
    "too_large": (413, "invalid_request_error", "request_too_large"),
    "quota_exceeded": (429, "insufficient_quota", "insufficient_quota"),
    "rate_limited": (429, "rate_limit_error", "rate_limit_exceeded"),
    "upstream_rate_limited": (503, "api_error", "upstream_rate_limited"),
    "upstream_unavailable": (503, "api_error", "upstream_unavailable"),
}
# Every other upstream failure: the model service answered something unusable.
UPSTREAM = (502, "api_error", None)


class NoPlan(ChatError):
    code = "no_plan"

    def __init__(self) -> None:
        super().__init__(
            "The account of this API key has no plan, so it cannot call models. "
            "An administrator can give it one."
        )


class TooLarge(ChatError):
    code = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit // (1024 * 1024)} MB.")


def classify(error: ChatError) -> tuple[int, str, str | None]:
    if isinstance(error, ModelUnavailable):
        # Not in the catalog (or disabled): OpenAI's "does not exist".
        return 404, "invalid_request_error", "model_not_found"
    if error.code == "busy":
        if isinstance(error, QuotaError):  # the plan's replies at once
            return 429, "rate_limit_error", "concurrency_limit_exceeded"
        return 503, "api_error", "service_unavailable"  # restarting, or a bug
    if error.code in CODES:
        return CODES[error.code]
    if isinstance(error, UpstreamError):
        return UPSTREAM[0], UPSTREAM[1], error.code
    return 400, "invalid_request_error", error.code


def body(error: ChatError) -> dict[str, Any]:
    _, kind, code = classify(error)
    return {"error": {"message": error.message, "type": kind, "param": None, "code": code}}


def response(error: ChatError, status: int | None = None) -> JsonResponse:
    answer = JsonResponse(body(error), status=status or classify(error)[0])
    if error.retry_after is not None:
        answer["Retry-After"] = str(max(1, round(error.retry_after)))
    return answer
