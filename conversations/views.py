import asyncio
import secrets
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import async_to_sync, sync_to_async
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, Count, F, Q, Value, When, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from conversations import context, files, frames, snippets
from conversations.models import Conversation, Feedback, Folder, Message
from conversations.render import plain_text, render_markdown, with_html
from conversations.search import PER_PAGE
from conversations.search import find as find_conversations
from webchat import moments, query, quotas
from webchat.errors import InvalidRequest, NotFound
from webchat.models import ChatModel, UsageRecord, User
from webchat.templatetags.humanize_tokens import dollars

SIDEBAR_SIZE = 50


def conversation_for(request: HttpRequest, id: uuid.UUID) -> Conversation:
    """The person's own conversation, or 404 — the same whether it is someone else's or none."""
    return get_object_or_404(Conversation.objects.owned_by(request.user), pk=id)


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _chat_context(request: HttpRequest, conversation: Conversation | None) -> dict[str, Any]:
    catalog = list(ChatModel.objects.all())
    models = [m for m in catalog if m.enabled]
    prices = {m.slug: m for m in catalog}
    thread = _thread(conversation, prices) if conversation is not None else []
    last = next((m for m in reversed(thread) if m.role == Message.Role.ASSISTANT), None)
    user = request.user
    enabled = {m.slug for m in models}
    if last:
        selected = last.model
        # The conversation's system prompt and temperature carry over to the next message;
        # max_tokens and n are asked for per message.
        params = {k: v for k, v in last.params.items() if k in ("system", "temperature")}
        # Not kept by a conversation: the person's own default, if any.
        params["max_tokens"] = user.default_max_tokens
    else:
        # A new conversation starts from the person's own defaults (/settings/).
        first = models[0].slug if models else ""
        selected = user.default_model if user.default_model in enabled else first
        params = {
            "system": user.custom_instructions,
            "temperature": user.default_temperature,
            "max_tokens": user.default_max_tokens,
        }
    plan = request.user.plan
    listed = sidebar(request.user)
    return {
        # An administrator with nothing yet is shown where the site is set up.
        "first_run_admin": user.is_staff
        and not (listed["pinned"] or listed["folders"] or listed["groups"] or listed["archived"]),
        "allowance": allowance(request.user, thread, prices.get(selected)),
        "conversation": conversation,
        "thread": thread,
        "models": models,
        "selected_model": selected,
        "params": params,
        "max_tokens_cap": plan.max_tokens_cap if plan else 0,
        "max_candidates": settings.CHAT_MAX_CANDIDATES,
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        # Said on the attach button, before a file is refused for them.
        "attachment_mb": f"{settings.ATTACHMENT_MAX_MB:g}",
        "attachment_chars": settings.ATTACHMENT_TEXT_MAX_CHARS,
        "sidebar": listed,
        # The markup of a new message comes from the same partial as the server's messages.
        "blank": {
            "user": Message(role=Message.Role.USER, status="sending"),
            # Complete, so that it carries the actions a reply gets once it ends.
            "assistant": Message(role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE),
        },
        # The person's id keys what the page keeps in the tab (drafts) to them.
        "client": {
            **client_config(),
            "user": request.user.pk,
            "prompts": list(request.user.saved_prompts.values("name", "text")),
        },
    }


def _thread(conversation: Conversation, prices: dict[str, ChatModel]) -> list[Message]:
    """The visible thread, each reply ready for conversations/_message.html: its HTML, its
    model's name, what it cost, the person's rating of it."""
    Message.objects.expire_stale(conversation=conversation)
    thread = conversation.thread()
    replies = [m for m in thread if m.role == Message.Role.ASSISTANT]
    ratings = dict(Feedback.objects.filter(message__in=replies).values_list("message_id", "rating"))
    for index, message in enumerate(thread):
        # What the model would read of it (conversations/context.py), for the page's gauge.
        message.tokens = context.tokens(context.text_of(message))
        # Summarize and retry needs something before the question.
        message.has_earlier = index > 1
        if message.summary is not None:
            message.summary.html = render_markdown(message.summary.content)
            message.summary.tokens = context.tokens(message.summary.content)
    with_html([m for m in replies if m.status != Message.Status.STREAMING])
    for message in replies:
        model = prices.get(message.model)
        message.model_name = model.display_name if model else message.model
        message.usage_title = _usage_title(message, model)
        message.rating = ratings.get(message.id, "")
    return thread


