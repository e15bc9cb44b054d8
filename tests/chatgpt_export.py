"""A ChatGPT data export as ChatGPT writes it, made here: `conversations.json` (each
conversation a `mapping` of nodes naming their parent and children) alone or in the
export's ZIP with an image. It holds what real exports hold besides plain turns: an empty
root, a hidden system message, custom instructions the app added, an edited question (a
branch), a browsing tool call and its result, a reply in two parts, a code message,
reasoning, an image the export has and one it lacks, nulls where times and text may be.
"""

import io
import json
import zipfile
from typing import Any

from tests.samples import image

IMAGE_ID = "file-Ab12Cd34Ef56"
MISSING_ID = "file-Zz99Yy88Xx77"


def _node(
    key: str,
    parent: str | None,
    role: str | None = None,
    parts: list[Any] | None = None,
    *,
    created: float | None = 1_700_000_000.0,
    content: dict[str, Any] | None = None,
    recipient: str = "all",
    hidden: bool = False,
    model: str | None = None,
) -> dict[str, Any]:
    message = None
    if role is not None:
        metadata: dict[str, Any] = {}
        if hidden:
            metadata["is_visually_hidden_from_conversation"] = True
        if model:
            metadata["model_slug"] = model
        message = {
            "id": key,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": created,
            "update_time": None,
            "content": content or {"content_type": "text", "parts": parts or [""]},
            "status": "finished_successfully",
            "end_turn": True,
            "weight": 1.0,
            "metadata": metadata,
            "recipient": recipient,
        }
    return {"id": key, "message": message, "parent": parent, "children": []}


def conversations() -> list[dict[str, Any]]:
    t = 1_700_000_000.0
    first = [
        _node("root", None),
        _node("sys", "root", "system", [""], created=None, hidden=True),
        _node(
            "ctx",
            "sys",
            "user",
            content={"content_type": "user_editable_context", "user_profile": "I cook."},
            hidden=True,
        ),
        _node("q1", "ctx", "user", ["What is a roux?"], created=t + 10),
        _node("a1", "q1", "assistant", ["Flour cooked in fat."], created=t + 11, model="gpt-4o"),
        # The question edited: a second branch beside the first.
        _node("q1b", "ctx", "user", ["What is a béchamel?"], created=t + 20),
        _node(
            "think",
            "q1b",
            "assistant",
            content={"content_type": "thoughts", "thoughts": [{"summary": "s", "content": "c"}]},
            created=t + 21,
        ),
        _node(
            "call",
            "think",
            "assistant",
            content={"content_type": "code", "language": "unknown", "text": "search('béchamel')"},
            recipient="browser",
            created=t + 22,
        ),
        _node(
            "tool",
            "call",
            "tool",
            content={"content_type": "tether_browsing_display", "result": "…"},
            created=t + 23,
        ),
        _node("a1b", "tool", "assistant", ["A white sauce:"], created=t + 24, model="gpt-4o"),
        _node("a1b2", "a1b", "assistant", ["milk thickened with a roux."], created=t + 25),
        _node("q2", "a1b2", "user", [None, "And in code?"], created=None),
        _node(
            "a2",
            "q2",
            "assistant",
            content={"content_type": "code", "language": "python", "text": "sauce = roux + milk"},
            created=t + 30,
        ),
    ]
    second = [
        _node("r", None),
        _node("s", "r", "system", ["You are a botanist."], created=t + 99),
        _node(
            "u",
            "s",
            "user",
            content={
                "content_type": "multimodal_text",
                "parts": [
                    {
                        "content_type": "image_asset_pointer",
                        "asset_pointer": f"file-service://{IMAGE_ID}",
                        "width": 64,
                        "height": 48,
                    },
                    {
                        "content_type": "image_asset_pointer",
                        "asset_pointer": f"file-service://{MISSING_ID}",
                    },
                    "What plant is this?",
                ],
            },
            created=t + 100,
        ),
        _node("v", "u", "assistant", ["A fern."], created=t + 101, model="gpt-4o-mini"),
    ]
    return [
        _conversation("Sauces", first, current="a2", created=t),
        _conversation(None, second, current="v", created=t + 99),
    ]


def _conversation(
    title: str | None, nodes: list[dict[str, Any]], current: str, created: float
) -> dict[str, Any]:
    mapping = {n["id"]: n for n in nodes}
    for n in nodes:
        if n["parent"]:
            mapping[n["parent"]]["children"].append(n["id"])
    return {
        "title": title,
        "create_time": created,
        "update_time": created + 1000,
        "mapping": mapping,
        "moderation_results": [],
        "current_node": current,
        "plugin_ids": None,
        "conversation_id": f"conv-{current}",
        "is_archived": False,
        "safe_urls": [],
        "default_model_slug": "gpt-4o",
    }


def as_json(data: Any = None) -> bytes:
    return json.dumps(conversations() if data is None else data).encode()


def as_zip(data: Any = None) -> bytes:
    """The export's ZIP: conversations.json beside the image it names (and chat.html)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("conversations.json", as_json(data))
        archive.writestr("chat.html", "<html></html>")
        archive.writestr("user.json", "{}")
        archive.writestr(f"{IMAGE_ID}-fern.png", image("PNG"))
    return buffer.getvalue()
