"""Every route and socket, tried by a stranger with another person's ids, and every POST
without a CSRF token.

The route table below must name every URL pattern of the project: a new route fails
`test_every_route_is_in_the_table` until someone decides what a stranger may do there.
"""

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from api.models import ApiKey
from conversations.models import Attachment, Conversation, Folder, Message, SavedPrompt, Share
from tests.helpers import add_exchange, logged_in, open_socket
from webchat.models import User

pytestmark = pytest.mark.django_db

# What a logged-in stranger gets on someone else's ids, by route name.
#   "404": not found, whatever the method (the route must not reveal that the id exists)
#   "public": anyone may read it (the page of a live share link)
#   "own": the route takes no one's id: it only ever shows or changes the caller's things
#   "key": the API, for programs: only a key counts, never a login session or its cookie
STRANGER = {
    "conversation": "404",
    "conversation-rename": "404",
    "conversation-delete": "404",
    "conversation-switch": "404",
    "conversation-feedback": "404",
    "conversation-export": "404",
    "conversation-composer": "404",
    "conversation-summarize": "404",
    "conversation-leave": "404",
    "prompt-save": "404",
    "prompt-delete": "404",
    "prompt-create": "own",
    "conversation-organise": "404",
    "folder-rename": "404",
    "folder-delete": "404",
    "keys": "own",
    "key-revoke": "404",
    # Programs with a key of their own (test_api): no session counts there.
    "api-models": "key",
    "api-model": "key",
    "api-chat-completions": "key",
    "api-unknown": "key",
    "settings": "own",
    "export-all": "own",
    "import-data": "own",
    "attachment": "404",
    "attachment-preview": "404",
    "attachment-upload": "404",
    "attachment-remove": "404",
    # A file of a live share's snapshot: anyone with the link reads it (test_attachments).
    "share-attachment": "public",
    "share-attachment-preview": "public",
    "share-create": "404",
    "share-revoke": "404",
    "share": "public",
    # Continuing a shared conversation copies the snapshot into the caller's account: any
    # reader of a live link may do it, and the owner's conversation is untouched.
    "share-fork": "public",
    "home": "own",
    "conversation-create": "own",
    "conversations-more": "own",
    "search": "own",
    "shares": "own",
    "usage": "own",
    "login": "own",
    "logout": "own",
    "signup": "own",
    "account": "own",
    "account-delete": "own",
    # A new address's mailed link: it changes only the logged-in caller's own address.
    "email-change": "own",
    # Whether the caller's own session is live (204 or 401), for nginx before an import.
    "session-check": "public",
    "password_change": "own",
    "password_change_done": "own",
    "healthz": "own",
    # The scripts' translations: the same for everyone.
    "javascript-catalog": "public",
    # Pages for someone who cannot log in: the links in them carry a token, and a wrong
    # token (tried below with Alice's id) changes nothing.
    "password_reset": "public",
    "password_reset_done": "public",
    "password_reset_confirm": "public",
    "password_reset_complete": "public",
    "verify-email": "public",
    # django-allauth, for sign-in with an OpenID Connect provider: the round trip (guarded by
    # its state, not by anyone's id) and the pages it may end on.
    "openid_connect_login": "public",
    "openid_connect_callback": "public",
    "socialaccount_login_cancelled": "public",
    "socialaccount_login_error": "public",
    "socialaccount_signup": "public",
    "socialaccount_connections": "own",
    "account_login": "own",
    "account_logout": "own",
    "account_inactive": "public",
    None: "own",  # favicon.ico
}


