"""The project's middleware: who the client is, and a ChatError raised by a view as the
answer a person (a page) or a program (JSON) can read."""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from datetime import tzinfo
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.security import SecurityMiddleware
from django.shortcuts import render, resolve_url
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation.trans_real import parse_accept_lang_header
from whitenoise.middleware import WhiteNoiseMiddleware

from webchat.errors import ChatError, NotLoggedIn
from webchat.logs import request_id
from webchat.net import client_address

STATUS = {
    "invalid_request": 400,
    "not_found": 404,
    "model_unavailable": 400,
    "quota_exceeded": 429,
    "rate_limited": 429,
}
TITLES = {
    400: gettext_lazy("That did not work"),
    404: gettext_lazy("Not found"),
    429: gettext_lazy("Too many requests"),
}


def error_response(
    request: HttpRequest,
    error: ChatError,
    link: tuple[str, str] | None = None,
    status: int | None = None,
    bare: bool = False,
) -> HttpResponse:
    """`link`: where the page's one link goes, and its words (else back to the chat).
    `bare`: the page made without the context processors (which read the database), for
    an error of the database itself."""
    status = status or getattr(error, "status", None) or STATUS.get(error.code, 503)
    response: HttpResponse
    # A page for a browser's navigation (it asks for HTML first), JSON for the rest.
    if "text/html" not in request.headers.get("Accept", ""):
        response = JsonResponse(error.body(), status=status)
    else:
        context = {
            "title": TITLES.get(status, gettext_lazy("Please try again")),
            "message": error.message,
            "alert": True,
            "link_url": link[0] if link else "/",
            "link_text": link[1] if link else gettext_lazy("Back to webchat"),
        }
        if bare:
            page = render_to_string("registration/message.html", context)
            response = HttpResponse(page, status=status)
        else:
            response = render(request, "registration/message.html", context, status=status)
    if error.retry_after is not None:
        response["Retry-After"] = str(round(error.retry_after))
    return response


class Hybrid:
    """A middleware that works in the mode of the chain it is in: Django's MiddlewareMixin
    runs each step of an async chain in a thread and back, about a millisecond a request."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        answer = self.before(request)
        if self.is_async:
            return self._acall(request, answer)
        return self.after(request, answer or self.get_response(request))

    async def _acall(self, request: HttpRequest, answer: HttpResponse | None) -> HttpResponse:
        return self.after(request, answer or await self.get_response(request))

    def before(self, request: HttpRequest) -> HttpResponse | None:
        """Work on the request; a response here answers it at once."""
        return None

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


class TimeZoneMiddleware(Hybrid):
    """Times in the reader's own zone, as their browser names it (the `tz` cookie that
    static/js/zone.js keeps), else the server's. Only how times are shown: the plans' days
    stay the server's (quotas.day_start). The admin's pages stay in the server's zone, the
    plans' own, which its dashboard counts days in."""

    def before(self, request: HttpRequest) -> None:
        if request.path.startswith(_admin_prefix()):
            timezone.deactivate()
        else:
            timezone.activate(zone_named(request.COOKIES.get(ZONE_COOKIE, "")))

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        timezone.deactivate()
        return response


ZONE_COOKIE = "tz"


@functools.cache
def _admin_prefix() -> str:
    return reverse("admin:index")


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def zone_named(name: str) -> tzinfo:
    """The zone of that IANA name, else the server's (a name the system does not know)."""
    if name in _zones():
        return zoneinfo.ZoneInfo(name)
    return timezone.get_default_timezone()


