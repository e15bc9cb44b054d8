"""The simulator's errors and faults: AceData's and xAI's error bodies (GROK_API.md §5) and
the ways a stream can break, each produced on request by a `[sim error=…]` or
`[sim fault=…]` directive."""

from typing import Any

# kind → (status, body, extra headers); AceData's and xAI's error bodies (GROK_API.md §5).
ERRORS: dict[str, tuple[int, Any, dict[str, str]]] = {
    "400": (
        400,
        {"success": False, "error": {"code": "bad_request", "message": "bad request"}},
        {},
    ),
    "400-mismatch": (
        400,
        {"success": False, "error": {"code": "token_mismatched", "message": "token mismatched"}},
        {},
    ),
    "400-not-implemented": (
        400,
        {"success": False, "error": {"code": "api_not_implemented", "message": "not implemented"}},
        {},
    ),
    "401": (
        401,
        {"success": False, "error": {"code": "invalid_token", "message": "invalid token"}},
        {},
    ),
    "403": (
        403,
        {"success": False, "error": {"code": "used_up", "message": "balance used up"}},
        {},
    ),
    "403-moderation": (
        403,
        {"success": False, "error": {"code": "forbidden", "message": "content blocked"}},
        {},
    ),
    "404": (404, {"success": False, "error": {"code": "no_api", "message": "no such api"}}, {}),
    "413": (
        413,
        {"success": False, "error": {"code": "request_too_large", "message": "too large"}},
        {},
    ),
    "429": (
        429,
        {"success": False, "error": {"code": "too_many_requests", "message": "slow down"}},
        {},
    ),
    "429-retry": (
        429,
        {"success": False, "error": {"code": "too_many_requests", "message": "slow down"}},
        {"retry-after": "1"},
    ),
    "429-retry-long": (
        429,
        {"success": False, "error": {"code": "too_many_requests", "message": "slow down"}},
        {"retry-after": "120"},
    ),
    "500": (
        500,
        {"success": False, "error": {"code": "api_error", "message": "internal error"}},
        {},
    ),
    "503": (503, {"success": False, "error": {"code": "api_error", "message": "unavailable"}}, {}),
    "xai-400-key": (
        400,
        {"code": "Client specified an invalid argument", "error": "Incorrect API key provided"},
        {},
    ),
    "xai-400-context": (
        400,
        {
            "code": "Client specified an invalid argument",
            "error": "This model's maximum prompt length is 131072 but the request "
            "contains 150000 tokens.",
        },
        {},
    ),
    "xai-401": (401, {"code": "Unauthorized", "error": "No API key provided"}, {}),
    "xai-403": (403, {"code": "Forbidden", "error": "The API key does not have permission"}, {}),
    "xai-404": (404, {"code": "Not Found", "error": "The model grok-9 does not exist"}, {}),
    "xai-410": (410, {"code": "Gone", "error": "Live search is deprecated"}, {}),
    "xai-422": (
        422,
        {"code": "Unprocessable Entity", "error": "Failed to deserialize the JSON body"},
        {},
    ),
    "xai-429": (429, {"code": "Too Many Requests", "error": "Rate limit reached for requests"}, {}),
    "xai-429-credit": (
        429,
        {
            "code": "Too Many Requests",
            "error": "Your team has either used all available credits or reached its "
            "monthly spending limit.",
        },
        {},
    ),
    "html-502": (502, "<html><body>Bad Gateway</body></html>", {"content-type": "text/html"}),
}
FAULTS = {
    "stall-first": "no response at all for `stall` seconds (default 3600)",
    "stall-mid": "half the reply, then silence for `stall` seconds",
    "cut": "half the reply, then the response ends cleanly but without [DONE]",
    "drop": "half the reply, then the connection is torn down",
    "malformed": "half the reply, then a chunk that is not JSON",
    "error-frame": "half the reply, then xAI's in-stream error frame",
    "reset": "the connection closes before any response",
    "html": "a 200 answer whose body is an HTML page",
}
