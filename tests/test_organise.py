"""Pinned, archived and in folders: the sidebar in that order, archived conversations out of
it and still found, folders renamed and deleted without their conversations."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import MAX_FOLDERS, Conversation, Folder
from tests.helpers import add_exchange, logged_in, page
from webchat.models import User

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}


def chat(user: User, title: str) -> Conversation:
    conversation = Conversation.objects.create(owner=user, title=title)
    add_exchange(conversation, f"question about {title}", "an answer")
    return conversation


def organise(client: Any, conversation: Conversation, **fields: str) -> dict[str, Any]:
    response = client.post(f"/c/{conversation.id}/organise/", fields, headers=JSON)
    assert response.status_code == 200, response.content
    return response.json()


def sidebar_of(html: str) -> str:
    return html[html.index('id="conversation-list"') : html.index('<div class="account">')]


def test_a_pinned_conversation_heads_the_sidebar_and_keeps_its_place_in_time(
    alice: User,
) -> None:
    older, newer = chat(alice, "Older plans"), chat(alice, "Newer plans")
    updated = older.updated
    client = logged_in(alice)
    answer = organise(client, older, pinned="true", current=str(newer.id))
    assert answer["pinned"] is True
    listed = answer["sidebar"]
    assert listed.index("Pinned") < listed.index("Older plans") < listed.index("Today")
    assert 'aria-current="page">Newer plans' in listed  # the one on screen stays marked
    assert sidebar_of(page(client, "/")).count(">Older plans</a>") == 1
    older.refresh_from_db()
    assert older.updated == updated
    organise(client, older, pinned="false")
    assert "Pinned" not in sidebar_of(page(client, "/"))


def test_folders_are_made_by_name_shared_renamed_and_deleted_without_their_conversations(
    alice: User,
) -> None:
    first, second, loose = chat(alice, "Budget"), chat(alice, "Hiring"), chat(alice, "Lunch")
    client = logged_in(alice)
    assert organise(client, first, folder="  Work  ")["folder"] == "Work"
    listed = organise(client, second, folder="Work")["sidebar"]
    [folder] = Folder.objects.filter(owner=alice)
    assert folder.conversations.count() == 2
    assert f'data-folder="{folder.id}"' in listed and '<span class="count">2</span>' in listed
    assert listed.index("Budget") < listed.index("Today") < listed.index("Lunch")
    response = client.post(f"/folders/{folder.id}/rename/", {"name": "Office"}, headers=JSON)
    assert "Office" in response.json()["sidebar"]
    Folder.objects.create(owner=alice, name="Home")
    clash = client.post(f"/folders/{folder.id}/rename/", {"name": "Home"}, headers=JSON)
    assert clash.status_code == 400 and "already have a folder" in clash.json()["error"]["message"]
    organise(client, second, folder="")
    second.refresh_from_db()
    assert second.folder is None
    client.post(f"/folders/{folder.id}/delete/", headers=JSON)
    assert not Folder.objects.filter(name="Office").exists()
    assert Conversation.objects.filter(owner=alice).count() == 3
    assert "Budget" in sidebar_of(page(client, "/")) and loose.title in page(client, "/")


def test_a_folder_shows_its_newest_and_links_to_all_of_them(alice: User) -> None:
    folder = Folder.objects.create(owner=alice, name="Big")
    for n in range(25):
        conversation = chat(alice, f"item {n:02}")
        conversation.folder = folder
        conversation.save()
    client = logged_in(alice)
    listed = sidebar_of(page(client, "/"))
    assert "item 24" in listed and "item 04" not in listed
    assert f"/search/?folder={folder.id}" in listed and "All 25 in this folder" in listed
    everything = page(client, f"/search/?folder={folder.id}")
    assert "Folder: Big" in everything and "item 24" in everything
    assert "item 04" in page(client, f"/search/?folder={folder.id}&page=2")


def test_an_archived_conversation_leaves_the_sidebar_and_search_still_finds_it(
    alice: User,
) -> None:
    conversation = chat(alice, "Old trip")
    client = logged_in(alice)
    listed = organise(client, conversation, archived="true")["sidebar"]
    assert "Old trip" not in listed and "Archived (1)" in listed
    found = page(client, "/search/?q=trip")
    assert "Old trip" in found and '<span class="tag">Archived</span>' in found
    assert "Old trip" in page(client, "/search/?archived=1")
    shown = page(client, f"/c/{conversation.id}/")
    assert "Archived: out of your list" in shown
    # The notice's own form brings it back, and goes back to the page.
    response = client.post(
        f"/c/{conversation.id}/organise/",
        {"archived": "false", "next": f"/c/{conversation.id}/"},
    )
    assert response.status_code == 302 and response["Location"] == f"/c/{conversation.id}/"
    assert "Old trip" in sidebar_of(page(client, "/"))
    away = client.post(
        f"/c/{conversation.id}/organise/", {"archived": "true", "next": "https://evil.example/"}
    )
    assert away["Location"] == "/"
    # Nor from https to plain http on the site itself.
    down = client.post(
        f"/c/{conversation.id}/organise/",
        {"archived": "false", "next": "http://testserver/search/"},
        secure=True,
    )
    assert down["Location"] == "/"


def test_a_person_keeps_at_most_so_many_folders(alice: User) -> None:
    Folder.objects.bulk_create(Folder(owner=alice, name=f"f{n}") for n in range(MAX_FOLDERS))
    conversation = chat(alice, "One more")
    response = logged_in(alice).post(
        f"/c/{conversation.id}/organise/", {"folder": "new"}, headers=JSON
    )
    assert response.status_code == 400 and "at most 100 folders" in response.content.decode()
    assert organise(logged_in(alice), conversation, folder="f7")["folder"] == "f7"


def test_the_sidebar_costs_the_same_queries_whatever_the_folders(alice: User) -> None:
    def queries() -> int:
        client = logged_in(alice)
        with CaptureQueriesContext(connection) as captured:
            page(client, "/")
        return len(captured)

    chat(alice, "loose")
    before = queries()
    for n in range(8):
        folder = Folder.objects.create(owner=alice, name=f"folder {n}")
        conversation = chat(alice, f"filed {n}")
        conversation.folder, conversation.pinned = folder, n % 2 == 0
        conversation.save()
    assert queries() == before


def test_another_persons_folder_is_not_found(alice: User, bob: User) -> None:
    folder = Folder.objects.create(owner=alice, name="Secret")
    assert logged_in(bob).get(f"/search/?folder={folder.id}").status_code == 404


def test_a_chat_with_no_message_yet_can_be_made_temporary_and_kept_again(
    alice: User, bob: User
) -> None:
    """A chat made for a file, not sent yet, is still either; one with a message keeps what
    it was made as (leaving its page must not delete a conversation that was kept), as does
    one imported."""
    blank = Conversation.objects.create(owner=alice)
    client = logged_in(alice)
    answer = organise(client, blank, temporary="true")
    blank.refresh_from_db()
    assert blank.temporary and answer["visit"] == blank.visit and len(blank.visit) == 16
    organise(client, blank, temporary="false")
    blank.refresh_from_db()
    assert not blank.temporary and blank.visit == ""
    kept = chat(alice, "Kept plans")
    refused = client.post(f"/c/{kept.id}/organise/", {"temporary": "true"}, headers=JSON)
    assert refused.status_code == 400
    assert "no message yet" in refused.json()["error"]["message"]
    kept.refresh_from_db()
    assert not kept.temporary
    imported = Conversation.objects.create(owner=alice, imported_from="an archive's id")
    refused = client.post(f"/c/{imported.id}/organise/", {"temporary": "true"}, headers=JSON)
    assert refused.status_code == 400
    # Someone else's: not found, and unchanged.
    other = logged_in(bob).post(f"/c/{blank.id}/organise/", {"temporary": "true"}, headers=JSON)
    assert other.status_code == 404
    blank.refresh_from_db()
    assert not blank.temporary
