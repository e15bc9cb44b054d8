"""The chat page's helpers: branch switching, export, search, the sidebar."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Message, _title_from
from tests.helpers import add_exchange, logged_in, page
from webchat.models import User

pytestmark = pytest.mark.django_db


def test_the_arrows_switch_to_a_sibling_and_down_its_newest_replies(
    alice: User, conversation: Conversation
) -> None:
    first = add_exchange(conversation, "first question", "a1")
    later = add_exchange(conversation, "later question", "a2")
    other = Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=first.parent,
        content="a1 again",
        status="complete",
    )
    client = logged_in(alice)
    response = client.post(
        f"/c/{conversation.id}/switch/",
        {"message": other.id},
        headers={"Accept": "application/json"},
    )
    assert response.json()["leaf"] == str(other.id)
    # The thread through the new branch comes with it, for the page to show in place.
    fragment = response.json()["html"]
    assert "a1 again" in fragment and "later question" not in fragment and "2/2" in fragment
    html = client.get(f"/c/{conversation.id}/").content.decode()
    assert "a1 again" in html and "later question" not in html and "2/2" in html
    client.post(f"/c/{conversation.id}/switch/", {"message": first.parent_id})
    conversation.refresh_from_db()
    assert conversation.current_leaf == other  # the newest reply under the question
    client.post(f"/c/{conversation.id}/switch/", {"message": first.id})
    conversation.refresh_from_db()
    assert conversation.current_leaf == later


def test_going_back_to_a_version_comes_down_through_the_replies_last_turned_to(
    alice: User, conversation: Conversation
) -> None:
    """Regenerated, back to the first reply, then the question edited: back to the first
    question shows the first reply again, not the newest."""
    first_reply = add_exchange(conversation, "question", "first reply")
    question = first_reply.parent
    Message.objects.create(
        conversation=conversation, role="assistant", parent=question, content="second reply"
    )
    client = logged_in(alice)

    def switch(message: Message) -> str:
        answer = client.post(
            f"/c/{conversation.id}/switch/",
            {"message": message.id},
            headers={"Accept": "application/json"},
        )
        return answer.json()["leaf"]

    assert switch(first_reply) == str(first_reply.id)
    edited = Message.objects.create(conversation=conversation, role="user", content="edited")
    third = Message.objects.create(
        conversation=conversation, role="assistant", parent=edited, content="third reply"
    )
    assert switch(question) == str(first_reply.id)
    assert switch(edited) == str(third.id)


def test_the_thread_as_it_stands_is_read_without_moving_the_branch_or_the_visit(
    alice: User, conversation: Conversation
) -> None:
    later = add_exchange(conversation, "the question", "the answer")
    conversation.temporary, conversation.visit = True, "page-visit"
    conversation.save(update_fields=["temporary", "visit"])
    client = logged_in(alice)
    answer = client.get(f"/c/{conversation.id}/", headers={"Accept": "application/json"})
    assert answer.json()["leaf"] == str(later.id)
    assert "the question" in answer.json()["html"] and "the answer" in answer.json()["html"]
    assert "Accept" in answer["Vary"] and "no-store" in answer["Cache-Control"]
    conversation.refresh_from_db()
    assert conversation.current_leaf == later and conversation.visit == "page-visit"
    assert "Accept" in client.get(f"/c/{conversation.id}/")["Vary"]  # the page, same address


def test_a_stranger_cannot_switch_export_or_find(
    alice: User, charlie: User, conversation: Conversation
) -> None:
    reply = add_exchange(conversation, "private words", "secret answer")
    stranger = logged_in(charlie)
    assert stranger.post(f"/c/{conversation.id}/switch/", {"message": reply.id}).status_code == 404
    json_thread = stranger.get(f"/c/{conversation.id}/", headers={"Accept": "application/json"})
    assert json_thread.status_code == 404
    assert stranger.get(f"/c/{conversation.id}/export.md").status_code == 404
    assert stranger.get(f"/c/{conversation.id}/export.json").status_code == 404
    assert "private words" not in page(stranger, "/search/?q=private")
    mine = Conversation.objects.create(owner=charlie)
    assert stranger.post(f"/c/{mine.id}/switch/", {"message": reply.id}).status_code == 404


def test_export_gives_the_visible_thread(alice: User, conversation: Conversation) -> None:
    conversation.title = "Trip"
    conversation.save()
    add_exchange(conversation, "Where to?", "**Lisbon**.")
    client = logged_in(alice)
    markdown = client.get(f"/c/{conversation.id}/export.md")
    assert markdown["Content-Type"].startswith("text/markdown")
    assert 'filename="trip.md"' in markdown["Content-Disposition"]
    assert (
        markdown.content.decode() == "# Trip\n\n## You\n\nWhere to?\n\n## Grok 3\n\n**Lisbon**.\n"
    )
    body = json.loads(client.get(f"/c/{conversation.id}/export.json").content)
    assert body["title"] == "Trip" and [m["content"] for m in body["messages"]] == [
        "Where to?",
        "**Lisbon**.",
    ]
    assert client.get(f"/c/{conversation.id}/export.pdf").status_code == 404
    # A model of the catalog by the name the page shows (above); one it lacks by its id.
    Message.objects.filter(role="assistant").update(model="grok-9-retired")
    markdown = client.get(f"/c/{conversation.id}/export.md").content.decode()
    assert "## grok-9-retired\n" in markdown


def test_search_finds_titles_and_content_with_a_snippet(alice: User) -> None:
    by_title = Conversation.objects.create(owner=alice, title="Sourdough starter")
    by_content = Conversation.objects.create(owner=alice, title="Baking")
    add_exchange(by_content, "How long to proof a sourdough loaf?", "Overnight.")
    Conversation.objects.create(owner=alice, title="Unrelated")
    html = page(logged_in(alice), "/search/?q=SOURDOUGH")
    assert str(by_title.id) in html and str(by_content.id) in html and "Unrelated" not in html
    # The words found are marked, as written there.
    assert "proof a <mark>sourdough</mark> loaf" in html
    hostile = Conversation.objects.create(owner=alice, title="Tags")
    add_exchange(hostile, "`<b>` <script>x</script> sourdough <img src=x>", "Escaped.")
    html = page(logged_in(alice), "/search/?q=sourdough")
    assert "<script>x" not in html and "<img src=x>" not in html and "&lt;" in html


def test_a_result_opens_at_the_first_message_found(alice: User) -> None:
    conversation = Conversation.objects.create(owner=alice, title="Bread")
    add_exchange(conversation, "Any tips?", "Keep the starter warm.")
    add_exchange(conversation, "And then?", "Feed the STARTER daily.")
    add_exchange(conversation, "Thanks", "The starter thanks you.")
    Conversation.objects.create(owner=alice, title="Starter pack")
    client = logged_in(alice)
    first_found = Message.objects.get(content="Keep the starter warm.")
    answer = client.get("/search/?q=starter", HTTP_ACCEPT="application/json").json()
    urls = {r["title"]: r["url"] for r in answer["results"]}
    assert urls["Bread"] == f"/c/{conversation.id}/#m-{first_found.id}"
    assert urls["Starter pack"].endswith("/")  # its title matched: opened at its end
    assert f'href="/c/{conversation.id}/#m-{first_found.id}"' in page(client, "/search/?q=starter")


def test_search_results_page(alice: User) -> None:
    from conversations.search import PER_PAGE as SEARCH_PER_PAGE

    for i in range(SEARCH_PER_PAGE + 5):
        Conversation.objects.create(owner=alice, title=f"kettle {i:02}")
    client = logged_in(alice)
    first = page(client, "/search/?q=kettle")
    assert first.count('<li><a href="/c/') == SEARCH_PER_PAGE and 'rel="next"' in first
    second = page(client, "/search/?q=kettle&page=2")
    assert second.count('<li><a href="/c/') == 5 and "Page 2 of 2" in second
    assert client.get("/search/", {"q": "kettle", "page": "0"}).status_code == 400


def test_the_sidebar_groups_by_day_and_loads_more(alice: User) -> None:
    now = timezone.now()
    for days, count in ((0, 2), (1, 1), (3, 1), (30, 60)):
        for i in range(count):
            c = Conversation.objects.create(owner=alice, title=f"d{days}-{i}")
            Conversation.objects.filter(pk=c.pk).update(
                updated=now - timedelta(days=days, minutes=i)
            )
    client = logged_in(alice)
    html = client.get("/").content.decode()
    for label in ("Today", "Yesterday", "Previous 7 days", "Older"):
        assert f'<h2 class="group" data-day>{label}</h2>' in html
    assert 'id="load-more"' in html and html.count("<li data-updated") == 50
    last = html.split('<li data-updated="')[-1].split('"')[0]
    page = client.get("/conversations/more/", {"before": last}).json()
    assert sum(len(g["items"]) for g in page["groups"]) == 14 and not page["more"]
    assert client.get("/conversations/more/?before=nope").status_code == 400


def test_a_reply_shows_its_tokens_and_cost_on_hover(
    alice: User, conversation: Conversation
) -> None:
    add_exchange(conversation, "q", "a", prompt_tokens=1000, completion_tokens=2000)
    html = logged_in(alice).get(f"/c/{conversation.id}/").content.decode()
    # grok-3: $3 in + $15 out per million.
    assert 'title="1,000 prompt + 2,000 completion tokens · $0.0330"' in html
    # Cheaper than the last digit shown is said so, not "$0.0000".
    add_exchange(conversation, "q2", "b", prompt_tokens=5, completion_tokens=2)
    html = logged_in(alice).get(f"/c/{conversation.id}/").content.decode()
    assert 'title="5 prompt + 2 completion tokens · &lt; $0.0001"' in html


def test_the_share_page_has_no_editing_controls(alice: User, conversation: Conversation) -> None:
    add_exchange(conversation, "q", "a")
    token = (
        logged_in(alice)
        .post(f"/c/{conversation.id}/share/", headers={"Accept": "application/json"})
        .json()["token"]
    )
    html = Client().get(f"/s/{token}/").content.decode()
    assert "Regenerate" not in html and "Edit" not in html


def feedback(client: Client, conversation: Conversation, **data: object) -> Any:
    return client.post(
        f"/c/{conversation.id}/feedback/", data, headers={"Accept": "application/json"}
    )


def test_feedback_is_stored_changed_and_taken_back(alice: User, conversation: Conversation) -> None:
    from conversations.models import Feedback

    reply = add_exchange(conversation, "q", "a")
    client = logged_in(alice)
    answer = feedback(client, conversation, message=reply.id, rating="down", comment=" off ")
    assert answer.status_code == 200 and answer.json() == {"rating": "down", "comment": "off"}
    feedback(client, conversation, message=reply.id, rating="up")
    stored = Feedback.objects.get(message=reply)
    assert (stored.rating, stored.comment, stored.model, stored.user) == ("up", "", "grok-3", alice)
    # The page shows it pressed.
    assert 'data-rating="up" aria-label="Good reply" aria-pressed="true"' in page(
        client, f"/c/{conversation.id}/"
    )
    feedback(client, conversation, message=reply.id, rating="")
    assert not Feedback.objects.exists()


def test_feedback_on_what_is_not_ones_own_reply_is_refused(
    alice: User, bob: User, conversation: Conversation
) -> None:
    reply = add_exchange(conversation, "q", "a")
    question = reply.parent
    streaming = add_exchange(conversation, "q2", "", status="streaming")
    theirs = Conversation.objects.create(owner=bob)
    their_reply = add_exchange(theirs, "q", "a")
    client = logged_in(alice)
    for message in (question.id, streaming.id, their_reply.id):
        assert feedback(client, conversation, message=message, rating="up").status_code == 404
    for data in (
        {"message": reply.id, "rating": "meh"},
        {"message": "not-an-id", "rating": "up"},
        {"message": reply.id, "rating": "up", "comment": "x" * 2001},
        {"message": reply.id, "rating": "up", "comment": "nul\x00"},
    ):
        answer = feedback(client, conversation, **data)
        assert answer.status_code == 400 and answer.json()["error"]["message"]
    # Bob's conversation by its own URL: not found, as every other route.
    assert (
        feedback(logged_in(alice), theirs, message=their_reply.id, rating="up").status_code == 404
    )


def test_search_answers_json_with_rendered_snippets(
    alice: User, conversation: Conversation
) -> None:
    add_exchange(conversation, "tell me of **the quokka** and `more`", "A _small_ marsupial.")
    answer = logged_in(alice).get(
        "/search/", {"q": "quokka"}, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 200
    [result] = answer.json()["results"]
    asked = conversation.messages.get(role="user")
    assert result["id"] == str(conversation.id)
    assert result["url"] == f"/c/{conversation.id}/#m-{asked.id}"
    assert result["snippet"] == "tell me of the quokka and more"
    assert answer.json()["more"] is False
    html = page(logged_in(alice), "/search/?q=quokka")
    assert "the <mark>quokka</mark> and more" in html and "**the quokka**" not in html


def test_a_search_result_does_not_repeat_its_title_as_its_snippet(alice: User) -> None:
    """A title made of the first message: the snippet would say it again."""
    same = Conversation.objects.create(owner=alice, title="Tell me about  Quokkas")
    add_exchange(same, "tell me about quokkas", "They live on Rottnest.")
    renamed = Conversation.objects.create(owner=alice, title="Marsupials")
    add_exchange(renamed, "Tell me about quokkas, please", "Rottnest.")
    client = logged_in(alice)
    answer = client.get("/search/", {"q": "quokkas"}, headers={"Accept": "application/json"})
    snippets = {r["id"]: r["snippet"] for r in answer.json()["results"]}
    assert snippets == {str(same.id): "", str(renamed.id): "Tell me about quokkas, please"}
    html = page(client, "/search/?q=quokkas")
    assert html.count('class="snippet"') == 1
    assert "Tell me about  <mark>Quokkas</mark></a>" in html  # the title shows why it is here
    # Only the same words, as the page marks them, count as the title's: "Maße" is not
    # "Masse" (casefolded, they would be).
    other = Conversation.objects.create(owner=alice, title="Maße")
    add_exchange(other, "Masse", "Mass.")
    answer = client.get("/search/", {"q": "masse"}, headers={"Accept": "application/json"})
    assert [r["snippet"] for r in answer.json()["results"]] == ["Masse"]


def test_a_snippet_leaves_out_what_a_title_made_of_its_first_words_says(alice: User) -> None:
    first = "Summarize the following text in three bullet points: otters are great swimmers"
    conversation = Conversation.objects.create(owner=alice, title=_title_from(first))
    add_exchange(conversation, first, "Otters swim.")
    client = logged_in(alice)

    def snippet(words: str) -> str:
        answer = client.get("/search/", {"q": words}, headers={"Accept": "application/json"})
        return answer.json()["results"][0]["snippet"]

    assert snippet("the following") == ""  # the title shows the words, marked
    assert snippet("swimmers") == "…three bullet points: otters are great swimmers"
    # A few words before the words found: not again what the title says.
    long = (
        "I have been wondering for a while about several things related to weather and "
        "climate, in particular about zephyrology and how winds are named"
    )
    other = Conversation.objects.create(owner=alice, title=_title_from(long))
    add_exchange(other, long, "Winds.")
    assert "several things" not in snippet("zephyrology")


def test_a_snippet_marks_its_words_after_a_letter_whose_lowercase_is_longer(
    alice: User,
) -> None:
    conversation = Conversation.objects.create(owner=alice, title="Letters")
    add_exchange(conversation, "İSTANBUL İZMİR: a Quokka there?", "No.")
    html = page(logged_in(alice), "/search/?q=quokka")
    assert "İSTANBUL İZMİR: a <mark>Quokka</mark> there?" in html


def test_a_snippet_keeps_the_message_s_own_ellipses(alice: User) -> None:
    conversation = Conversation.objects.create(owner=alice, title="Suspense")
    add_exchange(conversation, "and the end is near……", "Indeed.")
    answer = logged_in(alice).get(
        "/search/", {"q": "near……"}, headers={"Accept": "application/json"}
    )
    assert answer.json()["results"][0]["snippet"] == "and the end is near……"


def test_a_fresh_site_asks_for_its_administrator(db: None) -> None:
    login = Client().get("/accounts/login/").content.decode()
    assert "Create the administrator account" in login
    # No password form beside it: there is no account to log in to yet.
    assert 'name="password"' not in login and "Forgot your password?" not in login
    signup = Client().get("/accounts/signup/").content.decode()
    assert "Create the administrator account" in signup and "Have an account?" not in signup
    User.objects.create_user("someone", password="a long enough passphrase 42")
    login = Client().get("/accounts/login/").content.decode()
    assert "Create the administrator account" not in login and "Log in to webchat" in login
    assert 'name="password"' in login and "New here?" in login
    assert "Have an account?" in Client().get("/accounts/signup/").content.decode()


def test_words_found_far_into_a_huge_message_show_its_start(
    alice: User, conversation: Conversation
) -> None:
    """Only a message's first `FOUND_CHARS` characters come back for its snippet: a page of
    messages a million characters long (an import may hold them) is not read whole."""
    from conversations.search import FOUND_CHARS

    add_exchange(conversation, "İ" * FOUND_CHARS + " needle", "ok")
    answer = logged_in(alice).get(
        "/search/", {"q": "needle"}, headers={"Accept": "application/json"}
    )
    [result] = answer.json()["results"]
    assert result["snippet"] == "İ" * 160


def test_search_renders_only_the_words_around_a_match(
    alice: User, conversation: Conversation, monkeypatch: Any
) -> None:
    """A snippet is a few hundred characters of the message rendered, however long it is:
    a person's own 100,000-character message must not make every search render it."""
    from conversations import render, views

    seen: list[int] = []
    real = render.plain_text
    monkeypatch.setattr(views, "plain_text", lambda text: seen.append(len(text)) or real(text))
    add_exchange(conversation, "[" * 50_000 + " needle " + "*a " * 20_000, "ok")
    answer = logged_in(alice).get(
        "/search/", {"q": "needle"}, headers={"Accept": "application/json"}
    )
    assert "needle" in answer.json()["results"][0]["snippet"]
    assert seen and max(seen) <= 700


def test_pages_answer_head_as_they_answer_get(alice: User) -> None:
    client = logged_in(alice)
    for url in ("/", "/settings/", "/search/?q=plans", "/usage/", "/keys/", "/healthz"):
        get, head = client.get(url), client.head(url)
        assert head.status_code == get.status_code == 200, url
        assert head["Content-Type"] == get["Content-Type"]
    assert Client().head("/accounts/login/").status_code == 200


def test_a_head_of_the_search_counts_toward_its_limit(alice: User, settings: Any) -> None:
    """A HEAD runs the same search: it is limited as a GET is."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "search": "3/m"}
    client = logged_in(alice)
    answers = [client.head("/search/?q=ab").status_code for _ in range(3)]
    answers.append(client.get("/search/?q=ab").status_code)
    assert answers == [200, 200, 200, 429]


def test_the_attach_button_names_the_limits_a_file_is_held_to(alice: User, settings: Any) -> None:
    settings.ATTACHMENT_MAX_MB, settings.ATTACHMENT_TEXT_MAX_CHARS = 20, 200_000
    html = logged_in(alice).get("/").content.decode()
    assert "up to 20 MB each, a text up to 200,000 characters" in html
