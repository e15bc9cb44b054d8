"""The admin panel through Django's test client, as an operator uses it."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from webchat.models import ChatModel, Plan, UsageRecord, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("operator", password="x" * 12))
    return client


def ledger(
    user: User, model: str, tokens: tuple[int, int], days_ago: int = 0, status: str = "complete"
) -> UsageRecord:
    chat_model = ChatModel.objects.get(slug=model)
    record = UsageRecord.objects.create(
        user=user,
        model=model,
        status="running",
        price_input=chat_model.price_input,
        price_output=chat_model.price_output,
    )
    UsageRecord.objects.settle(
        record.pk, status=status, prompt_tokens=tokens[0], completion_tokens=tokens[1]
    )
    UsageRecord.objects.filter(pk=record.pk).update(
        created=timezone.now() - timedelta(days=days_ago)
    )
    return record


@pytest.mark.parametrize(
    "url",
    [
        "/admin/",
        "/admin/webchat/chatmodel/",
        "/admin/webchat/plan/",
        "/admin/webchat/plan/add/",
        "/admin/webchat/user/",
        "/admin/webchat/usagerecord/",
        "/admin/webchat/usagerecord/dashboard/",
        "/admin/conversations/conversation/",
        "/admin/conversations/feedback/",
        "/admin/conversations/attachment/",
    ],
)
def test_every_admin_page_renders(operator: Client, url: str) -> None:
    assert operator.get(url).status_code == 200


def test_site_settings_lead_to_the_one_row(operator: Client) -> None:
    response = operator.get("/admin/webchat/sitesettings/")
    assert response.status_code == 302 and response["Location"].endswith("/sitesettings/1/change/")
    assert operator.get(response["Location"]).status_code == 200


def test_the_admin_names_the_zone_of_its_times_and_the_unit_of_storage(
    operator: Client, settings: object
) -> None:
    settings.TIME_ZONE = "America/Mexico_City"
    plan = Plan.objects.first()
    html = operator.get(f"/admin/webchat/plan/{plan.pk}/change/").content.decode()
    assert '<span class="admin-zone">Times in America/Mexico_City</span>' in html
    assert "Storage (MB)" in html and "Storage mb" not in html
    # The reader's own zone (the pages' cookie) is not the admin's: its days are the server's.
    operator.cookies["tz"] = "Asia/Tokyo"
    assert "Times in America/Mexico_City" in operator.get("/admin/").content.decode()


def test_the_operator_disables_a_model_from_the_list(operator: Client, alice: User) -> None:
    model = ChatModel.objects.get(slug="grok-3")
    response = operator.post(
        f"/admin/webchat/chatmodel/{model.pk}/change/",
        {
            "slug": "grok-3", "upstream_id": "grok-3", "display_name": "Grok 3", "position": 30,
            "context_window": 131072, "default_params": "{}", "max_output_tokens": 8192,
            "price_input": "3", "price_output": "15",
        },
    )  # fmt: skip
    assert response.status_code == 302
    model.refresh_from_db()
    assert not model.enabled
    chat = Client()
    chat.force_login(alice)
    assert 'value="grok-3"' not in chat.get("/").content.decode()


def test_the_operator_creates_a_plan_and_gives_it(operator: Client, alice: User) -> None:
    response = operator.post(
        "/admin/webchat/plan/add/",
        {
            "name": "Pro", "tokens_per_day": 1000, "tokens_per_month": 20000, "requests_per_minute": 5,
            "concurrent_generations": 1, "max_tokens_cap": 500,
            "allowed_models": [ChatModel.objects.get(slug="grok-3").pk],
        },
    )  # fmt: skip
    assert response.status_code == 302
    pro = Plan.objects.get(name="Pro")
    assert list(pro.allowed_models.values_list("slug", flat=True)) == ["grok-3"]
    form = operator.get(f"/admin/webchat/user/{alice.pk}/change/")
    assert form.status_code == 200 and "bonus_tokens" in form.content.decode()
    joined = timezone.localtime(alice.date_joined)
    response = operator.post(
        f"/admin/webchat/user/{alice.pk}/change/",
        {
            "username": "alice", "is_active": "on", "plan": pro.pk, "bonus_tokens": 500,
            "date_joined_0": f"{joined:%Y-%m-%d}", "date_joined_1": f"{joined:%H:%M:%S}",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    alice.refresh_from_db()
    assert alice.plan == pro and alice.bonus_tokens == 500
    assert "Pro" in operator.get("/admin/webchat/user/").content.decode()


def test_the_dashboard_charts_tokens_and_cost_per_day_per_model(
    operator: Client, alice: User, bob: User
) -> None:
    ledger(alice, "grok-3", (1000, 2000))
    ledger(alice, "grok-3-mini", (500, 500), days_ago=1)
    ledger(bob, "grok-3", (100, 100), days_ago=3)
    html = operator.get("/admin/webchat/usagerecord/dashboard/?days=7").content.decode()
    assert html.count("<rect x=") == 6  # 3 bars on each of the two charts
    # Named as in the catalog; a model taken out of it keeps its id.
    ChatModel.objects.filter(slug="grok-3-mini").delete()
    html = operator.get("/admin/webchat/usagerecord/dashboard/?days=7").content.decode()
    assert "grok-3-mini: 1k" in html and "Grok 3: 3k" in html
    legend = html.split("<figcaption>")[1].split("</figcaption>")[0]
    assert "Grok 3</span>" in legend and "grok-3-mini</span>" in legend
    assert "grok-3</span>" not in legend
    assert "4,200" in html  # total tokens: 1600 prompt + 2600 completion in the totals row
    assert html.index("alice") < html.index("bob")  # top users, biggest first
    assert "<script" not in html.split('id="content-main"')[1]


def test_a_chart_of_small_costs_reads_its_steps_apart() -> None:
    from datetime import date

    from webchat.dashboard import bar_chart

    chart = bar_chart([date(2026, 12, 1)], {(date(2026, 12, 1), "grok-3"): 0.00017}, "USD")
    assert [tick["label"] for tick in chart["ticks"]] == [
        "$0.00", "$0.00005", "$0.0001", "$0.00015", "$0.0002",
    ]  # fmt: skip
    assert chart["bars"][0]["title"].endswith("grok-3: $0.00017")


@pytest.mark.parametrize("language", ["es", "ar", "zh-hans"])
def test_the_dashboards_charts_stay_drawn_in_every_language(
    operator: Client, alice: User, language: str
) -> None:
    """The coordinates are the SVG's numbers ("123.5"), not the reader's ("123,5")."""
    ledger(alice, "grok-3", (1234, 2000))
    ledger(alice, "grok-3-mini", (500, 500), days_ago=1)
    html = operator.get(
        "/admin/webchat/usagerecord/dashboard/?days=7", HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    assert f'lang="{language}"' in html
    svgs = re.findall(r'<svg xmlns[^>]*role="img".*?</svg>', html, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        for value in re.findall(r' (?:x|y|width|height|x1|x2|y1|y2)="([^"]*)"', svg):
            float(value.removesuffix("%"))  # a comma would not parse


def test_the_ledger_filters_and_exports_as_csv(operator: Client, alice: User, bob: User) -> None:
    ledger(alice, "grok-3", (10, 20))
    ledger(bob, "grok-3-mini", (1, 2), status="error")
    listing = operator.get("/admin/webchat/usagerecord/?status__exact=error").content.decode()
    assert "bob" in listing and "alice" not in listing.split("result_list")[1]
    response = operator.get("/admin/webchat/usagerecord/export.csv?model=grok-3")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["created", "user", "model", "status"]
    assert [(r[1], r[2], r[4], r[5]) for r in rows[1:]] == [("alice", "grok-3", "10", "20")]


def test_the_csv_quotes_what_a_spreadsheet_would_take_for_a_formula(operator: Client) -> None:
    """A key's name and a username are chosen by people: none becomes a formula."""
    from api.models import ApiKey

    mallory = User.objects.create_user("@mallory", password="a long enough passphrase")
    key, _ = ApiKey.objects.issue(mallory, '=HYPERLINK("http://example.com")')
    record = ledger(mallory, "grok-3", (1, 2))
    UsageRecord.objects.filter(pk=record.pk).update(api_key=key, error_code="-1+2")
    response = operator.get("/admin/webchat/usagerecord/export.csv")
    (row,) = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))[1:]
    assert row[1] == "'@mallory" and row[4:6] == ["1", "2"]
    assert row[10] == "'-1+2" and row[13].startswith("'=HYPERLINK(")


