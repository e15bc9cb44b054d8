import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Message
from tests.helpers import add_exchange, logged_in
from webchat.models import User

pytestmark = pytest.mark.django_db


def test_it_requires_login(conversation: Conversation) -> None:
    client = Client()
    for url in ("/", f"/c/{conversation.id}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post("/c/").status_code == 302


def test_it_creates_a_conversation_as_json(alice: User) -> None:
    response = logged_in(alice).post("/c/", headers={"Accept": "application/json"})
    assert response.status_code == 201
    body = response.json()
    conversation = Conversation.objects.get(pk=body["id"])
    assert conversation.owner == alice and body["url"] == f"/c/{conversation.id}/"


def test_it_creates_a_conversation_and_redirects(alice: User) -> None:
    response = logged_in(alice).post("/c/")
    assert response.status_code == 302
    assert response["Location"] == Conversation.objects.get().get_absolute_url()


def test_create_needs_csrf(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/c/").status_code == 403


def test_the_page_shows_the_thread_rendered_safely(alice: User, conversation: Conversation) -> None:
    add_exchange(
        conversation, "<b>hi</b> <script>alert(1)</script>", "**bold** <img src=x onerror=alert(1)>"
    )
    response = logged_in(alice).get(f"/c/{conversation.id}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;b&gt;hi&lt;/b&gt; &lt;script&gt;" in html
    assert "<strong>bold</strong>" in html
    assert "onerror" not in html.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert "<script>alert" not in html


def test_the_page_shows_only_the_current_branch(alice: User, conversation: Conversation) -> None:
    first = add_exchange(conversation, "question one", "answer one")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=first.parent,
        content="other branch",
        status="complete",
    )
    html = logged_in(alice).get(f"/c/{conversation.id}/").content.decode()
    assert "answer one" in html and "other branch" not in html


def test_the_page_includes_a_reply_in_progress(alice: User, conversation: Conversation) -> None:
    reply = add_exchange(
        conversation,
        "tell me",
        "half a repl",
        status=Message.Status.STREAMING,
        seq=7,
        channel="generation.x",
        lease_until=timezone.now() + timedelta(seconds=30),
    )
    html = logged_in(alice).get(f"/c/{conversation.id}/").content.decode()
    article = html.split(f'data-id="{reply.id}"')[1].split(">")[0]
    assert 'data-status="streaming"' in article and 'data-seq="7"' in article
    assert "half a repl" in html


def test_the_page_marks_an_abandoned_reply_interrupted(
    alice: User, conversation: Conversation, settings: object
) -> None:
    """A reply whose lease ran out a whole lease ago: its generation is taken for dead."""
    reply = add_exchange(
        conversation,
        "tell me",
        "half",
        status=Message.Status.STREAMING,
        lease_until=timezone.now() - timedelta(seconds=settings.CHAT_LEASE_SECONDS + 1),  # type: ignore[attr-defined],
    )
    html = logged_in(alice).get(f"/c/{conversation.id}/").content.decode()
    assert 'data-status="interrupted"' in html and "Interrupted" in html
    reply.refresh_from_db()
    assert reply.status == Message.Status.INTERRUPTED and reply.content == "half"


def test_the_page_leaves_a_reply_whose_lease_just_ran_out_to_its_socket(
    alice: User, conversation: Conversation
) -> None:
    """A page load cannot ask the generation (its socket pings it): a live one whose
    checkpoints the database refused for a moment is not cut off."""
    reply = add_exchange(
        conversation,
        "tell me",
        "half",
        status=Message.Status.STREAMING,
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    html = logged_in(alice).get(f"/c/{conversation.id}/").content.decode()
    assert 'data-status="streaming"' in html
    reply.refresh_from_db()
    assert reply.status == Message.Status.STREAMING


def test_the_sidebar_lists_only_my_conversations(alice: User, charlie: User) -> None:
    Conversation.objects.create(owner=alice, title="mine")
    Conversation.objects.create(owner=charlie, title="not yours")
    html = logged_in(alice).get("/").content.decode()
    assert "mine" in html and "not yours" not in html


def test_it_renames_and_keeps_its_place_in_time(alice: User, conversation: Conversation) -> None:
    before = Conversation.objects.get(pk=conversation.pk).updated
    response = logged_in(alice).post(f"/c/{conversation.id}/rename/", {"title": "  Trip plans "})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans"
    assert conversation.updated == before  # a new name is no new activity: no move up the list


def test_rename_refuses_an_empty_title(alice: User, conversation: Conversation) -> None:
    response = logged_in(alice).post(f"/c/{conversation.id}/rename/", {"title": " "})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_it_deletes(alice: User, conversation: Conversation) -> None:
    add_exchange(conversation, "q", "a")
    response = logged_in(alice).post(f"/c/{conversation.id}/delete/")
    assert response.status_code == 302
    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_deleting_the_conversation_a_page_is_on_is_said_on_the_next_page(
    alice: User, conversation: Conversation
) -> None:
    client = logged_in(alice)
    other = Conversation.objects.create(owner=alice, title="Other")
    # From another page (the list's menu): that page shows it, nothing is said later.
    client.post(f"/c/{other.id}/delete/", {"current": str(conversation.id)})
    assert "was deleted" not in client.get("/").content.decode()
    conversation.title = "<b>Plans</b>"
    conversation.save()
    client.post(f"/c/{conversation.id}/delete/", {"current": str(conversation.id)})
    page = client.get("/").content.decode()
    assert "“&lt;b&gt;Plans&lt;/b&gt;” was deleted." in page  # once, and escaped
    assert "was deleted" not in client.get("/").content.decode()


def test_delete_needs_post(alice: User, conversation: Conversation) -> None:
    assert logged_in(alice).get(f"/c/{conversation.id}/delete/").status_code == 405


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("get", "/c/{id}/", None),
        ("post", "/c/{id}/rename/", {"title": "mine now"}),
        ("post", "/c/{id}/delete/", None),
    ],
)
def test_a_stranger_gets_404_for_every_owned_thing(
    charlie: User, conversation: Conversation, method: str, path: str, data: dict | None
) -> None:
    client = logged_in(charlie)
    for target in (conversation.id, uuid.uuid4()):
        response = getattr(client, method)(path.format(id=target), data or {})
        assert response.status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == ""


def test_a_malformed_id_is_404(alice: User) -> None:
    assert logged_in(alice).get("/c/not-a-uuid/").status_code == 404


def test_pages_carry_a_strict_csp(alice: User) -> None:
    response = logged_in(alice).get("/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.content.decode()  # no inline script anywhere


def test_demo_mode_is_announced(alice: User, settings: object) -> None:
    settings.GROK_SIMULATED = True
    assert "replies are simulated" in logged_in(alice).get("/").content.decode()
    settings.GROK_SIMULATED = False
    assert "replies are simulated" not in logged_in(alice).get("/").content.decode()


def test_the_page_renders_the_whole_xss_corpus_safely(
    alice: User, conversation: Conversation
) -> None:
    from tests.test_share_views import assert_safe
    from tests.xss_corpus import CORPUS

    for payload in CORPUS:
        add_exchange(conversation, payload, payload)
    html = logged_in(alice).get(f"/c/{conversation.id}/").content.decode()
    assert_safe(html.split('<section id="thread"')[1].split("</section>")[0])
