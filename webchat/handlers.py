"""The API's own Django handler: the same views and URLs, only the middleware a call with
a key needs.

A program's call carries no session, cookie or CSRF token and renders no page, so the
sessions, CSRF, authentication, messages, CSP, throttle and lock-out middleware do nothing
for it but cost time: about 1 ms each in an async chain (bench/api.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

# What every response needs: its id in the logs and headers, the client's address, and
# the security headers.
API_MIDDLEWARE = [
    "webchat.middleware.RequestIdMiddleware",
    "webchat.middleware.SecurityHeadersMiddleware",
    "webchat.middleware.ClientAddressMiddleware",
]


class ApiHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        everything = settings.MIDDLEWARE
        settings.MIDDLEWARE = API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = everything


def by_path(prefixes: dict[str, Any], default: Any) -> Any:
    """An ASGI app that hands a request to the app of the first prefix its path starts with."""

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        for prefix, app in prefixes.items():
            if path.startswith(prefix):
                return await app(scope, receive, send)
        return await default(scope, receive, send)

    return route
