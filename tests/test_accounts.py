from pathlib import Path
from typing import Any

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


def test_a_logout_s_note_left_unread_is_not_shown_to_the_next_person() -> None:
    browser = Client()
    signup(Client(), "bob")
    signup(browser, "alice")
    assert browser.post("/accounts/logout/").status_code == 302  # not followed: left unread
    response = browser.post("/accounts/login/", {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302
    assert "You have logged out." not in browser.get("/").content.decode()


def test_a_page_asked_for_after_the_session_ended_leads_to_a_login_that_says_so() -> None:
    """A session cookie that names no session any more (ended elsewhere, or expired): the
    login page says why it is asked for again; a first visit's says nothing of it."""
    browser = Client()
    signup(browser, "alice")
    browser.cookies["sessionid"] = "one-that-was-deleted"
    page = browser.get("/settings/", follow=True).content.decode()
    assert "Your session has ended" in page and "banner notice warning" in page
    assert "Your session has ended" not in Client().get("/settings/", follow=True).content.decode()


def test_signup_shows_errors() -> None:
    response = Client().post(
        "/accounts/signup/", {"username": "x", "password1": "a", "password2": "b"}
    )
    assert response.status_code == 200
    assert "password fields didn" in response.content.decode()
    assert not User.objects.exists()


def test_a_weak_password_is_refused_against_the_password_field() -> None:
    response = Client().post(
        "/accounts/signup/", {"username": "weak", "password1": "password", "password2": "password"}
    )
    form = response.context["form"]
    assert "This password is too common." in form.errors["password1"]
    assert "password2" not in form.errors
    assert [name for name, f in form.fields.items() if f.widget.attrs.get("autofocus")] == [
        "password1"
    ]
    assert not User.objects.exists()


def test_a_weak_new_password_is_refused_against_the_new_password_field(mailoutbox: list) -> None:
    """As at sign-up: on the change and the reset forms too, with the cursor there."""
    import re

    User.objects.create_user("alice", email="alice@example.org", password=PASSWORD)
    client = Client()
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    weak = {"new_password1": "password", "new_password2": "password"}
    changed = client.post("/accounts/password/", {"old_password": PASSWORD, **weak})
    client.post("/accounts/logout/")
    client.post("/accounts/password/reset/", {"email": "alice@example.org"})
    link = re.search(r"http://testserver(/accounts/password/reset/\S+)", mailoutbox[0].body)
    form_page = client.get(link.group(1), follow=True)
    reset = client.post(form_page.redirect_chain[-1][0], weak)
    for response in (changed, reset):
        form = response.context["form"]
        assert "This password is too common." in form.errors["new_password1"]
        assert "new_password2" not in form.errors
        focused = [name for name, f in form.fields.items() if f.widget.attrs.get("autofocus")]
        assert focused == ["new_password1"]
    assert User.objects.get(username="alice").check_password(PASSWORD)


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


def log_in(
    password: str,
    username: str = "alice",
    address: str = "10.0.0.1",
    path: str = "/accounts/login/",
    **headers: str,
) -> object:
    return Client(REMOTE_ADDR=address, **headers).post(
        path, {"username": username, "password": password}
    )


def lock_out(username: str = "alice", address: str = "10.0.0.1", **headers: str) -> None:
    for _ in range(4):
        assert log_in("guess", username, address, **headers).status_code == 200
    assert log_in("guess", username, address, **headers).status_code == 429


def test_failures_lock_logging_in_even_with_the_right_password() -> None:
    User.objects.create_user("alice", password=PASSWORD)
    lock_out()
    refused = log_in(PASSWORD)
    html = refused.content.decode()
    assert refused.status_code == 429 and "Too many failed attempts" in html
    assert refused["Retry-After"] == "900"
    assert "_auth_user_id" not in refused.client.session


def test_someone_elses_failures_do_not_lock_a_person_out() -> None:
    """The lock holds a name from one address: alice logs in from her own."""
    User.objects.create_user("alice", password=PASSWORD)
    lock_out(address="10.0.0.66")
    assert log_in(PASSWORD, address="10.0.0.66").status_code == 429
    assert log_in(PASSWORD, address="10.0.0.1").status_code == 302


def test_locking_by_name_alone_locks_every_address(settings: object) -> None:
    settings.AXES_LOCKOUT_PARAMETERS = ["username"]
    User.objects.create_user("alice", password=PASSWORD)
    lock_out(address="10.0.0.66")
    assert log_in(PASSWORD, address="10.0.0.1").status_code == 429


def test_every_spelling_of_a_name_counts_for_it() -> None:
    """Spaces, case and compatibility forms all reach alice's account, so all count."""
    User.objects.create_user("alice", password=PASSWORD)
    for spelling in ("alice", " alice", "ALICE", "\uff41lice"):
        log_in("guess", username=spelling)
    assert log_in("guess", username="Alice ").status_code == 429
    assert log_in(PASSWORD).status_code == 429


def test_the_admin_login_is_throttled_too() -> None:
    User.objects.create_superuser("root", password=PASSWORD)
    for _ in range(5):
        response = log_in("guess", username="root", path="/admin/login/")
    assert response.status_code == 429
    assert log_in(PASSWORD, username="root", path="/admin/login/").status_code == 429
    assert log_in(PASSWORD, username="root").status_code == 429


def test_a_forwarding_header_from_a_stranger_changes_nothing() -> None:
    User.objects.create_user("alice", password=PASSWORD)
    for i in range(5):
        log_in("guess", address="10.0.0.66", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert (
        log_in(PASSWORD, address="10.0.0.66", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429
    )


def test_a_trusted_proxy_names_the_client(settings: object) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    User.objects.create_user("alice", password=PASSWORD)
    # The client may prepend anything; the proxy appends the address it saw.
    lock_out(address="127.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.9, 192.0.2.7")
    behind = {"address": "127.0.0.1"}
    assert log_in(PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9, 192.0.2.7", **behind).status_code == 429
    assert log_in(PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.7", **behind).status_code == 429
    assert log_in(PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.8", **behind).status_code == 302
    # A server listening on IPv6 as well sees the proxy, and any IPv4 client, as "::ffff:…",
    # and the operator may have named the proxy so.
    mapped = {"address": "::ffff:127.0.0.1"}
    for proxies in (["127.0.0.1"], ["::ffff:127.0.0.1"], ["::ffff:127.0.0.0/104"]):
        settings.TRUSTED_PROXIES = proxies
        assert log_in(PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.7", **mapped).status_code == 429
        assert log_in(PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.9", **mapped).status_code == 302


def test_ipv4_clients_of_a_dual_stack_server_are_counted_apart(settings: object) -> None:
    """Written as IPv6, each would be counted as the same /64 (::ffff:0:0/64)."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "1/h"}
    assert signup(Client(REMOTE_ADDR="::ffff:192.0.2.1"), "first").status_code == 302
    assert signup(Client(REMOTE_ADDR="::ffff:192.0.2.2"), "second").status_code == 302
    assert signup(Client(REMOTE_ADDR="192.0.2.2"), "third").status_code == 429


def test_an_ipv6_subscriber_counts_as_one_address() -> None:
    User.objects.create_user("alice", password=PASSWORD)
    for i in range(1, 6):
        log_in("guess", address=f"2001:db8::{i}")
    # Another address of the same /64 is the same subscriber: locked.
    assert log_in(PASSWORD, address="2001:db8::99").status_code == 429
    assert log_in(PASSWORD, address="2001:db8:0:1::1").status_code == 302


def test_the_account_pages_password_checks_are_rate_limited(settings: object) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_check": "3/15m"}
    alice = User.objects.create_user("alice", password=PASSWORD)
    client = Client()
    client.force_login(alice)
    for _ in range(3):
        assert (
            client.post("/accounts/", {"email": "a@example.org", "password": "x"}).status_code
            == 200
        )
    assert (
        client.post("/accounts/", {"email": "a@example.org", "password": PASSWORD}).status_code
        == 429
    )
    assert client.post("/accounts/password/", {"old_password": PASSWORD}).status_code == 429


def test_the_admin_can_lift_a_lock() -> None:
    from axes.models import AccessAttempt

    User.objects.create_user("alice", password=PASSWORD)
    lock_out()
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password=PASSWORD))
    attempt = AccessAttempt.objects.get(username="alice")
    page = admin.get(f"/admin/axes/accessattempt/{attempt.pk}/delete/")
    assert page.status_code == 200
    assert (
        admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code
        == 302
    )
    assert log_in(PASSWORD).status_code == 302


def test_the_lock_ends_with_its_cool_off(settings: object) -> None:
    import time
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    User.objects.create_user("alice", password=PASSWORD)
    lock_out()
    assert log_in(PASSWORD).status_code == 429
    time.sleep(1.2)
    assert log_in(PASSWORD).status_code == 302


def test_one_address_cannot_try_names_without_end(settings: object) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": "10/15m"}
    User.objects.create_user("alice", password=PASSWORD)
    for i in range(10):
        assert log_in("guess", username=f"nobody{i}").status_code == 200
    refused = log_in(PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert log_in(PASSWORD, address="10.0.0.9").status_code == 302


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


# --- The first administrator --------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_first_signups_at_once_make_one_administrator() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def one(i: int) -> int:
        try:
            return signup(Client(REMOTE_ADDR=f"10.1.0.{i}"), f"racer{i}").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(one, range(6))) == {302}
    assert User.objects.count() == 6
    assert User.objects.filter(is_superuser=True).count() == 1


def test_a_site_whose_administrator_stepped_down_gives_signups_nothing() -> None:
    signup(Client(), "founder")
    User.objects.filter(username="founder").update(is_superuser=False)
    signup(Client(), "later")
    assert not User.objects.get(username="later").is_superuser


def test_an_existing_administrator_means_signups_are_people() -> None:
    User.objects.create_superuser("operator", password=PASSWORD)
    signup(Client(), "first")
    assert not User.objects.get(username="first").is_superuser


def test_signup_never_makes_an_admin_when_turned_off(settings: object) -> None:
    settings.FIRST_SIGNUP_IS_ADMIN = False
    signup(Client(), "first")
    first = User.objects.get(username="first")
    assert not first.is_superuser and not first.is_staff


def test_accounts_made_elsewhere_are_never_admins_by_accident() -> None:
    """Only signup promotes: an account made by a script on an empty site stays a person."""
    assert not User.objects.create_user("scripted", password=PASSWORD).is_superuser


def test_signup_is_rate_limited_per_address(settings: object) -> None:
    """Accounts made per address, and forms sent; a mistake costs no account."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "2/h", "signup_attempt": "6/h"}
    for _ in range(2):
        mistake = Client().post(
            "/accounts/signup/", {"username": "one", "password1": PASSWORD, "password2": "x"}
        )
        assert mistake.status_code == 200
    assert signup(Client(), "one").status_code == 302
    assert signup(Client(), "two").status_code == 302
    # Past the accounts' limit the form is not read: its answer would tell a name is taken.
    # It comes back with the name as typed, saying how long to wait.
    for name in ("three", "one"):
        refused = signup(Client(), name)
        assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
        html = refused.content.decode()
        assert "Too many requests. Please wait" in html and f'value="{name}"' in html
        assert "already exists" not in html and PASSWORD not in html
    assert not User.objects.filter(username="three").exists()
    # The seventh form sent this hour, and any after it: refused by the forms' own limit,
    # the form kept as typed.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "100/h"}
    refused = signup(Client(), "four")
    assert refused.status_code == 429 and 'value="four"' in refused.content.decode()
    assert not User.objects.filter(username="four").exists()


@pytest.mark.django_db(transaction=True)
def test_signups_at_once_make_no_more_accounts_than_the_limit(settings: object) -> None:
    """The count is taken with the check, in one step: many at once cannot all pass it."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "3/h"}
    if connection.vendor == "sqlite":
        # The count is what is tested, not SQLite's one writer.
        pytest.skip("SQLite's test database is one connection in memory")

    def one(n: int) -> int:
        try:
            return signup(Client(), f"racer{n}").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(8)))
    assert sorted(codes) == [302] * 3 + [429] * 5
    assert User.objects.filter(username__startswith="racer").count() == 3


def test_a_name_taken_while_its_signup_was_on_its_way_is_said_and_costs_nothing(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The form found the name free, then another signup took it before this one's account
    was stored: the form says so, as it would have (it answered 500, and was counted)."""
    from webchat import accounts

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "1/h"}
    found_the_site = accounts.found_the_site

    def taken_meanwhile(user: User) -> None:
        User.objects.create_user("twin", password=PASSWORD)
        found_the_site(user)

    monkeypatch.setattr(accounts, "found_the_site", taken_meanwhile)
    answer = signup(Client(), "twin")
    assert answer.status_code == 200
    assert "A user with that username already exists." in answer.content.decode()
    assert not User.objects.filter(username="twin").exists()  # undone with the account
    monkeypatch.undo()
    assert signup(Client(), "twin").status_code == 302  # the address's one account is left


def test_a_name_is_one_account_whatever_its_case_in_the_database_too() -> None:
    """The form refuses "Carol" beside "carol"; two signups that pass it at once meet the
    database's constraint (said on the form, as the race below shows)."""
    from django.db import IntegrityError, transaction

    User.objects.create_user("carol", password=PASSWORD)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("Carol", password=PASSWORD)
    refused = signup(Client(), "CAROL")
    assert "A user with that username already exists." in refused.content.decode()


@pytest.mark.django_db(transaction=True)
def test_names_differing_only_in_case_are_renamed_on_upgrade() -> None:
    """Accounts made before the constraint: the oldest keeps its name, later ones take
    their id, and each can still log in by the name it now has."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("webchat", "0012_sweep_indexes")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        Old = executor.loader.project_state(before).apps.get_model("webchat", "User")
        ids = [Old.objects.create(username=name).pk for name in ("Dave", "dave", "DAVE", "eve")]
        # A name the first rename would take, held already (in another case).
        ids.append(Old.objects.create(username=f"DAVE.{ids[1]}").pk)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())  # 0013 and every later one
    names = dict(User.objects.values_list("pk", "username"))
    assert [names[pk] for pk in ids] == [
        "Dave", f"dave.{ids[1]}.1", f"DAVE.{ids[2]}", "eve", f"DAVE.{ids[1]}"
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_signups_of_one_name_at_once_make_it_once_and_cost_one_account(settings: object) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "2/h"}
    if connection.vendor == "sqlite":
        pytest.skip("SQLite's test database is one connection in memory")

    def one(name: str) -> int:
        try:
            return signup(Client(), name).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(6) as pool:  # one name, as typed and in other cases
        codes = list(pool.map(one, ["twin", "twin", "Twin", "TWIN", "tWin", "twiN"]))
    assert sorted(codes) == [200] * 5 + [302], codes
    assert signup(Client(), "other").status_code == 302


def test_deleting_an_account_is_not_held_to_the_signups_of_its_address(settings: object) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": "1/h"}
    client = Client()
    assert signup(client, "leaver").status_code == 302
    assert signup(Client(), "other").status_code == 429  # the address's one account made
    gone = client.post("/accounts/delete/", {"confirmation": PASSWORD})
    assert "Account deleted" in gone.content.decode()
    assert not User.objects.filter(username="leaver").exists()


# --- Email verification -------------------------------------------------------------------
def mail_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from webchat import accounts

    def down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("the mail server is down")

    monkeypatch.setattr(accounts, "send_mail", down)


def test_a_confirmation_email_that_cannot_be_sent_makes_no_account(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account would hold its name and address until its link lapsed, with no link."""
    settings.SIGNUP_VERIFY_EMAIL = True
    mail_down(monkeypatch)
    form = {"username": "vera", "email": "vera@example.org"}
    answer = Client().post(
        "/accounts/signup/", {**form, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert answer.status_code == 200 and "could not be sent" in answer.content.decode()
    assert not User.objects.filter(username="vera").exists()


def test_signup_with_verification_waits_for_the_link(settings: object, mailoutbox: list) -> None:
    import re

    settings.SIGNUP_VERIFY_EMAIL = True
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "username": "vera",
            "email": "vera@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert "Check your email" in response.content.decode()
    vera = User.objects.get(username="vera")
    assert not vera.is_active
    assert (
        client.post("/accounts/login/", {"username": "vera", "password": PASSWORD}).status_code
        == 200
    )
    (mail,) = mailoutbox
    link = re.search(r"http://testserver(/accounts/verify/\S+)", mail.body).group(1)
    # Opening the link shows a button; it neither opens the account nor logs anyone in.
    assert "Confirm" in client.get(link).content.decode()
    assert client.head(link).status_code == 200  # a mail scanner's HEAD opens nothing either
    assert not User.objects.get(username="vera").is_active
    opened = client.post(link)
    assert "Account confirmed" in opened.content.decode()
    assert client.get("/").status_code == 302  # not logged in by the link
    assert (
        client.post("/accounts/login/", {"username": "vera", "password": PASSWORD}).status_code
        == 302
    )
    # The link works once, and stays dead if the account is deactivated later.
    assert "not valid" in Client().post(link).content.decode()
    User.objects.filter(username="vera").update(is_active=False)
    assert "not valid" in Client().post(link).content.decode()
    assert not User.objects.get(username="vera").is_active


def test_an_unconfirmed_signup_does_not_hold_its_address_forever(settings: object) -> None:
    from datetime import timedelta

    from django.utils import timezone

    settings.SIGNUP_VERIFY_EMAIL = True
    data = {"email": "v@example.org", "password1": PASSWORD, "password2": PASSWORD}
    Client().post("/accounts/signup/", {"username": "squatter", **data})
    refused = Client().post("/accounts/signup/", {"username": "victim", **data})
    assert "exists already" in refused.content.decode()
    User.objects.filter(username="squatter").update(date_joined=timezone.now() - timedelta(days=4))
    Client().post("/accounts/signup/", {"username": "victim", **data})
    assert User.objects.filter(username="victim").exists()


def test_a_new_address_changes_when_its_mailed_link_is_opened(
    settings: object, mailoutbox: list
) -> None:
    """Where signup confirms addresses, a changed one is confirmed too: an account cannot
    claim an address it does not read (which would keep its owner from signing up)."""
    import re

    settings.SIGNUP_VERIFY_EMAIL = True
    User.objects.create_user("mallory", email="m@example.org", password=PASSWORD)
    client = Client()
    client.post("/accounts/login/", {"username": "mallory", "password": PASSWORD})
    asked = client.post("/accounts/", {"email": "ceo@example.com", "password": PASSWORD})
    assert "We sent a link to ceo@example.com" in asked.content.decode()
    assert User.objects.get(username="mallory").email == "m@example.org"  # not yet
    data = {"email": "ceo@example.com", "password1": PASSWORD, "password2": PASSWORD}
    Client().post("/accounts/signup/", {"username": "ceo", **data})
    assert User.objects.filter(username="ceo").exists()  # the address was free for its owner
    mail, _ = mailoutbox  # (then the new account's own)
    assert mail.to == ["ceo@example.com"]
    link = re.search(r"http://testserver(/accounts/email/\S+)", mail.body).group(1)
    # The owner of the address holds it now: the link is dead.
    assert "not valid" in client.post(link).content.decode()
    assert User.objects.get(username="mallory").email == "m@example.org"


def new_address_asked(settings: Any, mailoutbox: list) -> tuple[Client, str]:
    """Where addresses are confirmed, vera (old@example.org), logged in, asks for
    new@example.org: her client, and the link mailed there."""
    import re

    settings.SIGNUP_VERIFY_EMAIL = True
    User.objects.create_user("vera", email="old@example.org", password=PASSWORD)
    client = Client()
    client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    client.post("/accounts/", {"email": "new@example.org", "password": PASSWORD})
    (mail,) = mailoutbox
    return client, re.search(r"http://testserver(/accounts/email/\S+)", mail.body).group(1)


def test_a_changed_address_is_confirmed_once_by_a_button_not_by_opening_the_link(
    settings: object, mailoutbox: list
) -> None:
    client, link = new_address_asked(settings, mailoutbox)
    assert "old@example.org" not in mailoutbox[0].body + link  # nor readable in the link
    # Whoever reads the new mailbox is not the account's owner: only its session confirms.
    for anyone in (Client().post(link), Client().get(link)):
        assert anyone.status_code == 302 and anyone["Location"].startswith("/accounts/login/")
    assert "Confirm" in client.get(link).content.decode()
    assert client.head(link).status_code == 200
    assert User.objects.get(username="vera").email == "old@example.org"
    changed = client.post(link)
    assert "is now new@example.org" in changed.content.decode()
    assert User.objects.get(username="vera").email == "new@example.org"
    _, notice = mailoutbox  # the old address is told, in case it was not its owner's doing
    assert notice.to == ["old@example.org"] and "vera was changed" in notice.body
    # Not where the mail goes now: the old mailbox may be someone else's by now.
    assert "new@example.org" not in notice.body and "accounts/email/" not in notice.body
    assert "not valid" in client.post(link).content.decode()  # once
    assert "not valid" in client.post(link[:-4] + "abc/").content.decode()
    User.objects.create_user("other", password=PASSWORD)  # another account's session
    other = Client()
    other.post("/accounts/login/", {"username": "other", "password": PASSWORD})
    User.objects.filter(username="vera").update(email="old@example.org")
    assert "not valid" in other.post(link).content.decode()
    assert User.objects.get(username="other").email == ""
    # Taking the address out needs no link. The address taken out is told all the same:
    # emptying it first is no way round.
    client.post("/accounts/", {"email": "", "password": PASSWORD})
    assert User.objects.get(username="vera").email == ""
    assert mailoutbox[-1].to == ["old@example.org"] and len(mailoutbox) == 3
    client.post("/accounts/", {"email": "plain@example.org", "password": PASSWORD})
    assert len(mailoutbox) == 4 and mailoutbox[-1].to == ["plain@example.org"]  # its link


def test_without_verification_no_mail_goes_to_an_address_typed_in(
    settings: object, mailoutbox: list
) -> None:
    """Addresses are not confirmed: each may be anyone's, so changing them one after
    another must not mail each in turn."""
    settings.SIGNUP_VERIFY_EMAIL = False
    User.objects.create_user("vera", password=PASSWORD)
    client = Client()
    client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    for email in ("one@example.org", "two@example.org", "", "three@example.org"):
        client.post("/accounts/", {"email": email, "password": PASSWORD})
        assert User.objects.get(username="vera").email == email
    assert mailoutbox == []


def test_a_look_alike_address_is_a_new_one(settings: object, mailoutbox: list) -> None:
    """Case aside, an address differs by any letter: the Kelvin sign is not a "K", however
    it lowers. Confirmed like any new address; the same one in capitals needs nothing."""
    client, _ = new_address_asked(settings, mailoutbox)
    client.post("/accounts/", {"email": "OLD@example.org", "password": PASSWORD})
    assert User.objects.get(username="vera").email == "OLD@example.org"
    assert len(mailoutbox) == 1  # neither a link nor a notice
    look_alike = "\u212aate@example.org"
    User.objects.filter(username="vera").update(email="kate@example.org")
    client.post("/accounts/", {"email": look_alike, "password": PASSWORD})
    assert User.objects.get(username="vera").email == "kate@example.org"  # not yet
    assert mailoutbox[-1].to == [look_alike] and len(mailoutbox) == 2


def test_a_new_address_whose_link_cannot_be_mailed_is_said_on_the_form(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SIGNUP_VERIFY_EMAIL = True
    mail_down(monkeypatch)
    User.objects.create_user("vera", email="old@example.org", password=PASSWORD)
    client = Client()
    client.post("/accounts/login/", {"username": "vera", "password": PASSWORD})
    answer = client.post("/accounts/", {"email": "new@example.org", "password": PASSWORD})
    html = answer.content.decode()
    assert "could not be sent" in html and 'value="new@example.org"' in html
    assert User.objects.get(username="vera").email == "old@example.org"


def test_a_new_address_is_confirmed_even_when_the_old_one_cannot_be_told(
    settings: object, mailoutbox: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, link = new_address_asked(settings, mailoutbox)
    mail_down(monkeypatch)
    assert "is now new@example.org" in client.post(link).content.decode()
    assert User.objects.get(username="vera").email == "new@example.org"


def test_verification_needs_an_email(settings: object) -> None:
    settings.SIGNUP_VERIFY_EMAIL = True
    response = signup(Client(), "noemail")
    assert response.status_code == 200 and not User.objects.exists()


# --- Passwords ----------------------------------------------------------------------------
def test_a_person_changes_their_password() -> None:
    User.objects.create_user("alice", password=PASSWORD)
    client, elsewhere = Client(), Client()
    for c in (client, elsewhere):
        c.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    new = "another long passphrase 43"
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/password/done/"
    assert client.get("/").status_code == 200  # this session stays
    assert elsewhere.get("/").status_code == 302  # the others end
    assert User.objects.get(username="alice").check_password(new)


def test_a_forgotten_password_is_reset_by_mail(mailoutbox: list) -> None:
    import re

    User.objects.create_user("alice", email="alice@example.org", password=PASSWORD)
    old_session = Client()
    old_session.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    client = Client()
    response = client.post("/accounts/password/reset/", {"email": "ALICE@example.org"})
    assert response.status_code == 302
    (mail,) = mailoutbox
    link = re.search(r"http://testserver(/accounts/password/reset/\S+)", mail.body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    new = "another long passphrase 43"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302 and done["Location"] == "/accounts/password/reset/done/"
    assert old_session.get("/").status_code == 302
    assert (
        Client().post("/accounts/login/", {"username": "alice", "password": new}).status_code == 302
    )
    # The link is spent.
    assert "not valid any more" in Client().get(link, follow=True).content.decode()


def test_a_reset_link_is_written_in_the_account_s_language(mailoutbox: list) -> None:
    """Asked for from a browser in another language, the mail is in the account's own; an
    account without one gets the browser's."""
    User.objects.create_user("alice", email="alice@example.org", password=PASSWORD, language="es")
    User.objects.create_user("bob", email="bob@example.org", password=PASSWORD)
    for address in ("alice@example.org", "bob@example.org"):
        Client(headers={"accept-language": "en"}).post(
            "/accounts/password/reset/", {"email": address}
        )
    Client(headers={"accept-language": "es"}).post(
        "/accounts/password/reset/", {"email": "bob@example.org"}
    )
    subjects = [mail.subject for mail in mailoutbox]
    assert subjects == [
        "Restablece tu contraseña de webchat",
        "Reset your webchat password",
        "Restablece tu contraseña de webchat",
    ]
    assert 'Alguien pidió restablecer la contraseña de la cuenta de webchat "alice"' in (
        mailoutbox[0].body
    )
    assert 'Someone asked to reset the password of the webchat account "bob"' in mailoutbox[1].body


def test_a_reset_for_an_unknown_address_looks_the_same(mailoutbox: list) -> None:
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert mailoutbox == []


def test_a_person_sets_their_email_with_their_password() -> None:
    alice = User.objects.create_user("alice", password=PASSWORD)
    client = Client()
    client.force_login(alice)
    wrong = client.post("/accounts/", {"email": "a@example.org", "password": "nope"})
    assert "not your password" in wrong.content.decode()
    # A password manager knows what to fill.
    assert 'autocomplete="current-password"' in wrong.content.decode()
    assert 'autocomplete="email"' in wrong.content.decode()
    client.post("/accounts/", {"email": "a@example.org", "password": PASSWORD})
    alice.refresh_from_db()
    assert alice.email == "a@example.org"


def test_provider_sign_ups_follow_the_sites_signup_unless_always_open(settings: object) -> None:
    from django.test import RequestFactory

    from webchat.models import SiteSettings
    from webchat.oidc import SocialAccountAdapter

    request = RequestFactory().get("/")
    adapter = SocialAccountAdapter(request)
    SiteSettings.objects.update_or_create(pk=1, defaults={"signup_open": False})
    settings.OIDC_SIGNUP_OPEN = True
    assert adapter.is_open_for_signup(request, None)
    settings.OIDC_SIGNUP_OPEN = False
    assert not adapter.is_open_for_signup(request, None)
    SiteSettings.objects.update(signup_open=True)
    assert adapter.is_open_for_signup(request, None)


def test_allauths_own_login_page_is_ours() -> None:
    response = Client().get("/auth/login/?next=/usage/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/usage/"


def test_a_name_logs_in_whatever_its_case() -> None:
    User.objects.create_user("carol", password=PASSWORD)
    assert log_in(PASSWORD, username="Carol").status_code == 302


def test_a_completed_reset_lifts_the_lock(mailoutbox: list) -> None:
    import re

    User.objects.create_user("alice", email="alice@example.org", password=PASSWORD)
    lock_out()
    client = Client()
    client.post("/accounts/password/reset/", {"email": "alice@example.org"})
    link = re.search(r"http://testserver(/accounts/password/reset/\S+)", mailoutbox[0].body)
    form = client.get(link.group(1), follow=True)
    new = "another long passphrase 43"
    client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert log_in(new).status_code == 302


def test_a_lock_counts_down_and_tries_while_locked_do_not_extend_it(settings: object) -> None:
    import time
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(seconds=3)
    User.objects.create_user("alice", password=PASSWORD)
    lock_out()
    time.sleep(1.1)
    refused = log_in(PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) <= 2
    assert (
        "try again in 2 seconds" in refused.content.decode()
        or "1 seconds" in refused.content.decode()
    )
    time.sleep(2)
    assert log_in(PASSWORD).status_code == 302


def test_deleting_my_account_needs_my_password_and_keeps_everything_on_a_wrong_one() -> None:
    client = Client()
    signup(client, "leaver")
    assert "Your password" in client.get("/accounts/delete/").content.decode()
    response = client.post("/accounts/delete/", {"confirmation": "not it"})
    assert response.status_code == 400 and "That is not your password." in response.content.decode()
    assert User.objects.filter(username="leaver").exists()
    assert client.get("/").status_code == 200  # still logged in


def test_deleting_my_account_takes_everything_of_mine_but_the_ledger_rows(
    settings: object, tmp_path: object, django_capture_on_commit_callbacks: Any
) -> None:
    from api.models import ApiKey
    from conversations.models import Attachment, Conversation, SavedPrompt, Share
    from tests.helpers import add_exchange, attach_image
    from webchat.models import UsageRecord

    settings.MEDIA_ROOT = tmp_path
    signup(Client(), "stayer")  # the first account: the administrator
    client = Client()
    signup(client, "leaver")
    leaver, stayer = User.objects.get(username="leaver"), User.objects.get(username="stayer")
    for person in (leaver, stayer):
        conversation = Conversation.objects.create(owner=person, title="mine")
        reply = add_exchange(conversation, "q", "a")
        Share.objects.create(conversation=conversation, leaf=reply)
        attach_image(reply.parent)
        SavedPrompt.objects.create(owner=person, name="p", text="t")
        ApiKey.objects.issue(person, name="k")
        UsageRecord.objects.create(user=person, model="grok-3", status="complete")
    leaver_file = Attachment.objects.get(owner=leaver).file.path
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/delete/", {"confirmation": PASSWORD})
    assert response.status_code == 200 and "Account deleted" in response.content.decode()
    assert not User.objects.filter(username="leaver").exists()
    for model in (Conversation, Attachment, SavedPrompt, ApiKey):
        assert model.objects.filter(**{"owner": stayer}).count() == 1
        assert model.objects.count() == 1
    assert Share.objects.count() == 1
    assert not Path(leaver_file).exists()
    # The ledger keeps both rows: the operator's totals stay right.
    assert UsageRecord.objects.count() == 2 and UsageRecord.objects.filter(user=None).count() == 1
    # Logged out: the session is gone with the person.
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_an_account_without_a_password_confirms_with_its_username() -> None:
    person = User.objects.create(username="viaprovider")
    person.set_unusable_password()
    person.save()
    client = Client()
    client.force_login(person)
    assert "Type “viaprovider” to confirm." in client.get("/accounts/delete/").content.decode()
    assert client.post("/accounts/delete/", {"confirmation": "someone"}).status_code == 400
    assert client.post("/accounts/delete/", {"confirmation": "viaprovider"}).status_code == 200
    assert not User.objects.filter(username="viaprovider").exists()


def test_the_only_administrator_cannot_leave_the_site_without_one() -> None:
    client = Client()
    signup(client, "founder")
    signup(Client(), "member")
    # Said as the page opens, with no password to type first.
    page = client.get("/accounts/delete/").content.decode()
    assert "only administrator" in page and 'name="confirmation"' not in page
    response = client.post("/accounts/delete/", {"confirmation": PASSWORD})
    assert response.status_code == 400 and "only administrator" in response.content.decode()
    User.objects.filter(username="member").update(is_superuser=True, is_staff=True)
    assert 'name="confirmation"' in client.get("/accounts/delete/").content.decode()
    assert client.post("/accounts/delete/", {"confirmation": PASSWORD}).status_code == 200
    assert not User.objects.filter(username="founder").exists()


def test_an_administrator_is_one_who_can_open_the_admin() -> None:
    client = Client()
    signup(client, "founder")
    signup(Client(), "member")
    # A superuser who cannot log into the admin (not staff) does not count as another one.
    User.objects.filter(username="member").update(is_superuser=True, is_staff=False)
    response = client.post("/accounts/delete/", {"confirmation": PASSWORD})
    assert response.status_code == 400 and User.objects.filter(username="founder").exists()


def test_logging_in_brings_the_persons_language_or_clears_the_last_ones() -> None:
    from django.conf import settings

    signup(Client(), "founder")
    User.objects.create_user("arabic", password=PASSWORD, language="ar")
    User.objects.create_user("plain", password=PASSWORD)
    browser = Client()
    browser.post("/accounts/login/", {"username": "arabic", "password": PASSWORD})
    assert browser.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"
    browser.post("/accounts/logout/")
    browser.post("/accounts/login/", {"username": "plain", "password": PASSWORD})
    assert browser.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    assert 'dir="ltr"' in browser.get("/").content.decode()
