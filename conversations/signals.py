"""A person removed (deactivated, plan taken away or deleted, account deleted), or whose
password changed or was reset, keeps nothing running. (A login session that ends closes
what it runs through the session store: webchat/sessions.py.)

Sockets close at once through their per-person or per-session group, on every process;
replies in progress stop through the generations' channels (a reply follows the session
that asked for it). A session that merely expires is noticed by its sockets themselves.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from conversations import frames
from conversations.models import Attachment, Message, Share
from webchat.models import Plan, UsageRecord, User


def _streaming_channels(user_id: Any) -> set[str]:
    """The person's replies being written, and their calls of the API in flight."""
    rows = Message.objects.streaming().filter(conversation__owner_id=user_id).exclude(channel="")
    return set(rows.values_list("channel", flat=True)) | UsageRecord.objects.api_channels(
        user_id=user_id
    )


def revoke(user_id: Any, code: int) -> None:
    """Close every socket of the person with `code` and stop every reply of theirs, once
    the change is committed: a page that reconnects at once then finds it made (before,
    it could reconnect in the moment between, as the person it no longer is). What runs
    is read now, while the person's rows are still there to read."""
    channels = _streaming_channels(user_id)

    def now() -> None:
        async_to_sync(frames.stop)(channels)
        async_to_sync(get_channel_layer().group_send)(
            frames.user_group(user_id), {"type": frames.REVOKED, "code": code}
        )

    transaction.on_commit(now, robust=True)


@receiver(pre_save, sender=User)
def _remember_access(sender: type[User], instance: User, **kwargs: Any) -> None:
    instance._access_before = None
    fields = kwargs.get("update_fields")
    if instance.pk is None or (
        fields is not None and not {"is_active", "plan", "password"} & set(fields)
    ):
        return  # last_login on every login, an email change: nothing to compare
    before = User.objects.filter(pk=instance.pk).values("is_active", "plan_id", "password")
    instance._access_before = before.first()


@receiver(post_save, sender=User)
def _revoke_on_change(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_access_before", None)
    if created or before is None:
        return
    if before["is_active"] and not instance.is_active:
        revoke(instance.pk, frames.CLOSE_NOT_LOGGED_IN)
    elif before["plan_id"] is not None and instance.plan_id is None:
        revoke(instance.pk, frames.CLOSE_NO_PLAN)
    elif before["password"] != instance.password:
        # Every session but the one that made the change (if any) has ended. Each socket
        # closes; a page whose session survived reconnects at once (chat.js).
        revoke(instance.pk, frames.CLOSE_NOT_LOGGED_IN)


@receiver(pre_delete, sender=User)
def _revoke_on_delete(sender: type[User], instance: User, **kwargs: Any) -> None:
    revoke(instance.pk, frames.CLOSE_NOT_LOGGED_IN)


@receiver(pre_delete, sender=Plan)
def _revoke_on_plan_delete(sender: type[Plan], instance: Plan, **kwargs: Any) -> None:
    # Deleting a plan empties its people's plan by an UPDATE, which sends no save signal.
    for user_id in instance.users.values_list("pk", flat=True):
        revoke(user_id, frames.CLOSE_NO_PLAN)


@receiver(post_delete, sender=Attachment)
def _delete_file(sender: type[Attachment], instance: Attachment, **kwargs: Any) -> None:
    """A deleted attachment (its conversation, or its person, deleted) takes its file and
    its preview with it, once the deletion is committed and no other attachment shares
    them."""
    name, preview, storage = instance.file.name, instance.preview.name, instance.file.storage

    def delete() -> None:
        if name and not Attachment.objects.filter(file=name).exists():
            storage.delete(name)
        if preview and not Attachment.objects.filter(preview=preview).exists():
            storage.delete(preview)

    # A store that fails to delete one file (S3 unreachable) is logged and leaves the rest
    # of the deletion, and the other files, to go on.
    transaction.on_commit(delete, robust=True)


@receiver(post_delete, sender=Share)
def _cut_off_readers(sender: type[Share], instance: Share, **kwargs: Any) -> None:
    """A link deleted with its conversation or its person cuts off whoever follows it live,
    as revoking it does."""
    group = frames.share_group(instance.token)
    transaction.on_commit(
        lambda: async_to_sync(get_channel_layer().group_send)(group, {"type": "share.revoked"}),
        robust=True,
    )
