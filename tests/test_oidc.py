"""Sign-in with an OpenID Connect provider, in Chromium, against a provider the test starts
on loopback (tests/oidc_provider.py): the first sign-in makes an account, the next finds it."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import watch
from tests.live import LiveServer
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider

pytestmark = [pytest.mark.browser, pytest.mark.services]

PERSON = {
    "sub": "user-8f3a",
    "email": "olga@example.org",
    "email_verified": True,
    "preferred_username": "olga",
    "name": "Olga O.",
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    provider = Provider(dict(PERSON)).start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def sso(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("oidc"),
        OIDC_SERVER_URL=provider.url,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
        OIDC_NAME="Test IdP",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def sso_page(browser: Any, sso: LiveServer) -> Iterator[Any]:
    context = browser.new_context(base_url=sso.url)
    page = context.new_page()
    watch(page)
    yield page
    context.close()


def sign_in(page: Any) -> None:
    page.goto("/accounts/login/?next=/usage/")
    page.get_by_role("button", name="Log in with Test IdP").click()
    page.wait_for_url("**/usage/")


def test_a_first_sign_in_makes_an_account_and_the_next_finds_it(
    sso_page: Any, sso: LiveServer, browser: Any, provider: Provider
) -> None:
    # The site is new: its first-run page offers the provider beside the signup form.
    sso_page.goto("/accounts/login/")
    assert sso_page.get_by_text("Create the administrator account").is_visible()
    sign_in(sso_page)
    assert "Your usage" in sso_page.content()  # the default plan came with the account
    # As a password login: no note of allauth's ("Successfully signed in as …").
    assert sso_page.locator(".banner.notice").count() == 0
    # The site's first account administers it, made through the provider as by the form.
    rows = sso.query("SELECT username, email, is_staff, is_superuser FROM webchat_user")
    assert rows == [("olga", "olga@example.org", True, True)]
    # Log out, and in again through the provider: the same account.
    sso_page.goto("/accounts/")
    sso_page.get_by_role("button", name="Log out").click()
    sso_page.wait_for_url("**/accounts/login/")
    sign_in(sso_page)
    assert len(sso.query("SELECT id FROM webchat_user")) == 1
    # The provider's next person is an ordinary account.
    sso_page.goto("/accounts/")
    sso_page.get_by_role("button", name="Log out").click()
    provider.person = {**PERSON, "sub": "user-22c1", "email": "piet@example.org"}
    provider.person["preferred_username"] = "piet"
    try:
        sign_in(sso_page)
    finally:
        provider.person = dict(PERSON)
    rows = sso.query("SELECT username, is_staff, is_superuser FROM webchat_user WHERE NOT is_staff")
    assert rows == [("piet", False, False)]
    assert sso_page.problems == []


def test_a_provider_that_refuses_the_code_logs_nobody_in(
    sso_page: Any, sso: LiveServer, provider: Provider
) -> None:
    real = provider.token
    provider.token = lambda form: (_ for _ in ()).throw(PermissionError("invalid_grant"))
    try:
        sso_page.goto("/accounts/login/")
        sso_page.get_by_role("button", name="Log in with Test IdP").click()
        sso_page.wait_for_load_state()
        assert "/auth/" in sso_page.url
        sso_page.goto("/")
        assert "/accounts/login/" in sso_page.url
    finally:
        provider.token = real
