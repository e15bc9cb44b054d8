"""The websocket's Origin check: the same origin as the page, scheme, host and port, as
Django's CSRF check requires of a form (or one of CSRF_TRUSTED_ORIGINS).

Channels' AllowedHostsOriginValidator compares host names only, so a page served on another
port of the same host (another app, a dev server) could open a person's sockets.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    if any(c in url for c in "\\@ ") or url.count("/") != 2:
        return None  # no browser sends these: a path, credentials, a backslash
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or not port:
        return None
    return parts.scheme, parts.hostname.lower(), port


def _secure(scope: dict[str, Any], headers: dict[bytes, bytes]) -> bool:
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name = proxy_header[0].removeprefix("HTTP_").replace("_", "-").lower().encode()
        forwarded = headers.get(name, b"").decode("latin-1").split(",")[0].strip()
        return forwarded == proxy_header[1]
    return scope.get("scheme") == "wss"


def allowed(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers", []))
    raw_origin = headers.get(b"origin", b"").decode("latin-1")
    origin = _origin(raw_origin)
    host = headers.get(b"host", b"").decode("latin-1")
    if origin is None or not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if _secure(scope, headers) else "http"
    if origin == _origin(f"{scheme}://{host}"):
        return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:  # "https://*.example.com", as Django reads it
            wild = urlsplit(trusted)
            netloc = urlsplit(raw_origin).netloc.lower()
            if wild.scheme == origin[0] and is_same_domain(netloc, wild.netloc.lstrip("*")):
                return True
        elif origin == _origin(trusted):
            return True
    return False


class SameOriginValidator:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
