"""A person's own defaults, saved prompts and temporary chats, over HTTP (the browser's
side of each is in test_browser_preferences)."""

import json
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations import turns
from conversations.models import Conversation, SavedPrompt
from conversations.turns import TurnRequest
from tests.helpers import add_exchange, logged_in, page
from webchat.models import UsageRecord, User

pytestmark = pytest.mark.django_db


def composer_of(html: str) -> tuple[str, str, str]:
    """The composer's model, system prompt and max tokens as the page fills them in."""
    model = html.split('<select id="model"')[1].split("</select>")[0]
    selected = model.split(" selected>")[0].rsplit('value="', 1)[1].split('"')[0]
    system = html.split('<textarea id="system"')[1].split(">", 1)[1].split("</textarea>")[0]
    max_tokens = html.split('<input id="max-tokens"')[1].split('value="')[1].split('"')[0]
    return selected, system, max_tokens


def test_defaults_are_saved_and_new_conversations_start_from_them(alice: User) -> None:
    client = logged_in(alice)
    response = client.post(
        "/settings/",
        {
            "default_model": "grok-3-mini",
            "custom_instructions": "Answer like a pirate.",
            "default_temperature": "0.4",
            "default_max_tokens": "300",
        },
    )
    assert response.status_code == 302 and response["Location"].endswith("?saved=defaults")
    alice.refresh_from_db()
    assert (alice.default_model, alice.custom_instructions) == (
        "grok-3-mini",
        "Answer like a pirate.",
    )
    assert (alice.default_temperature, alice.default_max_tokens) == (0.4, 300)
    assert composer_of(page(client, "/")) == ("grok-3-mini", "Answer like a pirate.", "300")
    assert 'value="0.4"' in page(client, "/").split('id="temperature"')[1][:200]


def test_a_conversations_own_settings_win(alice: User) -> None:
    alice.default_model, alice.custom_instructions = "grok-3-mini", "Answer like a pirate."
    alice.save()
    conversation = Conversation.objects.create(owner=alice)
    add_exchange(conversation, "hi", "hello", params={"system": "Be brief."})
    model, system, max_tokens = composer_of(page(logged_in(alice), f"/c/{conversation.id}/"))
    assert (model, system, max_tokens) == ("grok-3", "Be brief.", "")


