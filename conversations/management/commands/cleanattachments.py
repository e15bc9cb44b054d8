"""Delete uploads that were never sent with a message, once they are old enough, the
conversations that were made for them and hold no message, and temporary chats left
behind (their page deletes them when it is left; a closed laptop may not have).

Run it from cron (README "Attachments"): `manage.py cleanattachments` every hour.
"""

from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from conversations.models import Attachment, Conversation
from conversations.views import delete_conversation


class Command(BaseCommand):
    help = (
        "Delete attachments uploaded but never sent, older than ATTACHMENT_UNSENT_HOURS, "
        "conversations of that age with no message, and temporary chats idle that long."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=None,
            help="Age past which an unsent upload goes (default: ATTACHMENT_UNSENT_HOURS).",
        )

    def handle(self, *args: Any, hours: float | None, **options: Any) -> None:
        age = timedelta(hours=settings.ATTACHMENT_UNSENT_HOURS if hours is None else hours)
        before = timezone.now() - age
        # A conversation starts when a file is attached to a new chat: left without a
        # message, it goes too (with its uploads).
        empty = Conversation.objects.filter(created__lt=before, messages__isnull=True)
        conversations = 0
        for candidate in empty.values_list("pk", flat=True):
            with transaction.atomic():
                # Locked, then asked again: a message sent or a file attached since the
                # first look keeps it (a send locks the conversation too).
                conversation = Conversation.objects.select_for_update().filter(pk=candidate).first()
                if conversation is None or conversation.messages.exists():
                    continue
                if conversation.attachments.filter(created__gte=before).exists():
                    continue
                conversation.delete()
                conversations += 1
        # Each takes its file with it (conversations/signals.py); none sent meanwhile.
        count = Attachment.objects.filter(created__lt=before).delete_unsent()
        # The ledger keeps their rows: they name the conversation by id, not by key.
        left = Conversation.objects.filter(temporary=True, updated__lt=before)
        temporary = 0
        for conversation in left:
            async_to_sync(delete_conversation)(conversation)  # a reply there is stopped
            temporary += 1
        self.stdout.write(
            f"Deleted {count} upload{'' if count == 1 else 's'} never sent, "
            f"{conversations} empty conversation{'' if conversations == 1 else 's'} and "
            f"{temporary} temporary chat{'' if temporary == 1 else 's'}."
        )