def test_the_ledger_is_read_only(operator: Client, alice: User) -> None:
    record = ledger(alice, "grok-3", (1, 1))
    assert operator.post(f"/admin/webchat/usagerecord/{record.pk}/delete/").status_code == 403
    assert operator.get("/admin/webchat/usagerecord/add/").status_code == 403


def test_the_admin_is_for_staff_only(operator: Client, alice: User) -> None:
    client = Client()
    client.force_login(alice)
    for url in (
        "/admin/webchat/usagerecord/",
        "/admin/webchat/usagerecord/dashboard/",
        "/admin/webchat/usagerecord/export.csv",
    ):
        assert client.get(url).status_code == 302


def model_form(**change: object) -> dict[str, object]:
    return {
        "slug": "grok-3", "upstream_id": "grok-3", "display_name": "Grok 3", "position": 30,
        "context_window": 131072, "default_params": "{}", "max_output_tokens": 8192,
        "price_input": "3", "price_output": "15", "enabled": "on", **change,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("slug", "params", "problem"),
    [
        ("grok-3", '{"top_k": 3}', "is not a parameter the model service takes"),
        ("grok-3", '{"top_p": 2}', "must be a number from 0 to 1"),
        ("grok-3", '{"stop": [1]}', "must be a text or a list of up to 4 texts"),
        ("grok-3", '{"reasoning_effort": "high"}', "Only models that stream their reasoning"),
        ("grok-4", '{"stop": ["x"]}', "Reasoning models refuse"),
        ("grok-3", "[1, 2]", "must be a JSON object"),
    ],
)
def test_default_parameters_the_upstream_refuses_are_refused_in_the_admin(
    operator: Client, slug: str, params: str, problem: str
) -> None:
    model = ChatModel.objects.get(slug=slug)
    flags = {"supports_reasoning": "on"} if model.supports_reasoning else {}
    response = operator.post(
        f"/admin/webchat/chatmodel/{model.pk}/change/",
        model_form(slug=slug, upstream_id=slug, default_params=params, **flags),
    )
    assert response.status_code == 200 and problem in response.content.decode()
    model.refresh_from_db()
    assert model.default_params == {}


