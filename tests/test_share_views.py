import re
from typing import Any

import pytest
from django.test import Client

from conversations.models import Conversation, Message, Share
from tests.helpers import add_exchange, logged_in, page
from webchat.models import User

pytestmark = pytest.mark.django_db


def share(owner: User, conversation: Conversation, **data: str) -> dict:
    response = logged_in(owner).post(
        f"/c/{conversation.id}/share/", data, headers={"Accept": "application/json"}
    )
    assert response.status_code in (200, 201), response.content
    return response.json()


def test_the_owner_shares_and_anyone_reads(alice: User, conversation: Conversation) -> None:
    add_exchange(conversation, "What is a lobster?", "A **crustacean**.")
    link = share(alice, conversation)
    assert link["url"].startswith("http://testserver/s/")
    response = Client().get(f"/s/{link['token']}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "What is a lobster?" in html and "<strong>crustacean</strong>" in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    # The model is shown, kept apart from the words around it in a right-to-left language.
    assert "<bdi>Grok 3</bdi>" in html
    assert Share.objects.get().views == 1


def test_the_owner_opening_their_own_link_is_not_counted_as_a_view(
    alice: User, bob: User, conversation: Conversation
) -> None:
    add_exchange(conversation, "q", "a")
    link = share(alice, conversation)
    for reader in (logged_in(alice), logged_in(alice), logged_in(bob), Client()):
        assert reader.get(f"/s/{link['token']}/").status_code == 200
    assert Share.objects.get().views == 2


def test_a_reply_rendered_for_a_page_is_stored_and_not_rendered_again(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply with no stored rendering (imported, or an older renderer's): the first page
    renders and stores it; no later page, anyone's, renders it again."""
    from conversations import render

    add_exchange(conversation, "q", "A **bold** answer.")
    link = share(alice, conversation)
    assert "<strong>bold</strong>" in Client().get(f"/s/{link['token']}/").content.decode()
    reply = Message.objects.get(role=Message.Role.ASSISTANT)
    assert reply.rendered_version == render.VERSION and "<strong>bold</strong>" in reply.rendered

    def again(text: str) -> str:
        raise AssertionError("rendered again")

    monkeypatch.setattr(render, "render_markdown", again)
    for response in (
        Client().get(f"/s/{link['token']}/"),
        logged_in(alice).get(f"/c/{conversation.id}/"),
    ):
        assert "<strong>bold</strong>" in response.content.decode()


def test_an_address_reads_shared_pages_at_a_bounded_rate(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "share_view": "2/m"}
    add_exchange(conversation, "q", "a")
    url = f"/s/{share(alice, conversation)['token']}/"
    assert [Client().get(url).status_code for _ in range(3)] == [200, 200, 429]
    assert Client(REMOTE_ADDR="192.0.2.8").get(url).status_code == 200


def test_a_page_renders_a_bounded_amount_and_never_stores_a_rendering_of_older_text(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past PAGE_RENDER_CHARS a page shows the rest as written (a later page renders it);
    an edit made while a reply was being rendered is not overwritten by the old text's."""
    from conversations import render

    monkeypatch.setattr(render, "PAGE_RENDER_CHARS", 50)
    for n in range(3):
        add_exchange(conversation, f"q{n}", f"**bold {n}** " + "x" * 30)
    url = f"/s/{share(alice, conversation)['token']}/"
    html = Client().get(url).content.decode()
    assert "<strong>bold 0</strong>" in html and "**bold 1**" in html and "**bold 2**" in html
    html = Client().get(url).content.decode()
    assert "<strong>bold 1</strong>" in html and "**bold 2**" in html
    last = Message.objects.get(content__startswith="**bold 2**")
    markdown = render.render_markdown

    def edited_meanwhile(text: str) -> str:
        Message.objects.filter(pk=last.pk).update(content="[redacted]", rendered_version=0)
        return markdown(text)

    monkeypatch.setattr(render, "render_markdown", edited_meanwhile)
    Client().get(url)
    last.refresh_from_db()
    assert last.rendered_version == 0 and "bold" not in last.rendered


def test_tokens_are_long_and_random(alice: User, conversation: Conversation, bob: User) -> None:
    add_exchange(conversation, "q", "a")
    first = share(alice, conversation)["token"]
    other = Conversation.objects.create(owner=bob)
    add_exchange(other, "q", "a")
    second = share(bob, other)["token"]
    assert len(first) >= 32 and first != second  # 24 random bytes: 192 bits


def test_the_snapshot_excludes_later_messages_until_updated(
    alice: User, conversation: Conversation
) -> None:
    add_exchange(conversation, "first question", "first answer")
    link = share(alice, conversation)
    add_exchange(conversation, "later question", "later answer")
    html = page(Client(), f"/s/{link['token']}/")
    assert "first answer" in html and "later question" not in html
    again = share(alice, conversation)
    assert again["token"] == link["token"] and again["updated"]
    assert "later answer" in page(Client(), f"/s/{link['token']}/")


def test_the_system_prompt_is_shown_only_when_chosen(
    alice: User, conversation: Conversation
) -> None:
    add_exchange(conversation, "hi", "hello", params={"system": "You are a pirate."})
    link = share(alice, conversation)
    assert "You are a pirate." not in page(Client(), f"/s/{link['token']}/")
    share(alice, conversation, include_system="1")
    assert "You are a pirate." in page(Client(), f"/s/{link['token']}/")


def test_nothing_to_share_is_refused(alice: User, conversation: Conversation) -> None:
    response = logged_in(alice).post(f"/c/{conversation.id}/share/")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_revoking_makes_the_link_404(alice: User, conversation: Conversation) -> None:
    add_exchange(conversation, "q", "a")
    token = share(alice, conversation)["token"]
    assert logged_in(alice).post(f"/s/{token}/revoke/").status_code == 302
    assert Client().get(f"/s/{token}/").status_code == 404
    # Sharing again makes a new link; the old one stays dead.
    new = share(alice, conversation)["token"]
    assert new != token and Client().get(f"/s/{new}/").status_code == 200


def test_a_wrong_token_is_404() -> None:
    assert Client().get("/s/not-a-real-token/").status_code == 404


def test_a_stranger_cannot_share_revoke_or_list(
    alice: User, charlie: User, conversation: Conversation
) -> None:
    add_exchange(conversation, "q", "private answer")
    token = share(alice, conversation)["token"]
    stranger = logged_in(charlie)
    assert stranger.post(f"/c/{conversation.id}/share/").status_code == 404
    assert stranger.post(f"/s/{token}/revoke/").status_code == 404
    assert token not in page(stranger, "/shares/")
    assert Client().get(f"/s/{token}/").status_code == 200  # still alive


def test_the_owner_lists_links_with_views(alice: User, conversation: Conversation) -> None:
    add_exchange(conversation, "q", "a")
    token = share(alice, conversation)["token"]
    Client().get(f"/s/{token}/")
    Client().get(f"/s/{token}/")
    html = page(logged_in(alice), "/shares/")
    assert f"/s/{token}/" in html and '<td data-label="Views">2</td>' in html and "Revoke" in html
    # Revoked, it says since when: a day the page's script shows in the reader's zone.
    logged_in(alice).post(f"/s/{token}/revoke/")
    html = page(logged_in(alice), "/shares/")
    assert re.search(r'revoked <time data-local="day" datetime="\d{4}-\d\d-\d\dT[^"]+">', html)


def test_continuing_copies_only_the_snapshot(
    alice: User, charlie: User, conversation: Conversation
) -> None:
    first = add_exchange(
        conversation, "shared question", "shared answer", params={"system": "secret"}
    )
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=first.parent,
        content="other branch",
        status="complete",
    )
    conversation.current_leaf = first
    conversation.save()
    token = share(alice, conversation)["token"]
    add_exchange(conversation, "later", "later answer")
    response = logged_in(charlie).post(f"/s/{token}/fork/")
    copy = Conversation.objects.get(owner=charlie)
    assert response.status_code == 302 and response["Location"] == copy.get_absolute_url()
    assert [m.content for m in copy.thread()] == ["shared question", "shared answer"]
    assert copy.messages.count() == 2
    assert all("system" not in m.params for m in copy.messages.all())
    assert logged_in(charlie).get(copy.get_absolute_url()).status_code == 200


def test_a_long_thread_s_page_shows_its_last_messages_and_a_fork_copies_them_all(
    alice: User, charlie: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each reader of a link, anyone, cost the server a rendering of the whole thread (60,000
    messages: seconds each time)."""
    from conversations import shares

    monkeypatch.setattr(shares, "SHOWN", 4)
    for n in range(3):
        add_exchange(conversation, f"question {n}", f"answer {n}")
    token = share(alice, conversation)["token"]
    html = Client().get(f"/s/{token}/").content.decode()
    shown = re.findall(r"(?:question|answer) \d", html)
    assert shown == ["question 1", "answer 1", "question 2", "answer 2"]
    assert "its last 4 messages are shown" in html
    logged_in(charlie).post(f"/s/{token}/fork/")
    assert Conversation.objects.get(owner=charlie).messages.count() == 6
    monkeypatch.setattr(shares, "SHOWN", 6)
    html = Client().get(f"/s/{token}/").content.decode()
    assert "question 0" in html and "messages are shown" not in html


def test_continuing_needs_an_account(alice: User, conversation: Conversation) -> None:
    add_exchange(conversation, "q", "a")
    token = share(alice, conversation)["token"]
    response = Client().post(f"/s/{token}/fork/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_share_page_renders_hostile_content_safely(
    alice: User, conversation: Conversation
) -> None:
    from tests.xss_corpus import CORPUS

    for payload in CORPUS:
        add_exchange(conversation, payload, payload)
    html = Client().get(f"/s/{share(alice, conversation)['token']}/").content.decode()
    body = html.split('<section id="thread"')[1].split("</section>")[0]
    assert_safe(body)


def assert_safe(body: str) -> None:
    """Only the page's own structure and the allowed markdown tags; no handlers, no scripts."""
    from conversations.render import TAGS
    from tests.test_render import inspect

    # The page's own: messages, their actions (the thumbs are inline SVG), their times.
    structure = {"article", "div", "details", "summary", "button", "time", "svg", "path"}
    for tag, attrs in inspect(body):
        assert tag in TAGS | structure, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), name
            if name == "href":
                assert (
                    not (value or "")
                    .strip()
                    .lower()
                    .startswith(("javascript:", "data:", "vbscript:"))
                )


def test_the_list_of_shares_pages(alice: User) -> None:
    from conversations.models import Share
    from conversations.shares import SHARES_PER_PAGE

    for i in range(SHARES_PER_PAGE + 3):
        conversation = Conversation.objects.create(owner=alice, title=f"talk {i:03}")
        add_exchange(conversation, "q", "a")
        Share.objects.create(conversation=conversation, leaf=conversation.current_leaf)
    client = logged_in(alice)
    first = client.get("/shares/").content.decode()
    assert f"talk {SHARES_PER_PAGE + 2:03}" in first and "talk 000" not in first
    assert 'rel="next"' in first
    second = client.get("/shares/", {"page": 2}).content.decode()
    assert "talk 000" in second and "Page 2 of 2" in second
    # Past the end: the last page, as Django's paginator gives it.
    assert "talk 000" in client.get("/shares/", {"page": 99}).content.decode()
    assert client.get("/shares/", {"page": "x"}).status_code == 400
    # Revoking from page 2 comes back to page 2.
    token = Share.objects.get(conversation__title="talk 000").token
    assert f'/s/{token}/revoke/?page=2"' in second
    answer = client.post(f"/s/{token}/revoke/?page=2")
    assert answer.status_code == 302 and answer["Location"] == "/shares/?page=2"
    # A page that is no page: back to the first, the link revoked all the same.
    other = Share.objects.get(conversation__title="talk 001")
    answer = client.post(f"/s/{other.token}/revoke/?page=//evil.example")
    assert answer.status_code == 302 and answer["Location"] == "/shares/"
    other.refresh_from_db()
    assert other.revoked is not None


def test_the_demo_banner_tells_only_staff_what_to_set(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    settings.GROK_SIMULATED = True
    add_exchange(conversation, "Hello?", "Simulated hello.")
    reader = Client().get(f"/s/{share(alice, conversation)['token']}/").content.decode()
    assert "Demo mode: replies are simulated." in reader and "GROK_API_TOKEN" not in reader
    alice.is_staff = True
    alice.save()
    assert "GROK_API_TOKEN" in logged_in(alice).get("/").content.decode()
