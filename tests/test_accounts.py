import pytest
from django.test import Client

from webchat.models import Plan, User

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase 42"


def signup(client: Client, username: str) -> object:
    return client.post(
        "/accounts/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )


def test_the_first_account_administers_the_site() -> None:
    response = signup(Client(), "founder")
    assert response.status_code == 302 and response["Location"] == "/"
    founder = User.objects.get(username="founder")
    assert founder.is_staff and founder.is_superuser


def test_later_accounts_are_not_admins() -> None:
    signup(Client(), "founder")
    signup(Client(), "member")
    member = User.objects.get(username="member")
    assert not member.is_staff and not member.is_superuser


def test_signup_logs_in_and_the_admin_opens() -> None:
    client = Client()
    signup(client, "founder")
    assert client.get("/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_signup_shows_errors() -> None:
    response = Client().post(
        "/accounts/signup/", {"username": "x", "password1": "a", "password2": "b"}
    )
    assert response.status_code == 200
    assert "password fields didn" in response.content.decode()
    assert not User.objects.exists()


def test_the_admin_can_close_signup() -> None:
    founder = User.objects.create_superuser("founder", password=PASSWORD)
    admin = Client()
    admin.force_login(founder)
    response = admin.post("/admin/webchat/sitesettings/1/change/", {"signup_open": ""})
    assert response.status_code == 302
    assert Client().get("/accounts/signup/").status_code == 404
    assert "Create an account" not in Client().get("/accounts/login/").content.decode()


def test_new_accounts_get_the_default_plan() -> None:
    signup(Client(), "member")
    assert User.objects.get(username="member").plan == Plan.objects.get(is_default=True)


def test_login_and_logout() -> None:
    User.objects.create_user("alice", password=PASSWORD)
    client = Client()
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_a_wrong_password_is_refused() -> None:
    User.objects.create_user("alice", password=PASSWORD)
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200 and "enter a correct username" in response.content.decode()


def log_in(password: str, username: str = "alice", address: str = "10.0.0.1") -> object:
    return Client(REMOTE_ADDR=address).post(
        "/accounts/login/", {"username": username, "password": password}
    )


def test_too_many_failures_pause_logging_in_even_with_the_right_password(
    settings: object,
) -> None:
    User.objects.create_user("alice", password=PASSWORD)
    for _ in range(5):
        assert log_in("guess").status_code == 200
    refused = log_in(PASSWORD)
    html = refused.content.decode()
    assert refused.status_code == 429 and "Too many failed attempts" in html
    assert refused["Retry-After"] == "900"
    assert "_auth_user_id" not in refused.client.session
    # Another address trying the same name is refused too: the name is what is guessed.
    assert log_in(PASSWORD, address="10.0.0.2").status_code == 429
    # Another person is not locked out by it.
    User.objects.create_user("bob", password=PASSWORD)
    assert log_in(PASSWORD, username="bob").status_code == 302


def test_failures_from_one_address_pause_it_across_usernames() -> None:
    User.objects.create_user("alice", password=PASSWORD)
    for i in range(20):
        log_in("guess", username=f"nobody{i}")
    assert log_in(PASSWORD).status_code == 429
    assert log_in(PASSWORD, address="10.0.0.9").status_code == 302


def test_the_pause_ends_with_its_window(settings: object) -> None:
    import time

    settings.LOGIN_FAILURE_WINDOW_SECONDS = 1
    User.objects.create_user("alice", password=PASSWORD)
    for _ in range(5):
        log_in("guess")
    assert log_in(PASSWORD).status_code == 429
    time.sleep(1.2)
    assert log_in(PASSWORD).status_code == 302


def test_a_login_expires() -> None:
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    User.objects.create_user("alice", password=PASSWORD)
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert client.get("/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
