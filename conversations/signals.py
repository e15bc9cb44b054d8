"""A person removed (deactivated, plan taken away, deleted) keeps nothing running.

Their sockets are closed at once through their per-user group, on every process, and
their replies in progress are stopped through the generations' channels.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from conversations.models import Message
from webchat.models import User

# Close codes: 4401 as for anyone not logged in; 1008 (policy) when only the plan went.
CLOSE_DEACTIVATED = 4401
CLOSE_NO_PLAN = 1008


def user_group(user_id: Any) -> str:
    return f"user.{user_id}"


def share_group(token: str) -> str:
    # Share tokens are URL-safe base64: letters, digits, "-" and "_" are valid in group names.
    return f"share.{token}"


def revoke(user_id: Any, code: int) -> None:
    layer = get_channel_layer()
    send = async_to_sync(layer.send)
    channels = (
        Message.objects.streaming()
        .filter(conversation__owner_id=user_id)
        .exclude(channel="")
        .values_list("channel", flat=True)
    )
    for channel in set(channels):
        send(channel, {"type": "generation.stop"})
    async_to_sync(layer.group_send)(user_group(user_id), {"type": "user.revoked", "code": code})


@receiver(pre_save, sender=User)
def _remember_access(sender: type[User], instance: User, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    before = User.objects.filter(pk=instance.pk).values("is_active", "plan_id").first()
    instance._access_before = before


@receiver(post_save, sender=User)
def _revoke_on_change(sender: type[User], instance: User, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_access_before", None)
    if created or before is None:
        return
    if before["is_active"] and not instance.is_active:
        revoke(instance.pk, CLOSE_DEACTIVATED)
    elif before["plan_id"] is not None and instance.plan_id is None:
        revoke(instance.pk, CLOSE_NO_PLAN)


@receiver(pre_delete, sender=User)
def _revoke_on_delete(sender: type[User], instance: User, **kwargs: Any) -> None:
    revoke(instance.pk, CLOSE_DEACTIVATED)
