"""Bad input of every kind gets a clear error, changes nothing, and the server goes on:
fuzzed websocket frames and forms, oversized frames and bodies."""

import asyncio
import json
import uuid
from typing import Any

import pytest
import websockets
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conversations import consumers
from conversations.models import Conversation, Message
from tests.helpers import add_exchange, logged_in, open_socket
from tests.live import LiveServer
from webchat.models import User

FUZZ = hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# JSON values of every shape, and the frame fields the protocol reads.
# Any string: lone surrogates ("\ud800", which JSON can carry) and NUL included.
any_text = st.text(st.characters(exclude_categories=()), max_size=40) | st.sampled_from(
    ["\ud800", "a\udfffb", "\x00", "\udc00\ud800"]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
frame_types = st.sampled_from(
    ["send", "regenerate", "stop", "resume", "ack", "", "SEND"]
) | st.text(max_size=12)
protocol_fields = st.fixed_dictionaries(
    {"type": frame_types},
    optional={
        "content": json_values,
        "parent": json_values | st.uuids().map(str),
        "message": json_values | st.uuids().map(str),
        "model": json_values | st.sampled_from(["grok-3", "grok-3-mini", "nope"]),
        "params": st.dictionaries(
            st.sampled_from(["temperature", "max_tokens", "n", "system", "other"]),
            json_values,
            max_size=5,
        ),
        "seq": json_values,
        "client_id": json_values,
    },
)


def nested(depth: int) -> str:
    """A send frame whose system prompt is `depth` lists deep."""
    return '{"type":"send","content":"x","params":{"system":' + "[" * depth + "]" * depth + "}}"


raw_frames = (
    protocol_fields.map(json.dumps)
    | st.integers(1, 200_000).map(lambda d: "[" * d + "]" * d)
    | st.integers(1, 200_000).map(nested)
    | json_values.map(json.dumps)
    | st.text(max_size=60)
    | st.binary(max_size=60)
)

PROBE = {
    "type": "resume",
    "message": "00000000-0000-0000-0000-000000000000",
    "client_id": "probe",
}


REFUSALS = {"invalid_request", "not_found", "model_unavailable", "quota_exceeded"}


@pytest.fixture
def no_plan(alice: User) -> User:
    # Every send is refused at the quota step, after all validation: no reply starts.
    alice.plan = None
    alice.save()
    return alice


@pytest.mark.django_db(transaction=True)
@FUZZ
@given(frame=raw_frames)
def test_any_frame_gets_a_clear_answer_and_the_socket_stays_open(
    no_plan: User, frame: str | bytes
) -> None:
    conversation = Conversation.objects.get_or_create(owner=no_plan, title="fuzz")[0]

    async def exchange() -> list[dict[str, Any]]:
        consumers._allowances.clear()  # every example is a first frame
        socket, connected = await open_socket(no_plan, conversation.id)
        assert connected
        kind = "bytes" if isinstance(frame, bytes) else "text"
        await socket.communicator.send_input({"type": "websocket.receive", kind: frame})
        # A probe after it: its answer proves the socket is open and still serving.
        await socket.send(PROBE)
        answers = await socket.receive_until("error", client_id="probe")
        await socket.close()
        return answers

    answers = async_to_sync(exchange)()
    for answer in answers:
        assert answer["type"] == "error", answer
        # A refusal that names what was wrong; never the catch-all of a crash ("busy").
        assert answer["code"] in REFUSALS, answer
        assert isinstance(answer["message"], str) and answer["message"]
    assert len(answers) <= 2  # at most one answer to the frame, then the probe's
    assert not Message.objects.filter(conversation=conversation).exists()


@pytest.mark.django_db(transaction=True)
async def test_a_message_over_the_limit_is_refused_and_kept_out(alice: User) -> None:
    conversation = await Conversation.objects.acreate(owner=alice)
    socket, _ = await open_socket(alice, conversation.id)
    content = "x" * (settings.CHAT_MAX_MESSAGE_CHARS + 1)
    await socket.send({"type": "send", "content": content, "client_id": "big"})
    answer = await socket.receive()
    assert answer["type"] == "error" and answer["code"] == "invalid_request"
    assert "too long" in answer["message"] and answer["client_id"] == "big"
    assert not await Message.objects.filter(conversation=conversation).aexists()
    await socket.close()


def test_an_oversized_websocket_message_is_refused_and_the_server_goes_on(
    live: LiveServer,
) -> None:
    """Over daphne's limit (1 MiB) a message is refused before it is buffered whole: the
    socket is failed (close code 1009, "message too big", when the client is still there to
    read it); the same person's next socket works."""
    session = live.sign_up("bigsender")
    conversation = live.new_conversation(session)
    headers = {"Cookie": f"sessionid={session}", "Origin": live.url}

    async def run() -> tuple[int | None, dict[str, Any]]:
        code = -1
        async with websockets.connect(
            live.socket_url(conversation), additional_headers=headers, max_size=None
        ) as sock:
            try:  # the cut may come while the client still writes, or once it reads
                await sock.send(json.dumps({"type": "send", "content": "y" * (2 << 20)}))
                await asyncio.wait_for(sock.recv(), 10)
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
        async with websockets.connect(
            live.socket_url(conversation), additional_headers=headers
        ) as sock:
            await sock.send(json.dumps(PROBE))
            probe = json.loads(await asyncio.wait_for(sock.recv(), 10))
        return code, probe

    code, probe = asyncio.run(run())
    assert code in (1009, None)  # None: the connection was cut while the client still wrote
    assert probe["type"] == "error" and probe["code"] == "not_found"


@pytest.mark.django_db
def test_an_oversized_form_body_is_refused(alice: User, conversation: Conversation) -> None:
    response = logged_in(alice).post(
        f"/c/{conversation.id}/rename/", {"title": "z" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}
    )
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.title == ""


form_text = st.text(max_size=300) | st.sampled_from(["", " ", "\x00", "<script>", "' OR 1=1 --"])


@pytest.mark.django_db
@FUZZ
@given(title=form_text, message=form_text, query=form_text, include=form_text)
def test_fuzzed_forms_get_a_clear_answer(
    alice: User, title: str, message: str, query: str, include: str
) -> None:
    conversation = Conversation.objects.get_or_create(owner=alice, title="fuzz")[0]
    if not conversation.current_leaf_id:
        add_exchange(conversation, "q", "a")
    client = logged_in(alice)
    base = f"/c/{conversation.id}"
    answers = [
        client.post(f"{base}/rename/", {"title": title}, headers={"Accept": "application/json"}),
        client.post(
            f"{base}/switch/", {"message": message}, headers={"Accept": "application/json"}
        ),
        client.post(f"{base}/share/", {"include_system": include}),
        client.get("/search/", {"q": query}),
        client.get("/conversations/more/", {"before": query}),
        client.get(f"{base}/export.{message[:10] or 'md'}"),
    ]
    for response in answers:
        assert response.status_code in (200, 201, 302, 400, 404), response.content[:300]
        if response.status_code == 400:
            assert response.json()["error"]["message"]
    conversation.refresh_from_db()
    assert conversation.messages.count() == 2


@pytest.mark.django_db
@FUZZ
@given(username=form_text, password=form_text)
def test_fuzzed_logins_and_signups_get_a_clear_answer(username: str, password: str) -> None:
    for path, data in (
        ("/accounts/login/", {"username": username, "password": password}),
        ("/accounts/signup/", {"username": username, "password1": password, "password2": password}),
    ):
        response = Client().post(path, data)
        assert response.status_code in (200, 302, 429), response.content[:300]


@pytest.mark.django_db(transaction=True)
async def test_a_nul_character_is_refused_by_name(alice: User) -> None:
    """PostgreSQL can't store one: it is refused before anything is written, on SQLite too."""
    conversation = await Conversation.objects.acreate(owner=alice)
    socket, _ = await open_socket(alice, conversation.id)
    for frame in (
        {"type": "send", "content": "before\x00after", "client_id": "c"},
        {"type": "send", "content": "fine", "params": {"system": "\x00"}, "client_id": "c"},
    ):
        await socket.send(frame)
        answer = await socket.receive()
        assert answer["code"] == "invalid_request" and "NUL" in answer["message"]
    await socket.close()
    assert not await Message.objects.filter(conversation=conversation).aexists()


@pytest.mark.django_db
def test_searching_for_a_nul_character_is_refused_by_name(alice: User) -> None:
    response = logged_in(alice).get("/search/", {"q": "\x00"})
    assert response.status_code == 400 and "nul" in response.json()["error"]["message"].lower()


@pytest.mark.django_db(transaction=True)
async def test_a_lone_surrogate_in_a_system_prompt_is_refused_and_pages_keep_working(
    alice: User,
) -> None:
    conversation = await Conversation.objects.acreate(owner=alice)
    socket, _ = await open_socket(alice, conversation.id)
    for system in ('"\\ud800"', '"ok \\uDFFF"', '{"a": "\\ud83d"}'):
        raw = '{"type":"send","content":"hi","params":{"system":' + system + '},"client_id":"c"}'
        await socket.send(raw)
        answer = await socket.receive()
        assert answer["code"] == "invalid_request" and "Unicode" in answer["message"]
    await socket.close()
    assert not await Message.objects.filter(conversation=conversation).aexists()
    page = await database_sync_to_async(lambda: logged_in(alice).get(f"/c/{conversation.id}/"))()
    assert page.status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_frame_nested_without_end_is_refused_in_words(alice: User) -> None:
    conversation = await Conversation.objects.acreate(owner=alice)
    socket, _ = await open_socket(alice, conversation.id)
    for depth in (40, 5_000, 50_000):
        await socket.send(nested(depth))
        answer = await socket.receive()
        assert answer["code"] == "invalid_request" and "nested too deeply" in answer["message"]
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_a_frame_of_many_values_is_refused_before_each_is_checked(alice: User) -> None:
    """Each of a frame's values is checked in Python, on the event loop: 150,000 empty lists
    took it 0.3 s. Past 1,000 values a frame is refused before any is checked."""
    conversation = await Conversation.objects.acreate(owner=alice)
    socket, _ = await open_socket(alice, conversation.id)
    for many in (
        {"type": "resume", "x": [[]] * 40_000},
        {"type": "stop", "x": {str(n): n for n in range(2_000)}},
    ):
        await socket.send({**many, "client_id": "c"})
        answer = await socket.receive()
        assert answer["code"] == "invalid_request" and answer["client_id"] == "c"
        assert answer["message"] == "This frame is too large."
    # Under the bound, a frame is read (a send holds a few dozen values).
    await socket.send({"type": "resume", "message": str(uuid.uuid4()), "x": [[]] * 900})
    assert (await socket.receive())["code"] == "not_found"
    await socket.close()


@pytest.mark.django_db(transaction=True)
async def test_a_frame_type_of_the_wrong_kind_is_refused_not_crashed(alice: User) -> None:
    conversation = await Conversation.objects.acreate(owner=alice)
    socket, _ = await open_socket(alice, conversation.id)
    for kind in (["send"], {"a": 1}, 5, None):
        await socket.send({"type": kind, "client_id": "c"})
        assert (await socket.receive())["code"] == "invalid_request"
    await socket.close()


ODD_DATES = [
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
    "2026-02-30T00:00:00",
    "2026-01-01T25:00:00",
    "+2026-01-01",
    "2026-01-01T00:00:00+24:00",
    "\x00",
    "",
    "1" * 10_000,
]


@pytest.mark.django_db
@pytest.mark.parametrize("before", ODD_DATES)
def test_odd_dates_in_the_sidebars_paging_are_refused_in_words(alice: User, before: str) -> None:
    response = logged_in(alice).get("/conversations/more/", {"before": before})
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["message"].startswith("`before`")


@pytest.mark.django_db
def test_a_good_date_pages_the_sidebar(alice: User) -> None:
    response = logged_in(alice).get("/conversations/more/", {"before": "2026-01-01T00:00:00"})
    assert response.status_code == 200 and response.json()["more"] is False


@pytest.mark.django_db
@FUZZ
@given(value=st.text(max_size=40) | st.sampled_from(ODD_DATES) | st.integers().map(str))
def test_fuzzed_page_parameters_get_a_clear_answer(alice: User, value: str) -> None:
    client = logged_in(alice)
    admin = logged_in(
        User.objects.get_or_create(username="root", is_staff=True, is_superuser=True)[0]
    )
    answers = [
        client.get("/conversations/more/", {"before": value}),
        client.get("/search/", {"q": value}),
        client.get("/search/", {"q": "x", "page": value}),
        client.get("/shares/", {"page": value}),
        admin.get("/admin/webchat/usagerecord/dashboard/", {"days": value}),
    ]
    for response in answers:
        assert response.status_code in (200, 400), response.content[:300]
        if response.status_code == 400:
            assert response.json()["error"]["message"]


@pytest.mark.django_db
def test_undecodable_bytes_in_a_query_string_are_read_as_replacement_characters(
    alice: User,
) -> None:
    # A query string is bytes: half a surrogate pair (ED A0 80) can't become a lone one.
    response = logged_in(alice).get("/search/?q=%ED%A0%80")
    assert response.status_code == 200


def test_text_that_cannot_be_stored_is_refused_by_every_model() -> None:
    from django.core.exceptions import ValidationError

    from webchat.text import problem

    assert problem("fine ✓") is None
    assert "NUL" in problem({"a": ["b", "c\x00"]})
    assert "Unicode" in problem({"key \ud800": 1})
    deep: list = []
    for _ in range(40):
        deep = [deep]
    assert "deeply" in problem(deep)
    with pytest.raises(ValidationError, match="content"):
        Message(role="user", content="half \ud800 pair").save()
    with pytest.raises(ValidationError, match="params"):
        Message(role="user", content="ok", params={"system": "\x00"}).save()


def test_a_hostile_upstreams_unstorable_text_is_repaired_not_lost() -> None:
    from webchat.sse import ContentDelta, parse_chunk

    events = parse_chunk('{"choices":[{"delta":{"content":"a\\ud800b\\u0000c"}}]}')
    assert ContentDelta(0, "a\ufffdb\ufffdc") in events
    assert parse_chunk('{"choices":[{"delta":{"content":5}}]}') == []


@pytest.mark.django_db
def test_the_admin_refuses_unstorable_json_with_the_fields_error(alice: User) -> None:
    from webchat.models import ChatModel

    model = ChatModel.objects.first()
    admin = logged_in(User.objects.create_superuser("root", password="x" * 12))
    url = f"/admin/webchat/chatmodel/{model.pk}/change/"
    page = admin.get(url)
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update({"default_params": '{"stop": ["\\ud800"]}', "display_name": "Grok"})
    response = admin.post(url, data)
    assert response.status_code == 200
    assert "not valid Unicode" in response.content.decode()
