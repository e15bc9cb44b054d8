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