def _prices() -> dict[str, ChatModel]:
    return {m.slug: m for m in ChatModel.objects.all()}


# Stands for a conversation's id in the URLs the browser is given.
_ID = uuid.UUID(int=0)


def client_config() -> dict[str, Any]:
    """What the browser's modules need from the server: URLs (with "{id}" for the
    conversation), the socket's close codes and the message limit."""

    def url(name: str, *args: str) -> str:
        return reverse(name, args=[_ID, *args]).replace(str(_ID), "{id}")

    return {
        "urls": {
            "create": reverse("conversation-create"),
            "leave": url("conversation-leave"),
            "conversation": url("conversation"),
            "switch": url("conversation-switch"),
            "feedback": url("conversation-feedback"),
            "search": reverse("search"),
            "rename": url("conversation-rename"),
            "delete": url("conversation-delete"),
            "organise": url("conversation-organise"),
            "folder_rename": reverse("folder-rename", args=[0]).replace("/0/", "/{id}/"),
            "folder_delete": reverse("folder-delete", args=[0]).replace("/0/", "/{id}/"),
            "share": url("share-create"),
            "export_md": url("conversation-export", "md"),
            "export_json": url("conversation-export", "json"),
            "composer": url("conversation-composer"),
            "summarize": url("conversation-summarize"),
            "attachments": url("attachment-upload"),
            "socket": "/" + frames.CHAT_SOCKET.replace("<uuid:id>", "{id}"),
            "login": reverse("login"),
            "home": reverse("home"),
        },
        "close": {
            "not_logged_in": frames.CLOSE_NOT_LOGGED_IN,
            "not_found": frames.CLOSE_NOT_FOUND,
            "too_many": frames.CLOSE_TOO_MANY,
            "too_big": 1009,  # RFC 6455: a frame over daphne's limit
        },
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        "attachments_per_message": settings.ATTACHMENTS_PER_MESSAGE,
        "attachment_max_bytes": round(settings.ATTACHMENT_MAX_MB * files.MB),
        "image_tokens": settings.ATTACHMENT_IMAGE_TOKENS,
    }


def _usage_title(message: Message, model: ChatModel | None) -> str:
    if message.prompt_tokens is None or message.completion_tokens is None:
        return ""
    title = gettext("%(prompt)s prompt + %(completion)s completion tokens") % {
        "prompt": formats.number_format(message.prompt_tokens, force_grouping=True),
        "completion": formats.number_format(message.completion_tokens, force_grouping=True),
    }
    if model is not None:
        cost = model.cost(message.prompt_tokens, message.completion_tokens)
        title += f" · {dollars(cost)}"
    return title


def allowance(user: User, thread: list[Message], model: ChatModel | None) -> dict[str, Any]:
    """What the composer says about sending, by the rule a send is held to: whether the next
    message of this thread (the smallest, with the system prompt it would carry: the
    conversation's, else the model's default) would be given room for a reply."""
    left = UsageRecord.objects.remaining(user)
    if left is None:
        return {"can_send": False, "text": gettext("No plan: you cannot send messages")}
    last = next((m for m in reversed(thread) if m.role == Message.Role.ASSISTANT), None)
    system = (last.params.get("system") if last else None) or (
        model.defaults().get("system") if model else None
    )
    prompt = context.prompt_estimate(model, thread, system or "") if model else 0
    can_send = quotas.reply_tokens(left["left"], prompt, 1, quotas.MIN_REPLY_TOKENS) > 0
    resets = left["resets_today"] if left["binding"] == "day" else left["resets_month"]
    # In the reader's time zone, named, as the refusal of a send names it (quotas).
    until = f"{moments.words(resets)} {timezone.get_current_timezone_name()}"
    count = formats.number_format(left["left"], force_grouping=True)
    if can_send:
        text = gettext("%(count)s tokens left") % {"count": count}
    elif left["left"] >= quotas.MIN_REPLY_TOKENS:
        text = gettext("%(count)s tokens left: too few for this conversation (until %(until)s)") % {
            "count": count,
            "until": until,
        }
    else:
        text = gettext("No tokens left until %(until)s") % {"until": until}
    return {"can_send": can_send, "text": text, "left": left["left"]}


