"""A person removed (deactivated, plan taken away, deleted) keeps nothing running.

Their sockets are closed at once through their per-user group, on every process, and
their replies in progress are stopped through the generations' channels.
"""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from conversations import frames
from conversations.models import Message
from webchat.models import User


def revoke(user_id: Any, code: int) -> None:
    channels = (
        Message.objects.streaming()
        .filter(conversation__owner_id=user_id)
        .exclude(channel="")
        .values_list("channel", flat=True)
    )
    async_to_sync(frames.stop)(set(channels))
    async_to_sync(get_channel_layer().group_send)(
        frames.user_group(user_id), {"type": "user.revoked", "code": code}
    )


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
        revoke(instance.pk, frames.CLOSE_NOT_LOGGED_IN)
    elif before["plan_id"] is not None and instance.plan_id is None:
        revoke(instance.pk, frames.CLOSE_NO_PLAN)


@receiver(pre_delete, sender=User)
def _revoke_on_delete(sender: type[User], instance: User, **kwargs: Any) -> None:
    revoke(instance.pk, frames.CLOSE_NOT_LOGGED_IN)