def test_bad_defaults_are_refused_with_a_sentence(alice: User) -> None:
    response = logged_in(alice).post(
        "/settings/", {"default_model": "grok-9", "default_temperature": "7"}
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Select a valid choice" in text and "less than or equal to 2" in text
    alice.refresh_from_db()
    assert alice.default_model == "" and alice.default_temperature is None


def test_saved_prompts_are_added_changed_and_deleted(alice: User, bob: User) -> None:
    client = logged_in(alice)
    response = client.post(
        "/settings/prompts/", {"new-name": "  Sum  up ", "new-text": "Summarize:"}
    )
    assert response.status_code == 302
    prompt = SavedPrompt.objects.get(owner=alice)
    assert prompt.name == "Sum up"
    # The same name twice is refused; another person may use it.
    again = client.post("/settings/prompts/", {"new-name": "Sum up", "new-text": "x"})
    assert again.status_code == 400 and "already have a prompt" in again.content.decode()
    SavedPrompt.objects.create(owner=bob, name="Sum up", text="bob's")
    changed = client.post(
        f"/settings/prompts/{prompt.pk}/",
        {f"p{prompt.pk}-name": "Sum up", f"p{prompt.pk}-text": "Summarize in 3 bullets:"},
    )
    assert changed.status_code == 302
    prompt.refresh_from_db()
    assert prompt.text == "Summarize in 3 bullets:"
    # The chat page carries them for the `/` menu.
    config = json.loads(
        page(client, "/")
        .split('id="chat-config" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert config["prompts"] == [{"name": "Sum up", "text": "Summarize in 3 bullets:"}]
    assert client.post(f"/settings/prompts/{prompt.pk}/delete/").status_code == 302
    assert not SavedPrompt.objects.filter(owner=alice).exists()
    assert SavedPrompt.objects.filter(owner=bob).count() == 1


def test_a_temporary_chat_is_neither_listed_nor_searched_and_is_cleaned_up(alice: User) -> None:
    client = logged_in(alice)
    made = client.post("/c/", {"temporary": "1"}, HTTP_ACCEPT="application/json")
    conversation = Conversation.objects.get(pk=made.json()["id"])
    assert conversation.temporary
    turn = turns.begin(conversation, TurnRequest(content="a secret word", model="grok-3"), "c")
    kept = Conversation.objects.create(owner=alice)
    add_exchange(kept, "a secret word too", "ok")
    home = page(client, "/")
    assert str(kept.id) in home and str(conversation.id) not in home
    found = client.get("/search/?q=secret", HTTP_ACCEPT="application/json").json()["results"]
    assert [r["id"] for r in found] == [str(kept.id)]
    assert 'data-temporary="true"' in page(client, f"/c/{conversation.id}/")
    # Left behind (the page could not delete it): the cleanup does, the ledger keeps its row.
    Conversation.objects.filter(pk=conversation.pk).update(
        updated=timezone.now() - timedelta(days=2)
    )
    out = StringIO()
    call_command("cleanattachments", stdout=out)
    assert "1 temporary chat." in out.getvalue()
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert Conversation.objects.filter(pk=kept.pk).exists()
    assert UsageRecord.objects.filter(pk=turn.usage_record).exists()


def test_a_temporary_chat_left_goes_but_one_opened_again_stays(alice: User, settings) -> None:
    """Leaving deletes it after the grace, unless a page opened it since (a reload: the
    browser test does it for real, the two requests in either order)."""
    settings.TEMPORARY_CHAT_GRACE_SECONDS = 0
    client = logged_in(alice)
    made = client.post("/c/", {"temporary": "1"}, HTTP_ACCEPT="application/json").json()
    assert client.post(f"/c/{made['id']}/leave/", {"visit": made["visit"]}).json() == {
        "deleted": True
    }
    assert not Conversation.objects.filter(pk=made["id"]).exists()
    reloaded = client.post("/c/", {"temporary": "1"}, HTTP_ACCEPT="application/json").json()
    page(client, f"/c/{reloaded['id']}/")  # the page again: a new visit
    answer = client.post(f"/c/{reloaded['id']}/leave/", {"visit": reloaded["visit"]})
    assert answer.json() == {"deleted": False}
    assert Conversation.objects.filter(pk=reloaded["id"]).exists()
    # Only a temporary chat is deleted this way.
    kept = Conversation.objects.create(owner=alice)
    assert client.post(f"/c/{kept.id}/leave/", {"visit": ""}).status_code == 404
    assert Conversation.objects.filter(pk=kept.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_temporary_chat_kept_by_another_tab_as_its_page_is_left_stays(settings) -> None:
    """Leaving reads the chat and deletes it under its row's lock: another tab keeping it
    and storing its first message meanwhile (under the same lock) is seen, not deleted."""
    import threading

    from django.db import connection, transaction

    if connection.vendor == "sqlite":
        pytest.skip("SQLite's test database is one connection in memory")
    settings.TEMPORARY_CHAT_GRACE_SECONDS = 0
    bob = User.objects.create_user("bob-leaves", password="pw-for-bob-123")
    client = logged_in(bob)
    made = client.post("/c/", {"temporary": "1"}, HTTP_ACCEPT="application/json").json()
    locked, done = threading.Event(), threading.Event()

    def keep_and_send() -> None:
        try:
            with transaction.atomic():
                chat = Conversation.objects.select_for_update().get(pk=made["id"])
                locked.set()
                time.sleep(0.5)  # the page's leave arrives now
                chat.temporary, chat.visit = False, ""
                chat.save(update_fields=["temporary", "visit"])
                add_exchange(chat, "kept after all", "and answered")
        finally:
            connection.close()
            done.set()

    threading.Thread(target=keep_and_send).start()
    assert locked.wait(5)
    answer = client.post(f"/c/{made['id']}/leave/", {"visit": made["visit"]})
    assert done.wait(5)
    assert answer.json() == {"deleted": False}
    kept = Conversation.objects.get(pk=made["id"])
    assert not kept.temporary and kept.messages.count() == 2
