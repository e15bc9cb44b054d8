"""Rate limits on the doors that cost the server or help a guesser: login (every login form,
the admin's too), signup, password reset, the account pages that check a password,
search, share links made or copied, switching branches (each renders a whole thread),
uploads (each decodes a file) and summaries (each calls the model).

One table maps a route to its limit in settings.RATE_LIMITS; django-ratelimit counts in the
cache (Redis when there is one). Anonymous doors count per client address, the others per
person. A refusal is 429 with Retry-After, as JSON for a script and as a page for a person.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import ngettext
from django_ratelimit.core import get_usage

from webchat.errors import ChatError
from webchat.middleware import error_response

# route name → (the limit's name in RATE_LIMITS, the method counted, counted per); a GET
# rule counts HEAD too, which runs the same view.
RULES: dict[str, tuple[str, str, str]] = {
    "login": ("login", "POST", "ip"),
    "admin:login": ("login", "POST", "ip"),
    "password_reset": ("password_reset", "POST", "ip"),
    "search": ("search", "GET", "user_or_ip"),
    "share-create": ("share", "POST", "user_or_ip"),
    "share-fork": ("share", "POST", "user_or_ip"),
    # A shared page is read by anyone with its link, logged in or not.
    "share": ("share_view", "GET", "ip"),
    "conversation-switch": ("switch", "POST", "user_or_ip"),
    "attachment-upload": ("upload", "POST", "user_or_ip"),
    "conversation-summarize": ("summarize", "POST", "user_or_ip"),
    "keys": ("api_key", "POST", "user_or_ip"),
    # These check the person's password: a stolen session must not guess it at speed.
    "account": ("password_check", "POST", "user_or_ip"),
    "password_change": ("password_check", "POST", "user_or_ip"),
    "account-delete": ("password_check", "POST", "user_or_ip"),
    # An import reads a large file whole.
    "import-data": ("import", "POST", "user_or_ip"),
}


class ThrottleMiddleware(MiddlewareMixin):
    def process_view(
        self, request: HttpRequest, view: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        rule = RULES.get(match.view_name) if match else None
        if rule is None:
            return None
        name, method, key = rule
        methods = ["GET", "HEAD"] if method == "GET" else [method]
        if request.method not in methods:
            return None
        usage = get_usage(
            request,
            group=name,
            key=key,
            rate=settings.RATE_LIMITS[name],
            method=methods,
            increment=True,
        )
        if usage is None or not usage["should_limit"]:
            return None
        return refusal(request, max(usage["time_left"], 1))


def refusal(request: HttpRequest, seconds: int) -> HttpResponse:
    return error_response(
        request, ChatError(waiting(seconds), code="rate_limited", retry_after=seconds)
    )


def waiting(seconds: int) -> str:
    """A refusal's sentence: how long to wait, in seconds or minutes."""
    if seconds < 90:
        message = ngettext(
            "Too many requests. Please wait %(count)s second and try again.",
            "Too many requests. Please wait %(count)s seconds and try again.",
            seconds,
        ) % {"count": seconds}
    else:
        minutes = math.ceil(seconds / 60)
        message = ngettext(
            "Too many requests. Please wait %(count)s minute and try again.",
            "Too many requests. Please wait %(count)s minutes and try again.",
            minutes,
        ) % {"count": minutes}
    return message


def wait_before(request: HttpRequest, name: str) -> int:
    """For what a view counts itself (only what succeeds), per client address: the seconds
    to wait before one more of `name` may be tried (0: now). Counts nothing."""
    usage = get_usage(request, **_limit(name), increment=False)
    return max(usage["time_left"], 1) if usage and usage["count"] >= usage["limit"] else 0


def spend(request: HttpRequest, name: str) -> int:
    """One more of `name` from this client address, counted in one step with the check (of
    many at once, those past the limit are refused): the seconds to wait, or 0."""
    usage = get_usage(request, **_limit(name), increment=True)
    return max(usage["time_left"], 1) if usage and usage["should_limit"] else 0


def _limit(name: str) -> dict[str, Any]:
    return {"group": name, "key": "ip", "rate": settings.RATE_LIMITS[name], "method": ["POST"]}


def wait_phrase(seconds: int) -> str:
    if seconds < 90:
        return ngettext("%(count)s second", "%(count)s seconds", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}
