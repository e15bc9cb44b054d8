"""Sign-in with an OpenID Connect provider (django-allauth): who may come in that way, and
the buttons the login page shows."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter, get_adapter
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse

from webchat.models import SiteSettings, found_the_site


class AccountAdapter(DefaultAccountAdapter):
    def add_message(self, *args: Any, **kwargs: Any) -> None:
        """allauth's own notes ("Successfully signed in as …") are not shown: a sign-in
        through the provider says what a password's does, which is nothing."""


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        """A first sign-in through the provider makes an account when the site's signup is
        open, or when OIDC_SIGNUP_OPEN says the provider's people may always join."""
        return settings.OIDC_SIGNUP_OPEN or SiteSettings.current().signup_open

    def save_user(self, request: HttpRequest, sociallogin: Any, form: Any = None) -> Any:
        """A first sign-in's account; on a fresh site, its administrator, as a first signup
        would be (the first-run page offers both)."""
        with transaction.atomic():
            found_the_site(sociallogin.user)
            return super().save_user(request, sociallogin, form)


def providers(request: HttpRequest) -> list[dict[str, str]]:
    """The configured OpenID Connect providers, each with the URL its button posts to."""
    return [
        {
            "name": app.name,
            "url": reverse("openid_connect_login", kwargs={"provider_id": app.provider_id}),
        }
        for app in get_adapter().list_apps(request, provider="openid_connect")
    ]