class LanguageMiddleware(Hybrid):
    """The interface's language: the person's choice, else the browser's Accept-Language,
    else English. Django's LocaleMiddleware, without its URL prefixes. The person is read
    here, before the view (which reads them anyway: the view finds them read), so a choice
    made on another device holds from this page on; the language cookie keeps the choice
    for the pages before logging in and for the sockets."""

    def before(self, request: HttpRequest) -> None:
        if not self.is_async:
            self.activate(request, request.user)

    async def _acall(self, request: HttpRequest, answer: HttpResponse | None) -> HttpResponse:
        user = await request.auser()
        request._cached_user = user  # one read for both: Django keeps the two apart
        self.activate(request, user)
        return await super()._acall(request, answer)

    def activate(self, request: HttpRequest, user: Any) -> None:
        if user.is_authenticated:  # their choice, else their browser's (whatever the cookie)
            accepted = request.headers.get("Accept-Language", "")
            language = _supported([user.language, *_accepted(accepted)])
        else:
            language = translation.get_language_from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        language = getattr(request, "chosen_language", None)
        # The person's choice, changed on another device since this one logged in: this
        # browser keeps it from now on (and still logged in here, not just logged out or
        # deleted).
        user = getattr(request, "_cached_user", None) or getattr(request, "_acached_user", None)
        chosen_here = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if language is None and user is not None and user.is_authenticated:
            still = request.session.get(SESSION_KEY) == str(user.pk)
            language = user.language if still and user.language != chosen_here else None
        if language is not None:  # logged in, or chosen in the settings, just now
            remember_language(response, language)
            patch_cache_control(response, private=True)  # a cookie of one person's
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        # The response is made: the thread goes back to the default, so that whatever it
        # runs next (another request's code before this middleware, a job) is not in the
        # last reader's language.
        translation.deactivate()
        return response


def language_of(scope: dict[str, Any]) -> str:
    """A socket's language, chosen as a page's is: the language cookie, else the browser's
    Accept-Language, else English."""
    chosen = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME, "")
    headers = dict(scope.get("headers", ()))
    return _supported([chosen, *_accepted(headers.get(b"accept-language", b"").decode("latin-1"))])


def _accepted(header: str) -> list[str]:
    return [code for code, _ in parse_accept_lang_header(header)]


def _supported(codes: list[str]) -> str:
    """The first of `codes` the interface speaks, else English."""
    for code in codes:
        try:
            if code and code != "*":
                return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


def remember_language(response: HttpResponse, language: str) -> None:
    """The language cookie set to `language`, or deleted when it is empty (the browser's)
    or not one the interface speaks (a value written straight into the database)."""
    if language in dict(settings.LANGUAGES):
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=365 * 86_400,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, samesite="Lax")


class ClientAddressMiddleware(Hybrid):
    """REMOTE_ADDR becomes the client's address (webchat.net), for every part that reads it:
    the login throttle, the rate limits, the logs."""

    def before(self, request: HttpRequest) -> None:
        request.META["REMOTE_ADDR"] = client_address(request.META)


class RequestIdMiddleware(Hybrid):
    """Every log line of a request carries its id, and so does the response
    (X-Request-ID): a person's report of an error finds its traceback."""

    def before(self, request: HttpRequest) -> None:
        request.request_id = uuid.uuid4().hex[:16]
        request_id.set(request.request_id)

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response["X-Request-ID"] = request.request_id
        return response


class SecurityHeadersMiddleware(Hybrid):
    """Django's SecurityMiddleware (HTTPS redirect, HSTS, nosniff, referrer and
    cross-origin policies), without its thread hops: it does no I/O."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self.security = SecurityMiddleware(get_response)

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return self.security.process_request(request)

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return self.security.process_response(request, response)


class PrivateMiddleware(Hybrid):
    """What a logged-in person is answered is not kept by their browser (a shared computer's
    cache, Back after a deletion), unless the view said how it may be kept (the scripts'
    catalog, an attachment checked again by its ETag). Known by the session's cookie: no
    database read here."""

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if settings.SESSION_COOKIE_NAME in request.COOKIES and not response.has_header(
            "Cache-Control"
        ):
            add_never_cache_headers(response)
        return response


class ScriptLoginMiddleware(Hybrid):
    """A page's script (it asks for JSON) whose login session has ended gets a 401 it can
    read, not the redirect to the login page `login_required` answers: fetch follows that
    redirect, and the login page's HTML came back as a 200 the script took for its answer."""

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            response.status_code == 302
            and "application/json" in request.headers.get("Accept", "")
            and response.get("Location", "").startswith(f"{resolve_url(settings.LOGIN_URL)}?")
        ):
            message = gettext("Your session has ended. Please log in again.")
            answer = error_response(request, NotLoggedIn(message))
            add_never_cache_headers(answer)
            patch_vary_headers(answer, ("Accept", "Cookie"))
            return answer
        return response


class ChatErrorMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if isinstance(exception, ChatError):
            return error_response(request, exception)
        return None


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, async where the app is: WhiteNoise's middleware is sync-only, so Django
    ran every request below it through a thread and back (about a millisecond each, and a
    thread per request). A static file is served as WhiteNoise serves it (opening the file
    in a thread); any other request goes on without leaving the event loop."""

    async_capable = True

    def __init__(self, get_response: Any, **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)
