"""The login throttle's view of a request (django-axes calls these; settings name them)."""

from __future__ import annotations

import ipaddress
import math
import unicodedata
from typing import Any

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext

from webchat import oidc
from webchat.models import SiteSettings
from webchat.throttle import wait_phrase


def login_name(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The name a failure counts against, in one spelling for every variant that logs into
    the same account: the login form strips spaces and applies NFKC (so a fullwidth "alice " is
    alice); case is folded too, as no two accounts differ only in case."""
    raw = (credentials or {}).get("username")
    if raw is None:
        raw = request.POST.get("username", "")
    return unicodedata.normalize("NFKC", str(raw)).strip().casefold()[:150]


def login_address(request: HttpRequest) -> str:
    """The client's address, as ClientAddressMiddleware found it (trusted proxies only); an
    IPv6 address counts as its /64, which one subscriber usually holds whole."""
    address = request.META.get("REMOTE_ADDR") or ""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6 and parsed.ipv4_mapped is None:
        # The network's first address: the lock's records store an address, not a network.
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address)
    return address


def _seconds_left(request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    """Until the lock on this name (from this address, for a "pair" lock) lifts."""
    cool_off = get_cool_off(request)
    attempts = AccessAttempt.objects.filter(username=login_name(request, credentials))
    if settings.LOGIN_LOCKOUT == "pair":
        attempts = attempts.filter(ip_address=login_address(request))
    last = attempts.order_by("-attempt_time").values_list("attempt_time", flat=True).first()
    if last is None:
        return int(cool_off.total_seconds())
    return max(1, math.ceil((last + cool_off - timezone.now()).total_seconds()))


def locked_out(
    request: HttpRequest, response: HttpResponse | None, credentials: dict[str, Any] | None
) -> HttpResponse:
    """The login page again, saying why and for how long, with 429 and Retry-After."""
    seconds = _seconds_left(request, credentials)
    form = AuthenticationForm(request, data=None, initial={"username": login_name(request, {})})
    message = gettext("Too many failed attempts. Logging in is paused; try again in %(wait)s.") % {
        "wait": wait_phrase(seconds)
    }
    context = {
        "form": form,
        "locked_out": message,
        "signup_open": SiteSettings.current().signup_open,
        "oidc_providers": oidc.providers(request),
        "next": request.POST.get("next", ""),
    }
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response
