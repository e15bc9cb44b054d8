"""A person's conversations in order: pinned to the top of the sidebar, archived out of it
(still searched), put in folders; the folders renamed and deleted.

Each change answers the sidebar's list again, for the page to put in place of its own
(JSON), or goes back to the page it came from (a plain form: the archived notice).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from conversations.models import MAX_FOLDERS, Conversation, Folder, Message
from conversations.views import answer_with_sidebar, conversation_for
from webchat.errors import InvalidRequest


class OrganiseForm(forms.Form):
    pinned = forms.NullBooleanField(required=False)
    archived = forms.NullBooleanField(required=False)
    # Chosen before the first message only (a chat made for a file, not sent yet).
    temporary = forms.NullBooleanField(required=False)
    # A folder's name: an existing one, or a new one made for it; empty takes it out.
    folder = forms.CharField(max_length=80, required=False)


class FolderForm(forms.Form):
    name = forms.CharField(max_length=80)

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(gettext("A folder needs a name."))
        return name


def _folder_named(user: Any, name: str) -> Folder:
    """The person's folder of that name, made if they have none."""
    name = " ".join(name.split())
    found = Folder.objects.filter(owner=user, name=name).first()
    if found is not None:
        return found
    if Folder.objects.filter(owner=user).count() >= MAX_FOLDERS:
        raise InvalidRequest(
            gettext("You can keep at most %(count)s folders.") % {"count": MAX_FOLDERS}
        )
    try:
        with transaction.atomic():
            return Folder.objects.create(owner=user, name=name)
    except IntegrityError:  # made by another tab at the same moment
        return Folder.objects.get(owner=user, name=name)


@require_POST
@login_required
def organise(request: HttpRequest, id: uuid.UUID) -> HttpResponse:
    """Pin or unpin, archive or bring back, move into a folder or out: whichever of
    `pinned`, `archived` and `folder` the request names; or `temporary`, alone."""
    conversation = conversation_for(request, id)
    form = OrganiseForm(request.POST)
    if not form.is_valid():
        raise InvalidRequest(gettext("A folder's name has at most 80 characters."))
    if "temporary" in request.POST and form.cleaned_data["temporary"] is not None:
        return _temporary(request, conversation, form.cleaned_data["temporary"])
    changed = []
    for name in ("pinned", "archived"):
        if name in request.POST and form.cleaned_data[name] is not None:
            setattr(conversation, name, form.cleaned_data[name])
            changed.append(name)
    if "folder" in request.POST:
        name = form.cleaned_data["folder"].strip()
        conversation.folder = _folder_named(request.user, name) if name else None
        changed.append("folder")
        if conversation.folder is not None and "pinned" not in changed:
            # Put in a folder, it is found there (not kept among the pinned).
            conversation.pinned = False
            changed.append("pinned")
    # Ordering a conversation is not an update: its place among the days stays.
    conversation.save(update_fields=changed)
    return answer_with_sidebar(
        request,
        {
            "id": str(conversation.id),
            "pinned": conversation.pinned,
            "archived": conversation.archived,
            "folder": conversation.folder.name if conversation.folder else "",
        },
    )


def _temporary(request: HttpRequest, conversation: Conversation, temporary: bool) -> HttpResponse:
    """A chat made for a file, its first message on its way from this page: made temporary
    (deleted when its page is left, as one made so), or kept after all. One with a message
    keeps what it was made as (leaving a page must not delete a conversation kept), as does
    one imported."""
    with transaction.atomic():
        # Locked as a send locks it, then read: a message stored meanwhile is seen.
        blank = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation.pk, imported_from="")
            .first()
        )
        if blank is None or Message.objects.filter(conversation=blank).exists():
            raise InvalidRequest(
                gettext("Only a chat with no message yet can be made temporary, or kept.")
            )
        blank.temporary = temporary
        blank.visit = secrets.token_hex(8) if temporary else ""
        # Not listed yet: nothing of the list's to keep. Saved, its `updated` is now: the
        # cleanup of idle temporary chats counts from here.
        blank.pinned = blank.archived = False
        blank.folder = None
        blank.save(update_fields=["temporary", "visit", "pinned", "archived", "folder", "updated"])
    return answer_with_sidebar(
        request, {"id": str(blank.id), "temporary": temporary, "visit": blank.visit}
    )


@require_POST
@login_required
def rename_folder(request: HttpRequest, id: int) -> HttpResponse:
    folder = get_object_or_404(Folder, pk=id, owner=request.user)
    form = FolderForm(request.POST)
    if not form.is_valid():
        raise InvalidRequest(gettext("A folder's name has 1 to 80 characters."))
    name = form.cleaned_data["name"]
    if Folder.objects.filter(owner=request.user, name=name).exclude(pk=folder.pk).exists():
        raise InvalidRequest(gettext("You already have a folder with this name."))
    folder.name = name
    folder.save(update_fields=["name"])
    return answer_with_sidebar(request, {"id": folder.id, "name": folder.name})


@require_POST
@login_required
def delete_folder(request: HttpRequest, id: int) -> HttpResponse:
    """The folder goes; its conversations stay, back among the days."""
    folder = get_object_or_404(Folder, pk=id, owner=request.user)
    folder.delete()
    return answer_with_sidebar(request, {"deleted": id})