@require_safe
@login_required
def composer(request: HttpRequest, id: uuid.UUID) -> JsonResponse:
    """The composer's allowance, asked again after each reply (the thread has grown)."""
    thread = conversation_for(request, id).thread()
    last = next((m for m in reversed(thread) if m.role == Message.Role.ASSISTANT), None)
    models = ChatModel.objects.enabled()
    model = models.filter(slug=last.model).first() if last else models.first()
    return JsonResponse(allowance(request.user, thread, model))


def _listed(user: Any) -> Any:
    """The conversations the sidebar lists: those with a message or a title (one made for
    a file that was never sent is not worth a line; the cleanup deletes it), neither
    temporary nor archived."""
    mine = Conversation.objects.owned_by(user).filter(temporary=False, archived=False)
    return mine.filter(~Q(title="") | Q(current_leaf__isnull=False))


# What a sidebar item needs, and the most of the pinned and of each folder it shows.
ITEM_FIELDS = ("id", "title", "updated", "pinned", "folder_id")
PINNED_SIZE = 100
FOLDER_SIZE = 20


def _sidebar_page(user: Any, before: datetime | None = None) -> list[Conversation]:
    """The conversations listed by day: neither pinned nor in a folder."""
    rows = _listed(user).filter(pinned=False, folder=None).only(*ITEM_FIELDS)
    if before is not None:
        rows = rows.filter(updated__lt=before)
    return list(rows[:SIDEBAR_SIZE])


def sidebar(user: Any) -> dict[str, Any]:
    """The sidebar: pinned conversations (up to PINNED_SIZE), then each folder (its newest
    FOLDER_SIZE, and how many it holds), then the rest by day, one page of them; and how
    many are archived. Four queries, whatever the number of folders."""
    listed = _listed(user)
    # The pinned are one group, each folder's others another: each numbered newest first
    # and counted, in one query.
    group = Case(
        When(pinned=True, then=Value(0)), default=F("folder_id"), output_field=BigIntegerField()
    )
    ordered = (
        listed.filter(Q(pinned=True) | Q(folder__isnull=False))
        .only(*ITEM_FIELDS)
        .annotate(
            rank=Window(RowNumber(), partition_by=group, order_by=F("updated").desc()),
            in_group=Window(Count("id"), partition_by=group),
        )
        .filter(Q(pinned=True, rank__lte=PINNED_SIZE) | Q(pinned=False, rank__lte=FOLDER_SIZE))
        .order_by("-updated")
    )
    pinned, in_folders, counts = [], defaultdict(list), {}
    for row in ordered:
        if row.pinned:
            pinned.append(row)
        else:
            in_folders[row.folder_id].append(row)
            counts[row.folder_id] = row.in_group
    page = _sidebar_page(user)
    return {
        "pinned": pinned,
        "folders": [(f, in_folders[f.id], counts.get(f.id, 0)) for f in user.folders.all()],
        "groups": sidebar_groups(page),
        "more": len(page) == SIDEBAR_SIZE,
        "archived": Conversation.objects.owned_by(user)
        .filter(temporary=False, archived=True)
        .count(),
    }


def sidebar_groups(conversations: list[Conversation]) -> list[tuple[str, list[Conversation]]]:
    """Today, Yesterday, Previous 7 days, Older — by the day each was last updated."""
    today = timezone.localdate()
    groups: dict[str, list[Conversation]] = {}
    for conversation in conversations:
        age = (today - timezone.localdate(conversation.updated)).days
        label = (
            gettext("Today")
            if age <= 0
            else gettext("Yesterday")
            if age == 1
            else gettext("Previous 7 days")
            if age <= 7
            else gettext("Older")
        )
        groups.setdefault(label, []).append(conversation)
    return list(groups.items())


@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "conversations/chat.html", _chat_context(request, None))


