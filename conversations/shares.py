"""Share links: create or update, read without an account, revoke, continue as a copy."""

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from conversations import frames, search, storage
from conversations.models import Message, Share, with_files
from conversations.render import with_html
from conversations.views import conversation_for, wants_json
from webchat import query
from webchat.models import ChatModel, User

SHARES_PER_PAGE = 50
# The most messages a shared conversation's page shows: its last ones.
SHOWN = 1000


def _share_for_owner(request: HttpRequest, token: str) -> Share:
    return get_object_or_404(Share.objects.active(), token=token, conversation__owner=request.user)


@require_POST
@login_required
def create(request: HttpRequest, id: uuid.UUID) -> JsonResponse:
    """Share the conversation as it is now; sharing again moves the same link forward."""
    conversation = conversation_for(request, id)
    if conversation.current_leaf_id is None:
        error = {"code": "invalid_request", "message": gettext("There is nothing to share yet.")}
        return JsonResponse({"error": error}, status=400)
    include_system = request.POST.get("include_system") in ("1", "true", "on")
    with transaction.atomic():
        share = conversation.shares.active().select_for_update().first()
        updated = share is not None
        if share is None:
            share = Share(conversation=conversation)
        share.leaf_id = conversation.current_leaf_id
        share.include_system = include_system
        share.save()
    url = request.build_absolute_uri(share.get_absolute_url())
    return JsonResponse(
        {"url": url, "token": share.token, "updated": updated}, status=200 if updated else 201
    )


@require_safe
def detail(request: HttpRequest, token: str) -> HttpResponse:
    share = (
        Share.objects.active().select_related("conversation", "leaf").filter(token=token).first()
    )
    if share is None:
        raise Http404("No such share.")
    Message.objects.expire_stale(conversation=share.conversation)
    # A long thread's last messages: all of 60,000 took seconds of the server's time for
    # each reader, anyone at all, 120 times a minute. The copy a fork makes holds them all.
    thread = share.messages(most=SHOWN)
    cut = len(thread) > SHOWN
    thread = with_files(thread[1:] if cut else thread)
    names = dict(ChatModel.objects.values_list("slug", "display_name"))
    for message in thread:
        message.model_name = names.get(message.model, message.model)
        for attachment in message.files:
            attachment.shown_url = attachment.share_url(share.token)
            attachment.shown_preview_url = attachment.share_preview_url(share.token)
    with_html(
        [
            m
            for m in thread
            if m.role == Message.Role.ASSISTANT and m.status != Message.Status.STREAMING
        ]
    )
    system = next((m.params.get("system") for m in thread if m.params.get("system")), None)
    if request.user.pk != share.conversation.owner_id:
        share.count_view()  # the readers' visits: not the owner looking at their own link
    context = {
        "share": share,
        "thread": thread,
        "system": system if share.include_system else None,
        "models": sorted({m.model_name for m in thread if m.model}),
        "live": thread and thread[-1].status == Message.Status.STREAMING,
        "cut": cut,
        "shown": number_format(SHOWN, force_grouping=True),
        "socket": "/" + frames.SHARE_SOCKET.replace("<str:token>", share.token),
        "close_not_found": frames.CLOSE_NOT_FOUND,
    }
    response = render(request, "conversations/share.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_POST
@login_required
def revoke(request: HttpRequest, token: str) -> HttpResponse:
    share = _share_for_owner(request, token)
    # The page of the list to come back to (a bad one: the first), read before any change.
    asked = PageQuery(request.GET)
    page = asked.cleaned_data["page"] if asked.is_valid() else None
    share.revoked = timezone.now()
    share.save(update_fields=["revoked"])  # "shared on" stays the day it was shared
    # Anyone following the link live is cut off at once.
    async_to_sync(get_channel_layer().group_send)(
        frames.share_group(token), {"type": "share.revoked"}
    )
    if wants_json(request):
        return JsonResponse({"revoked": token})
    return redirect(f"{reverse('shares')}?page={page}" if page and page > 1 else reverse("shares"))


@require_POST
@login_required
def fork(request: HttpRequest, token: str) -> HttpResponse:
    """ "Continue this conversation": a private copy of the snapshot becomes the viewer's."""
    share = get_object_or_404(Share.objects.active(), token=token)
    # Read before the transaction: on SQLite it holds the one writer, every person's sends.
    thread = with_files(share.messages(), defer_text=False)
    size = sum(storage.size(m) + sum(f.bytes_kept for f in m.files) for m in thread)
    with transaction.atomic():
        # One fork of a person's at a time: two at once would both pass the same count.
        User.objects.select_for_update().filter(pk=request.user.pk).first()
        storage.check(request.user, size, fresh=True)
        copy = share.fork(request.user, thread)
    storage.stored(request.user)
    search.catch_up()  # the copy's messages, indexed by the one who made them
    return redirect(copy.get_absolute_url())


@require_safe
@login_required
def listing(request: HttpRequest) -> HttpResponse:
    """The person's links, newest first, SHARES_PER_PAGE at a time."""
    number = query.parse(PageQuery, request)["page"] or 1
    shares = (
        Share.objects.filter(conversation__owner=request.user)
        .select_related("conversation")
        .order_by("-updated", "-pk")
    )
    page = Paginator(shares, SHARES_PER_PAGE).get_page(number)
    return render(request, "conversations/shares.html", {"shares": page, "page": page})


class PageQuery(query.QueryForm):
    page = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)
