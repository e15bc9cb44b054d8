"""Keys of the API in the process: kept hashed and found only whole, their limits applied
in the ledger's reservation, stopped with their person, and listed and revoked in the
admin. (Calls made with them, over HTTP: test_api.py.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone

from api.keys import revoke
from api.models import ApiKey
from webchat.errors import QuotaError, Unauthorized
from webchat.models import ChatModel, UsageRecord, User

pytestmark = pytest.mark.django_db


def test_a_key_is_kept_hashed_and_found_only_whole(alice: User) -> None:
    key, secret = ApiKey.objects.issue(alice, "laptop")
    assert secret.startswith(f"wc-{key.prefix}-") and secret not in (key.digest, key.prefix)
    assert ApiKey.objects.find(secret).pk == key.pk
    for wrong in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), secret[:-1], "", "wc-"):
        assert ApiKey.objects.find(wrong) is None
    assert key.shown == f"wc-{key.prefix}-…" and str(key) == f"laptop (wc-{key.prefix}-…)"


def reserve(user: User, key: ApiKey, model: str = "grok-3", **kwargs: Any) -> UsageRecord:
    return UsageRecord.objects.reserve(
        user=user,
        chat_model=ChatModel.objects.get(slug=model),
        prompt_tokens=100,
        max_tokens=kwargs.pop("max_tokens", 500),
        n=1,
        api_key=key,
        **kwargs,
    )


def test_the_keys_cap_cuts_a_reply_short_then_refuses(alice: User) -> None:
    key, _ = ApiKey.objects.issue(alice, "capped", tokens_per_month=1_000)
    first = reserve(alice, key)
    assert (first.max_tokens, first.api_key_id) == (500, key.pk)
    second = reserve(alice, key)  # 400 left: the reply is given 300
    assert second.max_tokens == 300
    with pytest.raises(QuotaError) as refused:
        reserve(alice, key)
    assert refused.value.code == "quota_exceeded" and "This key" in refused.value.message
    assert refused.value.retry_after > 0
    # The plan's chat is another door: the key's cap does not bind it.
    chat = UsageRecord.objects.reserve(
        user=alice,
        chat_model=ChatModel.objects.get(slug="grok-3"),
        prompt_tokens=100,
        max_tokens=500,
        n=1,
    )
    assert chat.max_tokens == 500


def test_a_key_revoked_expired_or_not_for_that_model_reserves_nothing(alice: User) -> None:
    revoked, _ = ApiKey.objects.issue(alice, "revoked")
    revoke(revoked)
    expired, _ = ApiKey.objects.issue(alice, "old", expires=timezone.now() - timedelta(days=1))
    mini, _ = ApiKey.objects.issue(alice, "mini")
    mini.allowed_models.set([ChatModel.objects.get(slug="grok-3-mini")])
    with pytest.raises(Unauthorized, match="revoked"):
        reserve(alice, revoked)
    with pytest.raises(Unauthorized, match="expired"):
        reserve(alice, expired)
    with pytest.raises(QuotaError) as refused:
        reserve(alice, mini)
    assert refused.value.code == "model_unavailable"
    assert reserve(alice, mini, model="grok-3-mini").api_key_id == mini.pk
    assert UsageRecord.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["deactivated", "plan taken away", "key revoked"])
async def test_a_call_in_flight_is_told_to_stop(alice: User, change: str) -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("api.")
    key = await ApiKey.objects.acreate(owner=alice, name="x", prefix="0" * 12)
    await UsageRecord.objects.acreate(
        user=alice, model="grok-3", generation=channel, api_key=key, reserved_tokens=10
    )
    if change == "deactivated":
        alice.is_active = False
        await alice.asave()
    elif change == "plan taken away":
        alice.plan = None
        await alice.asave()
    else:
        await sync_to_async(revoke)(key)
    assert (await layer.receive(channel))["type"] == "generation.stop"


def test_the_admin_lists_keys_and_revokes_them(alice: User) -> None:
    key, _ = ApiKey.objects.issue(alice, "laptop")
    UsageRecord.objects.create(
        user=alice, model="grok-3", status="complete", prompt_tokens=7, api_key=key
    )
    operator = Client()
    operator.force_login(User.objects.create_superuser("operator", password="x" * 12))
    listing = operator.get("/admin/api/apikey/")
    assert listing.status_code == 200 and b"laptop" in listing.content
    assert key.digest.encode() not in listing.content
    assert operator.get("/admin/api/apikey/add/").status_code == 403
    dashboard = operator.get("/admin/webchat/usagerecord/dashboard/")
    assert "Key “laptop”" in dashboard.content.decode()
    done = operator.post(
        "/admin/api/apikey/",
        {"action": "revoke_selected", "_selected_action": [key.pk]},
        follow=True,
    )
    assert b"Revoked 1 key." in done.content
    key.refresh_from_db()
    assert key.state() == "revoked"
    # Its person's account deleted (their keys with it): still told apart from the chat.
    UsageRecord.objects.create(
        user=alice, model="grok-3", status="complete", prompt_tokens=5, conversation=uuid.uuid4()
    )
    alice.delete()
    rows = operator.get("/admin/webchat/usagerecord/dashboard/").content.decode()
    assert "API keys deleted with their account" in rows and "Chat" in rows


def test_a_call_abandoned_by_a_dead_process_gives_its_place_back(alice: User) -> None:
    alice.plan.concurrent_generations = 1
    alice.plan.save()
    key, _ = ApiKey.objects.issue(alice, "x")
    abandoned = reserve(alice, key)
    with pytest.raises(QuotaError):
        reserve(alice, key)  # busy: the one call at once is taken
    # Past any call's time, it is settled as interrupted and the place is free.
    UsageRecord.objects.filter(pk=abandoned.pk).update(created=timezone.now() - timedelta(hours=1))
    assert reserve(alice, key).status == "running"
    abandoned.refresh_from_db()
    assert abandoned.status == "interrupted"


@pytest.mark.django_db(transaction=True)
def test_refused_calls_count_against_the_address_and_a_keys_calls_against_the_key(
    settings: Any, alice: User
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": "3/m"}
    _, secret = ApiKey.objects.issue(alice, "flooded")
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")  # its prefix, a wrong secret
    client = Client()
    answers = [
        client.post(
            "/v1/chat/completions",
            "{}",
            content_type="application/json",
            headers={"Authorization": f"Bearer {wrong}"},
        )
        for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limit_exceeded"
    assert int(answers[-1]["Retry-After"]) > 0
    assert client.get("/v1/models").status_code == 429  # that address, with no key either
    # Counted per address: the key whose prefix they named is not held up, even used from
    # that same address (behind one proxy); its own calls count per key, bad bodies too.
    owner = Client(headers={"Authorization": f"Bearer {secret}"})
    calls = [owner.post("/v1/chat/completions", "{}", content_type="application/json")]
    calls += [owner.get("/v1/models") for _ in range(3)]
    assert [c.status_code for c in calls] == [400, 200, 200, 429]
    assert Client(REMOTE_ADDR="192.0.2.6").get("/v1/models").status_code == 401
    # A server told no address (a Unix socket) counts such calls as one address's.
    nowhere = Client(REMOTE_ADDR="")
    assert [nowhere.get("/v1/models").status_code for _ in range(4)] == [401, 401, 401, 429]


@pytest.mark.parametrize(("calls", "shown"), [(1, "1 call<"), (2, "2 calls<")])
def test_the_keys_page_counts_a_keys_calls_in_words_that_agree(
    alice: User, calls: int, shown: str
) -> None:
    key, _ = ApiKey.objects.issue(alice, "counted")
    for _ in range(calls):
        reserve(alice, key)
    web = Client()
    web.force_login(alice)
    assert shown in web.get("/keys/").content.decode()


def test_a_key_s_last_day_holds_in_every_reader_s_zone(alice: User) -> None:
    """A day past 2100 is refused (its end would be past year 9999 somewhere); one stored
    before that rule, at the end of 9999, still shows, east of the server too."""
    web = Client()
    web.force_login(alice)
    web.cookies["tz"] = "Asia/Tokyo"
    refused = web.post("/keys/", {"name": "forever", "expires": "9999-12-31"})
    assert "Choose a day before 2100, or none: never." in refused.content.decode()
    assert not ApiKey.objects.filter(name="forever").exists()
    key, _ = ApiKey.objects.issue(alice, "old")
    ApiKey.objects.filter(pk=key.pk).update(expires=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
    page = web.get("/keys/")
    assert page.status_code == 200 and 'datetime="9999-12-31"' in page.content.decode()
    operator = Client()
    operator.force_login(User.objects.create_superuser("operator", password="x" * 12))
    operator.cookies["tz"] = "Asia/Tokyo"  # the admin's pages stay in the server's zone
    assert operator.get("/admin/api/apikey/").status_code == 200


@pytest.mark.django_db
def test_a_cap_under_the_least_is_refused_in_the_words_of_its_help(alice: User) -> None:
    web = Client()
    web.force_login(alice)
    refused = web.post("/keys/", {"name": "tiny", "tokens_per_month": "500"})
    assert "At least 1,000 tokens, or empty: no cap." in refused.content.decode()
    spanish = web.post(
        "/keys/", {"name": "tiny", "tokens_per_month": "500"}, headers={"Accept-Language": "es"}
    )
    assert "Al menos 1.000 tokens, o vacío: sin límite." in spanish.content.decode()
    assert not ApiKey.objects.filter(name="tiny").exists()
