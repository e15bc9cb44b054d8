import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from conversations.models import Conversation, Message
from conversations.render import render_markdown
from webchat.models import ChatModel
from webchat.quotas import MIN_REPLY_TOKENS, remaining

SIDEBAR_SIZE = 50


def _conversation_for(request: HttpRequest, id: uuid.UUID) -> Conversation:
    """The person's own conversation, or 404 — the same whether it is someone else's or none."""
    return get_object_or_404(Conversation.objects.owned_by(request.user), pk=id)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _chat_context(request: HttpRequest, conversation: Conversation | None) -> dict[str, Any]:
    models = list(ChatModel.objects.enabled())
    thread: list[Message] = []
    if conversation is not None:
        Message.objects.expire_stale(conversation=conversation)
        thread = conversation.thread()
        for message in thread:
            if (
                message.role == Message.Role.ASSISTANT
                and message.status != Message.Status.STREAMING
            ):
                message.html = render_markdown(message.content)
    last_model = next((m.model for m in reversed(thread) if m.model), None)
    left = remaining(request.user)
    return {
        "left": left,
        "can_send": left is not None and left["left"] >= MIN_REPLY_TOKENS,
        "min_reply_tokens": MIN_REPLY_TOKENS,
        "conversation": conversation,
        "thread": thread,
        "models": models,
        "selected_model": last_model or (models[0].slug if models else ""),
        "sidebar": Conversation.objects.owned_by(request.user).only("id", "title", "updated")[
            :SIDEBAR_SIZE
        ],
    }


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "conversations/chat.html", _chat_context(request, None))


@require_GET
@login_required
def detail(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    conversation = _conversation_for(request, id)
    return render(request, "conversations/chat.html", _chat_context(request, conversation))


@require_POST
@login_required
def create(request: HttpRequest) -> HttpResponse:
    conversation = Conversation.objects.create(owner=request.user)
    url = conversation.get_absolute_url()
    if _wants_json(request):
        return JsonResponse({"id": str(conversation.id), "url": url}, status=201)
    return redirect(url)


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200, strip=True)


@require_POST
@login_required
def rename(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    conversation = _conversation_for(request, id)
    form = RenameForm(request.POST)
    if not form.is_valid():
        error = {"code": "invalid_request", "message": "A title needs 1 to 200 characters."}
        return JsonResponse({"error": error}, status=400)
    conversation.title = form.cleaned_data["title"]
    conversation.save(update_fields=["title", "updated"])
    if _wants_json(request):
        return JsonResponse({"id": str(conversation.id), "title": conversation.title})
    return redirect(conversation.get_absolute_url())


@require_POST
@login_required
def delete(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    conversation = _conversation_for(request, id)
    # A reply still streaming here is stopped; it then finds no row to save into.
    layer = get_channel_layer()
    for channel in set(conversation.messages.streaming().values_list("channel", flat=True)):
        if channel:
            async_to_sync(layer.send)(channel, {"type": "generation.stop"})
    conversation.delete()
    if _wants_json(request):
        return JsonResponse({"deleted": str(id)})
    return redirect("home")