def _patterns(resolvers: list[Any], prefix: str = "") -> list[tuple[str, str | None]]:
    found = []
    for entry in resolvers:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                continue  # Django's admin: staff only, tested in test_admin
            found += _patterns(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            found.append((route, entry.name))
    return found


def test_every_route_is_in_the_table() -> None:
    names = {name for _, name in _patterns(get_resolver().url_patterns)}
    assert names == set(STRANGER), f"decide what a stranger may do on: {names ^ set(STRANGER)}"


@pytest.fixture
def victim(alice: User) -> dict[str, Any]:
    conversation = Conversation.objects.create(owner=alice, title="Alice's secret plans")
    reply = add_exchange(conversation, "my secret question", "a secret answer")
    link = logged_in(alice).post(f"/c/{conversation.id}/share/")
    attachment = Attachment(
        owner=alice,
        conversation=conversation,
        kind="text",
        name="secret.txt",
        content_type="text/plain; charset=utf-8",
        size=14,
        text="my secret file",
    )
    attachment.file.save("secret.txt", ContentFile(b"my secret file"), save=False)
    attachment.save()
    prompt = SavedPrompt.objects.create(owner=alice, name="secret", text="my secret prompt")
    key, _ = ApiKey.objects.issue(alice, "secret key")
    folder = Folder.objects.create(owner=alice, name="secret folder")
    conversation.folder = folder
    conversation.save(update_fields=["folder"])
    return {
        "prompt": prompt,
        "folder": folder,
        "key": key,
        "conversation": conversation,
        "message": reply,
        "attachment": attachment,
        "token": link.json()["token"],
        "id": conversation.id,
        "uid": urlsafe_base64_encode(force_bytes(alice.pk)),
    }


def _url(route: str, victim: dict[str, Any]) -> str:
    url = "/" + route
    url = url.replace("<uuid:id>", str(victim["id"])).replace("<str:token>", victim["token"])
    url = url.replace("<uuid:attachment_id>", str(victim["attachment"].id))
    url = url.replace("keys/<int:id>", f"keys/{victim['key'].id}")
    url = url.replace("folders/<int:id>", f"folders/{victim['folder'].id}")
    url = url.replace("^v1/(?P<path>.*)$", "v1/embeddings")
    url = url.replace("<int:id>", str(victim["prompt"].id))
    url = url.replace("^(?P<provider_id>[^/]+)/", "sso/")
    url = url.replace("<uidb64>", victim["uid"]).replace("<token>", "c4w-0123456789abcdef")
    return url.replace("<str:fmt>", "md")


@pytest.mark.parametrize(
    "route,name", [(r, n) for r, n in _patterns(get_resolver().url_patterns) if "<" in r]
)
def test_a_stranger_cannot_reach_or_change_anything_by_id(
    route: str, name: str, victim: dict[str, Any], bob: User
) -> None:
    stranger = logged_in(bob)
    url = _url(route, victim)
    data = {"title": "pwned", "message": str(victim["message"].id)}
    get, post = stranger.get(url), stranger.post(url, data)
    # HEAD answers as GET does (monitors and link checkers use it), so it reveals no more.
    assert stranger.head(url).status_code == get.status_code, url
    if STRANGER[name] == "404":
        assert get.status_code in (404, 405) and post.status_code in (404, 405), url
        assert 404 in (get.status_code, post.status_code)
        for response in (get, post):
            assert b"secret" not in response.content
    # Whatever the route, Alice's things are as they were.
    conversation = Conversation.objects.get(pk=victim["id"])
    assert conversation.title == "Alice's secret plans"
    assert conversation.current_leaf_id == victim["message"].id
    assert conversation.messages.count() == 2
    assert Share.objects.active().filter(token=victim["token"]).exists()
    assert conversation.attachments.get().file.read() == b"my secret file"
    assert SavedPrompt.objects.get(pk=victim["prompt"].id).text == "my secret prompt"
    assert conversation.folder.name == "secret folder" and not conversation.archived
    assert ApiKey.objects.get(pk=victim["key"].id).state() == "active"
    alice = conversation.owner
    assert alice.is_active and alice.check_password("correct horse battery")


@pytest.mark.parametrize("route", [r for r, n in _patterns(get_resolver().url_patterns)])
def test_anonymous_visitors_get_nothing_private(route: str, victim: dict[str, Any]) -> None:
    url = _url(route, victim)
    response = Client().get(url)
    name = dict(_patterns(get_resolver().url_patterns))[route]
    if STRANGER[name] == "key":
        assert response.status_code in (401, 404, 405), url
    elif STRANGER[name] == "public":
        # Open to anyone; a wrong token or an unknown provider is refused as such.
        assert response.status_code in (200, 301, 302, 400, 401, 404, 405)
    elif name in ("login", "signup", "healthz", None):
        assert response.status_code in (200, 301, 302, 405)
    else:
        assert response.status_code in (302, 404, 405), url
        if response.status_code == 302:
            assert response["Location"].startswith("/accounts/login/")
    assert b"secret question" not in response.content or name == "share"


@pytest.mark.parametrize("route", [r for r, n in _patterns(get_resolver().url_patterns)])
def test_a_script_without_a_login_gets_a_401_it_can_read(
    route: str, victim: dict[str, Any]
) -> None:
    """What a page's script asks (JSON) after its session ended: never the login page's HTML
    as a 200 (fetch follows redirects), whatever the route and method."""
    url = _url(route, victim)
    for method in (Client().get, Client().post):
        response = method(url, headers={"Accept": "application/json"})
        # (`login_required`'s way; the logout and the old login address lead there too.)
        to_login = response.get("Location", "").startswith("/accounts/login/?next=")
        assert not (response.status_code == 302 and to_login), url
    answer = Client().post("/c/", headers={"Accept": "application/json"})
    assert answer.json() == {
        "error": {
            "code": "not_logged_in",
            "message": "Your session has ended. Please log in again.",
        }
    }
    assert "no-store" in answer["Cache-Control"] and "Accept" in answer["Vary"]
    assert answer["Content-Security-Policy"] and answer["X-Frame-Options"] == "DENY"


async def test_a_socket_to_no_route_is_refused_not_a_server_error() -> None:
    from channels.testing import WebsocketCommunicator

    from webchat.asgi import application

    communicator = WebsocketCommunicator(
        application,
        "/ws/conversations/undefined/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")],
    )
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize("route,name", _patterns(get_resolver().url_patterns))
def test_every_post_needs_the_csrf_token(
    route: str, name: str | None, victim: dict[str, Any], alice: User
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(_url(route, victim), {"title": "changed"})
    if STRANGER[name] == "key":
        # No CSRF check, since no cookie counts: the logged-in session is refused.
        assert response.status_code in (401, 404, 405), route
        return
    # Refused before any view runs, whether or not the route takes a POST.
    assert response.status_code == 403, route
    conversation = Conversation.objects.get(pk=victim["id"])
    assert conversation.title == "Alice's secret plans"


def test_the_admin_needs_the_csrf_token_too(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)  # the first account: an administrator
    response = client.post("/admin/webchat/plan/add/", {"name": "free for all"})
    assert response.status_code == 403


def test_a_refused_post_says_why_in_words_to_a_page_and_to_a_script(alice: User) -> None:
    """A token out of date (a login in another tab since the page opened) asks for a reload;
    a POST from another site, or without the site's cookie, is named as such. A person's
    page gets a page, a script JSON."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    cookieless = client.post("/c/", HTTP_ACCEPT="application/json")
    assert cookieless.status_code == 403
    assert cookieless.json()["error"]["message"].startswith(
        "Your browser did not send this site's cookies"
    )
    client.get("/")  # the CSRF cookie
    stale = {"HTTP_X_CSRFTOKEN": "x" * 32}
    # A form: sent again from its page (this site's), gone back to.
    page = client.post(
        "/accounts/", HTTP_ACCEPT="text/html", HTTP_REFERER="http://testserver/accounts/", **stale
    )
    assert page.status_code == 403
    assert "This page was out of date" in page.text and 'role="alert"' in page.text
    assert '<a href="http://testserver/accounts/">Back to the page</a>' in page.text
    foreign = client.post(
        "/accounts/", HTTP_ACCEPT="text/html", HTTP_REFERER="https://elsewhere.example/", **stale
    )
    assert '<a href="/">Back to webchat</a>' in foreign.text
    # A login page left open while this browser logged in, as the same person: where it
    # was going. As someone else, or from another site, it is refused.
    html = {"HTTP_ACCEPT": "text/html", **stale}
    login = client.post("/accounts/login/", {"username": " ALICE", "next": "/usage/"}, **html)
    assert login.status_code == 302 and login["Location"] == "/usage/"
    away = client.post(
        "/accounts/login/", {"username": "alice", "next": "https://x.example/"}, **html
    )
    assert away.status_code == 302 and away["Location"] == "/"
    other = client.post("/accounts/login/", {"username": "bob", "next": "/usage/"}, **html)
    assert other.status_code == 403 and "This page was out of date" in other.text
    forged = client.post(
        "/accounts/login/",
        {"username": "alice", "next": "/usage/"},
        HTTP_ORIGIN="https://elsewhere.example",
        **html,
    )
    assert forged.status_code == 403 and "came from another site" in forged.text
    script = client.post("/c/", HTTP_ACCEPT="application/json", **stale)
    assert script.status_code == 403
    assert script.json()["error"] == {
        "code": "invalid_request",
        "message": "This page is out of date: you have logged in or out since it was opened, "
        "in another tab perhaps. Reload it and try again.",
    }
    elsewhere = client.post(
        "/c/",
        HTTP_ACCEPT="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
        HTTP_ORIGIN="https://elsewhere.example",
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["message"] == (
        "This request came from another site and was refused."
    )
    assert not Conversation.objects.filter(owner=alice).exists()


@pytest.mark.django_db(transaction=True)
async def test_a_strangers_socket_reaches_nothing_by_id(victim: dict[str, Any], bob: User) -> None:
    # Someone else's conversation: closed as if it did not exist.
    socket, _ = await open_socket(bob, victim["id"])
    closed = await socket.communicator.receive_output(2)
    assert closed == {"type": "websocket.close", "code": 4404}
    # From the stranger's own conversation, the victim's message ids are not found.
    own = await Conversation.objects.acreate(owner=bob)
    socket, _ = await open_socket(bob, own.id)
    message_id = str(victim["message"].id)
    for frame in (
        {"type": "resume", "message": message_id},
        {"type": "regenerate", "message": message_id},
        {"type": "send", "content": "hi", "parent": message_id},
        {"type": "send", "content": "hi", "attachments": [str(victim["attachment"].id)]},
    ):
        await socket.send(frame)
        answer = await socket.receive()
        assert answer["type"] == "error" and answer["code"] == "not_found", answer
        assert "secret" not in str(answer)
    await socket.close()
    assert await Message.objects.filter(conversation=own).acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_an_expired_login_opens_no_socket(alice: User) -> None:
    from datetime import timedelta

    from channels.testing import WebsocketCommunicator
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from webchat.asgi import application

    conversation = await Conversation.objects.acreate(owner=alice)
    client = await sync_to_async(logged_in)(alice)
    await Session.objects.aupdate(expire_date=timezone.now() - timedelta(seconds=1))
    communicator = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation.id}/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        ],
    )
    await communicator.connect()
    assert await communicator.receive_output(2) == {"type": "websocket.close", "code": 4401}


@pytest.mark.parametrize("route", [r for r, n in _patterns(get_resolver().url_patterns)])
def test_what_the_owner_is_answered_is_not_kept_by_the_browser(
    route: str, victim: dict[str, Any]
) -> None:
    """No page or answer of a person's is kept by their browser (a shared computer's cache,
    Back after a deletion) unless its view says how it may be: the scripts' catalog, the
    same for everyone; a file, checked again by its ETag."""
    owner = logged_in(victim["conversation"].owner)
    response = owner.get(_url(route, victim))
    if response.status_code != 200:
        return
    control = response.get("Cache-Control", "")
    name = dict(_patterns(get_resolver().url_patterns))[route]
    assert "no-store" in control or "no-cache" in control or name == "javascript-catalog", name
