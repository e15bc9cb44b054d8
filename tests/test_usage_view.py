import re

import pytest
from django.test import Client

from conversations import turns
from conversations.models import Conversation
from tests.helpers import add_exchange, logged_in, page
from webchat.errors import QuotaError
from webchat.models import ChatModel, Plan, UsageRecord, User

pytestmark = pytest.mark.django_db


def spend(user: User, model: str, prompt: int, completion: int) -> None:
    known = ChatModel.objects.filter(slug=model).first()
    record = UsageRecord.objects.create(
        user=user, model=model, price_input=known.price_input if known else 0
    )
    UsageRecord.objects.settle(
        record.pk, status="complete", prompt_tokens=prompt, completion_tokens=completion
    )


def test_it_requires_login() -> None:
    assert Client().get("/usage/").status_code == 302


def test_it_shows_used_left_and_renewal_per_model(alice: User, bob: User) -> None:
    spend(alice, "grok-3", 1_000, 2_000)
    spend(alice, "grok-3-mini", 10, 20)
    spend(bob, "grok-3", 99_999, 1)
    spend(alice, "grok-gone", 5, 5)  # a model since taken out of the catalog
    html = logged_in(alice).get("/usage/").content.decode()
    plan = alice.plan
    assert f'id="left-today">{plan.tokens_per_day - 3_040:,}<' in html
    assert f'id="left-month">{plan.tokens_per_month - 3_040:,}<' in html
    # Each model by the name the catalog shows; one no longer there by its id.
    assert ">Grok 3 Mini</td>" in html and ">Grok 3</td>" in html and ">grok-gone</td>" in html
    assert "99,999" not in html


def test_costs_and_counts_are_written_the_reader_s_way_and_a_tiny_cost_is_not_free(
    alice: User,
) -> None:
    spend(alice, "grok-3", 1_027, 2_000)  # $0.003081 (the prompt at $3 a million): $0.0031
    spend(alice, "grok-3-mini", 2, 1)  # a fraction of a hundredth of a cent
    html = logged_in(alice).get("/usage/").content.decode()
    costs = re.findall(r'<td data-label="Cost">([^<]*)</td>', html)
    assert "$0.0031" in costs and "&lt; $0.0001" in costs, costs
    assert "$0.0000" not in html
    spanish = logged_in(alice)
    spanish.cookies["django_language"] = "es"
    html = spanish.get("/usage/", headers={"Accept-Language": "es"}).content.decode()
    costs = re.findall(r'<td data-label="Coste">([^<]*)</td>', html)
    assert "0,0031 US$" in costs and "&lt; 0,0001 US$" in costs, costs
    # Thousands grouped as the browser's scripts group them in Spanish: "1.983.616".
    left = f"{alice.plan.tokens_per_day - 3_030:,}".replace(",", ".")
    assert f'id="left-today">{left}<' in html
    # In Arabic each amount is one left-to-right island: "< 0.0001 US$" not "$US 0.0001 >".
    arabic = logged_in(alice)
    arabic.cookies["django_language"] = "ar"
    html = arabic.get("/usage/", headers={"Accept-Language": "ar"}).content.decode()
    costs = re.findall(r'<td data-label="[^"]*">(\u2066[^<]*\u2069)</td>', html)
    assert "\u20660.0031 US$\u2069" in costs and "\u2066&lt; 0.0001 US$\u2069" in costs, costs


def test_it_answers_json_for_the_composer(alice: User) -> None:
    spend(alice, "grok-3", 100, 0)
    usage = logged_in(alice).get("/usage/", headers={"Accept": "application/json"}).json()["usage"]
    assert usage["used_today"] == 100 and usage["left"] == alice.plan.tokens_per_day - 100
    assert usage["resets_today"].endswith("+00:00")


def test_the_composer_shows_what_is_left(alice: User) -> None:
    html = logged_in(alice).get("/").content.decode()
    assert f"{alice.plan.tokens_per_day:,} tokens left" in html
    assert 'id="send" class="primary send">' in html


def test_with_nothing_left_the_composer_says_so_before_sending(alice: User) -> None:
    alice.plan = Plan.objects.create(name="Tiny", tokens_per_day=100, tokens_per_month=1_000)
    alice.save()
    spend(alice, "grok-3", 60, 0)
    html = logged_in(alice).get("/").content.decode()
    assert "No tokens left until" in html
    # When, in which time zone, as a refused send says it.
    assert re.search(r"No tokens left until [^<]* UTC<", html)
    assert 'id="send" class="primary send" disabled' in html


def test_without_a_plan_it_says_so(alice: User) -> None:
    alice.plan = None
    alice.save()
    assert "has no plan" in logged_in(alice).get("/usage/").content.decode()
    assert "No plan: you cannot send" in logged_in(alice).get("/").content.decode()


def test_the_composer_and_a_send_follow_one_rule(alice: User) -> None:
    """835 tokens left, but this conversation's prompt alone needs more than 771: the
    composer says so and disables Send, and a send is refused the same way."""
    alice.plan = Plan.objects.create(name="Tight", tokens_per_day=1_000, tokens_per_month=9_000)
    alice.save()
    spend(alice, "grok-3", 165, 0)
    long = Conversation.objects.create(owner=alice)
    add_exchange(long, "q " * 1_200, "a " * 1_000)  # ~1,400 tokens by the estimate
    short = Conversation.objects.create(owner=alice)
    add_exchange(short, "hi", "hello")
    client = logged_in(alice)

    html = client.get(f"/c/{long.id}/").content.decode()
    assert "835 tokens left: too few for this conversation" in html
    assert 'id="send" class="primary send" disabled' in html
    assert client.get(f"/c/{long.id}/composer/").json()["can_send"] is False
    with pytest.raises(QuotaError) as caught:
        turns.begin(long, turns.TurnRequest(content="x", model="grok-3"), "gen.a")
    assert caught.value.code == "quota_exceeded"

    html = client.get(f"/c/{short.id}/").content.decode()
    assert "835 tokens left<" in html and 'id="send" class="primary send">' in html
    assert client.get(f"/c/{short.id}/composer/").json() == {
        "can_send": True,
        "text": "835 tokens left",
        "left": 835,
    }
    assert turns.begin(short, turns.TurnRequest(content="x", model="grok-3"), "gen.b").reply_ids


def test_the_composer_answers_only_the_owner(alice: User, bob: User) -> None:
    theirs = Conversation.objects.create(owner=alice)
    assert logged_in(bob).get(f"/c/{theirs.id}/composer/").status_code == 404


def test_the_composer_counts_the_models_default_system_prompt(alice: User) -> None:
    """A default system prompt goes upstream with every message: the composer counts it as
    a send's reservation does."""
    ChatModel.objects.filter(slug="grok-3").update(default_params={"system": "be thorough " * 250})
    alice.plan = Plan.objects.create(name="Tight", tokens_per_day=1_000, tokens_per_month=9_000)
    alice.save()
    spend(alice, "grok-3", 165, 0)
    conversation = Conversation.objects.create(owner=alice)
    add_exchange(conversation, "hi", "hello")  # a grok-3 reply
    assert page(logged_in(alice), f"/c/{conversation.id}/").count("too few for this") == 1
    assert logged_in(alice).get(f"/c/{conversation.id}/composer/").json()["can_send"] is False
    with pytest.raises(QuotaError):
        turns.begin(conversation, turns.TurnRequest(content="x", model="grok-3"), "gen.c")
