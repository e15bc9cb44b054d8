import asyncio
import logging
import sys

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_safe
from django.views.i18n import JavaScriptCatalog

from webchat.accounts import on_this_site
from webchat.auth import login_name
from webchat.errors import InternalError, Refused, Unavailable
from webchat.middleware import error_response
from webchat.models import ChatModel, UsageRecord
from webchat.quotas import month_start

log = logging.getLogger(__name__)


@require_safe
@login_required
def usage(request: HttpRequest) -> HttpResponse:
    """What the person has used and has left, today and this month, and per model."""
    left = UsageRecord.objects.remaining(request.user)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"usage": _json_usage(left)})
    since = month_start(timezone.now())
    context = {
        "left": left,
        "per_model": _named(UsageRecord.objects.per_model(request.user, since)),
        "per_key": UsageRecord.objects.per_key(since, user=request.user),
    }
    return render(request, "usage.html", context)


def _named(rows: list[dict]) -> list[dict]:
    """Each row with its model's name as the catalog shows it (the ledger keeps the id the
    model had when it was used; one taken out of the catalog keeps that id)."""
    names = ChatModel.objects.names(r["model"] for r in rows)
    return [{**row, "name": names.get(row["model"], row["model"])} for row in rows]


def _json_usage(left: dict | None) -> dict | None:
    if left is None:
        return None
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in left.items()}


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A POST the CSRF check refused, said in words (Django's own page is for developers):
    sent from another site (or through a proxy that changes the address: see
    CSRF_TRUSTED_ORIGINS), without the site's cookie, or from a page older than a login or
    logout, whose token is out of date. A form (the browser asks for a page) is sent again
    from its page, gone back to; a script's page is reloaded, its draft kept."""
    form = "text/html" in request.headers.get("Accept", "")
    elsewhere = reason.startswith(("Origin checking failed", "Referer checking failed"))
    stale = not elsewhere and reason != REASON_NO_CSRF_COOKIE
    if form and stale and _logged_in_as_asked(request):
        # A login page left open while this browser logged in, as the same person, in
        # another tab: in already, it goes where it was going. Anyone else is refused.
        return redirect(on_this_site(request, request.POST.get("next", "")) or "home")
    if elsewhere:
        message = gettext("This request came from another site and was refused.")
    elif not stale:
        message = gettext(
            "Your browser did not send this site's cookies (blocked or cleared). Allow them "
            "and reload the page."
        )
    elif form:
        message = gettext(
            "This page was out of date: you have logged in or out since it was opened, in "
            "another tab perhaps. Go back to it and send it again."
        )
    else:
        message = gettext(
            "This page is out of date: you have logged in or out since it was opened, in "
            "another tab perhaps. Reload it and try again."
        )
    back = form and on_this_site(request, request.headers.get("Referer", ""))
    link = (back, gettext("Back to the page")) if back else None
    return error_response(request, Refused(message), link=link)


def _logged_in_as_asked(request: HttpRequest) -> bool:
    """A login form sent by the person this browser is logged in as (any spelling of their
    name that logs in)."""
    match = request.resolver_match
    if not (match and match.url_name == "login" and request.user.is_authenticated):
        return False
    name = request.user.get_username()
    return login_name(request, None) == login_name(request, {"username": name})


def server_error(request: HttpRequest) -> HttpResponse:
    """The answer to an exception nothing else caught (logged already, with its traceback):
    the site's own page, or JSON for a script. A database locked past its wait (SQLite's
    one writer held) or not answering (PostgreSQL restarting) is a 503 to try again in a
    moment, not a 500. Made without the context processors: they may read the database
    that has just failed."""
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError) and "no such" not in str(error):
        busy = Unavailable(gettext("The server is busy. Please try again in a moment."))
        return error_response(request, busy, status=503, bare=True)
    return error_response(request, InternalError(), status=500, bare=True)


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page without a link to an icon (the admin)."""
    return redirect(static("favicon.svg"), permanent=True)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer answer; 503 naming the one that did not."""
    checks = {"database": _database_ok(), "channel_layer": _channel_layer_ok()}
    status = 200 if all(checks.values()) else 503
    return JsonResponse(
        {name: "ok" if ok else "failed" for name, ok in checks.items()}, status=status
    )


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        log.exception("health check: database")
        return False


def _channel_layer_ok() -> bool:
    async def round_trip() -> bool:
        layer = get_channel_layer()
        channel = await layer.new_channel("healthz.")
        await layer.send(channel, {"type": "ping"})
        message = await asyncio.wait_for(layer.receive(channel), 2)
        return message.get("type") == "ping"

    try:
        return async_to_sync(round_trip)()
    except Exception:
        log.exception("health check: channel layer")
        return False


_catalogs: dict[str, bytes] = {}


@require_safe
@cache_control(max_age=86_400)
def javascript_catalog(request: HttpRequest) -> HttpResponse:
    """The scripts' sentences in the page's language (Django's JavaScriptCatalog), made once
    per language and process: the address carries the language (`?l=`) so that a browser
    keeps one per language, and nothing else of it makes another copy. The language the
    address names wins over the browser's cookie, which another tab may have changed: a
    cached copy must hold what its address says."""
    try:
        asked = translation.get_supported_language_variant(request.GET.get("l", ""))
    except LookupError:
        asked = translation.get_language()
    # As settings.LANGUAGES spells it ("ZH-HANS" is zh-hans): one copy a language.
    language = next((c for c, _ in settings.LANGUAGES if c.lower() == asked.lower()), asked)
    if language not in _catalogs:
        with translation.override(language):
            _catalogs[language] = JavaScriptCatalog.as_view()(request).content
    response = HttpResponse(_catalogs[language], content_type="text/javascript; charset=utf-8")
    response["Content-Language"] = language
    return response