def test_default_parameters_the_upstream_takes_are_kept(operator: Client) -> None:
    model = ChatModel.objects.get(slug="grok-3-mini")
    params = '{"top_p": 0.9, "reasoning_effort": "low", "seed": 1}'
    response = operator.post(
        f"/admin/webchat/chatmodel/{model.pk}/change/",
        model_form(
            slug="grok-3-mini", upstream_id="grok-3-mini", default_params=params,
            supports_reasoning="on", streams_reasoning="on",
        ),
    )  # fmt: skip
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.default_params == {"top_p": 0.9, "reasoning_effort": "low", "seed": 1}


def test_feedback_is_listed_and_filtered_by_rating_and_model(operator: Client, alice: User) -> None:
    from conversations.models import Conversation, Feedback, Message
    from tests.helpers import add_exchange

    conversation = Conversation.objects.create(owner=alice)
    good = add_exchange(conversation, "q1", "a1")
    bad = add_exchange(conversation, "q2", "a2")
    Message.objects.filter(pk=bad.pk).update(model="grok-4")
    bad.model = "grok-4"
    Feedback.objects.create(message=good, user=alice, rating="up", model=good.model)
    Feedback.objects.create(
        message=bad, user=alice, rating="down", comment="wrong about owls", model=bad.model
    )
    listing = operator.get("/admin/conversations/feedback/").content.decode()
    assert "wrong about owls" in listing and "grok-4" in listing
    downs = operator.get("/admin/conversations/feedback/?rating__exact=down").content.decode()
    assert "wrong about owls" in downs and "1 feedback" in downs
    by_model = operator.get("/admin/conversations/feedback/?model=grok-3").content.decode()
    assert "wrong about owls" not in by_model and "1 feedback" in by_model


def test_a_messages_place_in_its_thread_is_not_editable(operator: Client, alice: User) -> None:
    from conversations.models import Conversation, Message

    conversation = Conversation.objects.create(owner=alice)
    message = Message.objects.create(conversation=conversation, role="user", content="hi")
    page = operator.get(f"/admin/conversations/message/{message.pk}/change/").content.decode()
    assert 'name="content"' in page
    assert 'name="conversation"' not in page and 'name="parent"' not in page
    assert 'name="status"' not in page
    assert operator.get("/admin/conversations/message/add/").status_code == 403
    page = operator.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
    assert 'name="current_leaf"' not in page.content.decode()


def test_the_index_lists_the_site_s_own_apps_first(operator: Client) -> None:
    """People, plans and models are what an operator comes for: they were last, under the
    libraries' login lock-outs and sign-in accounts."""
    page = operator.get("/admin/").content.decode()
    headings = re.findall(r'<caption>\s*<a [^>]*class="section"[^>]*>([^<]+)</a>', page)
    assert headings[:3] == ["webchat platform", "Conversations", "API"], headings
    assert len(headings) > 3  # the libraries' follow