@require_safe
@login_required
def detail(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    conversation = conversation_for(request, id)
    if wants_json(request):
        # The thread as it stands, for a page that lost its connection to show again.
        response = JsonResponse(_thread_json(request, conversation))
    else:
        if conversation.temporary and request.method == "GET":  # a HEAD is no page opened
            conversation.visit = secrets.token_hex(8)
            conversation.save(update_fields=["visit"])
        response = render(request, "conversations/chat.html", _chat_context(request, conversation))
    patch_vary_headers(response, ("Accept",))  # one address, two answers
    return response


@require_POST
@login_required
def create(request: HttpRequest) -> HttpResponse:
    """A new conversation; `temporary=1` for a temporary chat."""
    temporary = request.POST.get("temporary") == "1"
    visit = secrets.token_hex(8) if temporary else ""
    conversation = Conversation.objects.create(owner=request.user, temporary=temporary, visit=visit)
    url = conversation.get_absolute_url()
    if wants_json(request):
        return JsonResponse({"id": str(conversation.id), "url": url, "visit": visit}, status=201)
    return redirect(url)


class MoreQuery(query.QueryForm):
    before = query.DateTimeParam()


class SearchQuery(query.QueryForm):
    q = forms.CharField(required=False, strip=True)
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)
    # Without words: the archived conversations, or those of one folder.
    archived = forms.BooleanField(required=False)
    folder = forms.IntegerField(required=False, min_value=1)


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200, strip=True)


@require_safe
@login_required
def more(request: HttpRequest) -> JsonResponse:
    """The next page of the sidebar, for "load more"."""
    page = _sidebar_page(request.user, query.parse(MoreQuery, request)["before"])
    groups = [
        {
            "label": label,
            "items": [
                {"id": str(c.id), "title": str(c), "updated": c.updated.isoformat()} for c in items
            ],
        }
        for label, items in sidebar_groups(page)
    ]
    return JsonResponse({"groups": groups, "more": len(page) == SIDEBAR_SIZE})


@require_POST
@login_required
def switch(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    """Show another branch: the sibling picked with `< 2/3 >`, or a chosen candidate."""
    conversation = conversation_for(request, id)
    message = conversation.messages.filter(pk=_uuid_or_none(request.POST.get("message"))).first()
    if message is None:
        return JsonResponse(
            {"error": {"code": "not_found", "message": gettext("No such message.")}}, status=404
        )
    conversation.switch_to(message)
    if wants_json(request):
        # The thread through the new branch, for the page to show in place.
        return JsonResponse(_thread_json(request, conversation))
    return redirect(conversation.get_absolute_url())


def _thread_json(request: HttpRequest, conversation: Conversation) -> dict[str, Any]:
    """The visible thread, rendered, and its leaf; whether the chat is temporary (another
    tab's first message may have made it so)."""
    context = {"thread": _thread(conversation, _prices())}
    html = render_to_string("conversations/_thread.html", context, request)
    leaf = conversation.current_leaf_id
    return {"leaf": str(leaf) if leaf else None, "html": html, "temporary": conversation.temporary}


class FeedbackForm(forms.Form):
    message = forms.UUIDField()
    rating = forms.ChoiceField(choices=[("", "none"), *Feedback.Rating.choices], required=False)
    comment = forms.CharField(max_length=2000, required=False, strip=True)


@require_POST
@login_required
def feedback(request: HttpRequest, id: uuid.UUID) -> JsonResponse:
    """A thumbs up or down on a reply (an empty rating takes it back), with a comment."""
    conversation = conversation_for(request, id)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        raise InvalidRequest(
            gettext("Feedback is a rating (up or down) and a comment of at most 2,000 characters.")
        )
    reply = (
        conversation.messages.filter(pk=form.cleaned_data["message"], role=Message.Role.ASSISTANT)
        .exclude(status=Message.Status.STREAMING)
        .first()
    )
    if reply is None:
        raise NotFound(gettext("No such reply."))
    rating = form.cleaned_data["rating"]
    if not rating:
        Feedback.objects.filter(message=reply).delete()
        return JsonResponse({"rating": "", "comment": ""})
    fields = {
        "user": request.user,
        "rating": rating,
        "comment": form.cleaned_data["comment"],
        "model": reply.model,
    }
    try:
        saved, _ = Feedback.objects.update_or_create(message=reply, defaults=fields)
    except IntegrityError:
        # Two first ratings at once (two tabs): the second updates the first's row.
        saved, _ = Feedback.objects.update_or_create(message=reply, defaults=fields)
    return JsonResponse({"rating": saved.rating, "comment": saved.comment})


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value or "")
    except ValueError:
        return None


