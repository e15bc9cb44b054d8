import asyncio
import hashlib
import logging
import math
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.cache import cache
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webchat.models import SiteSettings, UsageRecord, User
from webchat.quotas import month_start

log = logging.getLogger(__name__)


class LoginView(auth_views.LoginView):
    """Django's login, refused for a while after too many failures for one username or from
    one address, so passwords can't be guessed at speed. While refused, the password is
    not even checked: a right guess looks the same as a wrong one."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        keys = _failure_keys(request)
        limits = (settings.LOGIN_FAILURES_PER_USERNAME, settings.LOGIN_FAILURES_PER_ADDRESS)
        counts = cache.get_many(keys)
        if any(counts.get(key, 0) >= limit for key, limit in zip(keys, limits, strict=True)):
            minutes = math.ceil(settings.LOGIN_FAILURE_WINDOW_SECONDS / 60)
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                f"Too many failed attempts. Logging in is paused; try again in {minutes} minutes.",
            )
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(settings.LOGIN_FAILURE_WINDOW_SECONDS)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        for key in _failure_keys(self.request):
            # add() starts the window with the first failure; incr() counts within it.
            cache.add(key, 0, settings.LOGIN_FAILURE_WINDOW_SECONDS)
            try:
                cache.incr(key)
            except ValueError:  # the window ended between the two calls
                cache.add(key, 1, settings.LOGIN_FAILURE_WINDOW_SECONDS)
        return super().form_invalid(form)


def _failure_keys(request: HttpRequest) -> list[str]:
    username = str(request.POST.get("username", "")).strip().lower()[:150]
    digest = hashlib.sha256(username.encode()).hexdigest()[:32]
    return [
        f"login-failures:user:{digest}",
        f"login-failures:addr:{request.META.get('REMOTE_ADDR')}",
    ]


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username",)


def signup(request: HttpRequest) -> HttpResponse:
    if not SiteSettings.current().signup_open:
        raise Http404("Signup is closed.")
    if request.user.is_authenticated:
        return redirect("home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@require_GET
@login_required
def usage(request: HttpRequest) -> HttpResponse:
    """What the person has used and has left, today and this month, and per model."""
    left = UsageRecord.objects.remaining(request.user)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"usage": _json_usage(left)})
    since = month_start(timezone.now())
    context = {"left": left, "per_model": UsageRecord.objects.per_model(request.user, since)}
    return render(request, "usage.html", context)


def _json_usage(left: dict | None) -> dict | None:
    if left is None:
        return None
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in left.items()}


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page without a link to an icon (the admin)."""
    return redirect(static("favicon.svg"), permanent=True)


@never_cache
@require_GET
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