@require_safe
@login_required
def export(request: HttpRequest, id: uuid.UUID, fmt: str) -> HttpResponse:
    """The visible thread as Markdown or JSON (the branch on screen, nothing else)."""
    conversation = conversation_for(request, id)
    if fmt not in ("md", "json"):
        raise Http404("Exports are .md or .json.")
    thread = conversation.thread()
    name = slugify(conversation.title) or "conversation"
    if fmt == "json":
        body = {
            "id": str(conversation.id),
            "title": conversation.title,
            "created": conversation.created.isoformat(),
            "messages": [_exported(m, request) for m in thread],
        }
        response = JsonResponse(body, json_dumps_params={"ensure_ascii": False, "indent": 2})
    else:
        parts = [f"# {conversation}\n"]
        names = dict(ChatModel.objects.values_list("slug", "display_name"))
        for message in thread:
            model = names.get(message.model, message.model) or "Assistant"
            who = "You" if message.role == Message.Role.USER else model
            parts.append(f"## {who}\n\n{message.content}\n")
            # Links, images too: their address answers only the signed-in owner, so a
            # Markdown viewer could not show them inline (the full archive has the files).
            for f in message.files:
                parts.append(f"[{_md_label(f.name)}]({request.build_absolute_uri(f.url)})\n")
        response = HttpResponse("\n".join(parts), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def _exported(message: Message, request: HttpRequest) -> dict[str, Any]:
    exported = message.as_dict()
    for listed, f in zip(exported["attachments"], message.files, strict=True):
        listed["url"] = request.build_absolute_uri(f.url)
        del listed["preview_url"]  # the page's, not the file's
    return exported


def _md_label(name: str) -> str:
    """A file name as a Markdown link's text: brackets and backslashes escaped."""
    return "".join("\\" + c if c in "[]\\" else c for c in name)


@require_safe
@login_required
def search(request: HttpRequest) -> HttpResponse:
    """The person's own conversations whose title or messages contain the words asked for;
    without words, their archived conversations or one folder's."""
    asked = query.parse(SearchQuery, request)
    words = asked["q"][:200]
    mine = Conversation.objects.owned_by(request.user).filter(temporary=False)
    results, page, listing, params = [], None, "", {"q": words}
    if words:
        found, page = find_conversations(request.user, words, asked["page"] or 1)
        for conversation in found:
            content = conversation.found or ""
            # The words as a reader sees them (rendered, then as plain text, no `**`): only
            # the part around the match is rendered, however long the message.
            near = snippets.around(content, words, 300, 300) if content else ""
            snippet = snippets.shown(plain_text(near), words)
            if snippets.said_by(str(conversation), snippet, words):
                snippet = ""  # a title made of the first message: said once is enough
            # Opened at the message found (the chat page scrolls to it, if on its branch).
            url = conversation.get_absolute_url()
            if conversation.found_message is not None:
                url += f"#m-{uuid.UUID(str(conversation.found_message))}"
            results.append(
                {
                    "conversation": conversation,
                    "url": url,
                    "snippet": snippet,
                    "marked": snippets.marked(snippet, words),
                    "title_marked": snippets.marked(str(conversation), words),
                }
            )
    elif asked["archived"] or asked["folder"]:
        if asked["archived"]:
            listing, params = gettext("Archived conversations"), {"archived": "1"}
            rows = mine.filter(archived=True)
        else:
            folder = get_object_or_404(Folder, pk=asked["folder"], owner=request.user)
            listing = gettext("Folder: %(name)s") % {"name": folder.name}
            params = {"folder": folder.pk}
            rows = mine.filter(folder=folder, archived=False)
        page = Paginator(rows, PER_PAGE).get_page(asked["page"] or 1)
        results = [{"conversation": c, "url": c.get_absolute_url(), "snippet": ""} for c in page]
    if wants_json(request):
        found = [
            {
                "id": str(r["conversation"].id),
                "title": str(r["conversation"]),
                "url": r["url"],
                "snippet": r["snippet"],
                "archived": r["conversation"].archived,
                "updated": r["conversation"].updated.isoformat(),
            }
            for r in results
        ]
        return JsonResponse({"results": found, "more": bool(page and page.has_next())})
    context = {
        "query": words,
        "listing": listing,
        "archived_listing": asked["archived"] and not words,
        "results": results,
        "page": page,
        "page_base": "?" + urlencode(params) + "&page=",
    }
    return render(request, "conversations/search.html", context)


@require_POST
@login_required
def rename(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    conversation = conversation_for(request, id)
    form = RenameForm(request.POST)
    if not form.is_valid():
        error = {
            "code": "invalid_request",
            "message": gettext("A title needs 1 to 200 characters."),
        }
        return JsonResponse({"error": error}, status=400)
    conversation.title = form.cleaned_data["title"]
    # A new name is no new activity: the conversation keeps its place in the list.
    conversation.save(update_fields=["title"])
    if wants_json(request):
        return JsonResponse({"id": str(conversation.id), "title": conversation.title})
    return redirect(conversation.get_absolute_url())


async def delete_conversation(conversation: Conversation) -> None:
    """Delete it; a reply still streaming there is stopped (it then finds no row to save
    into)."""
    streaming = conversation.messages.streaming().exclude(channel="")
    await frames.stop({c async for c in streaming.values_list("channel", flat=True)})
    await conversation.adelete()


@require_POST
@login_required
async def leave(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    """A temporary chat's page (`visit`) was left: it is deleted, unless another page of
    it was opened since or within TEMPORARY_CHAT_GRACE_SECONDS (a reload, whichever of
    its two requests comes first). Sent by the page as it goes."""
    user = await request.auser()
    mine = Conversation.objects.owned_by(user).filter(pk=id, temporary=True)
    if not await mine.aexists():
        raise Http404("No such temporary chat.")
    await asyncio.sleep(settings.TEMPORARY_CHAT_GRACE_SECONDS)
    visit = request.POST.get("visit", "")
    streaming = await sync_to_async(_delete_left)(user, id, visit) if visit else None
    if streaming:
        await frames.stop(streaming)  # they then find no row to save into
    return JsonResponse({"deleted": streaming is not None})


def _delete_left(user: User, id: uuid.UUID, visit: str) -> set[str] | None:
    """The temporary chat deleted if `visit` is still its latest page, read and deleted
    under its row's lock: a page opened since, or the chat kept by another tab and its
    first message sent (both lock the row too), is seen. The channels of its replies still
    streaming, or None when it stays."""
    with transaction.atomic():
        left = (
            Conversation.objects.owned_by(user)
            .select_for_update()
            .filter(pk=id, temporary=True, visit=visit)
            .first()
        )
        if left is None:
            return None
        streaming = left.messages.streaming().exclude(channel="")
        channels = set(streaming.values_list("channel", flat=True))
        left.delete()
    return channels


def answer_with_sidebar(request: HttpRequest, fields: dict[str, Any]) -> HttpResponse:
    """A change to the list (organised, a folder's, a deletion) answered: to the page, the
    list as it is now; to a form, the page it came from."""
    if not wants_json(request):
        back = request.POST.get("next", "")
        safe = url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        return redirect(back if safe and back else "home")
    current = request.POST.get("current", "")
    context = {"sidebar": sidebar(request.user), "conversation": _current(request, current)}
    html = render_to_string("conversations/_sidebar_list.html", context, request=request)
    return JsonResponse({**fields, "sidebar": html})


def _current(request: HttpRequest, id: str) -> Conversation | None:
    """The conversation on screen, for its line to stay marked."""
    try:
        return Conversation.objects.owned_by(request.user).filter(pk=uuid.UUID(id)).first()
    except ValueError:
        return None


@require_POST
@login_required
def delete(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    conversation = conversation_for(request, id)
    async_to_sync(delete_conversation)(conversation)
    if request.POST.get("current") == str(id):
        # The page it was on goes to a new chat, which says what became of it.
        title = conversation.title or gettext("New chat")
        messages.success(request, gettext("“%(title)s” was deleted.") % {"title": title})
    return answer_with_sidebar(request, {"deleted": str(id)})
