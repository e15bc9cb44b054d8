"""Delete uploads that were never sent with a message, once they are old enough.

Run it from cron (README "Attachments"): `manage.py cleanattachments` every hour.
"""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from conversations.models import Attachment


class Command(BaseCommand):
    help = "Delete attachments uploaded but never sent, older than ATTACHMENT_UNSENT_HOURS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=None,
            help="Age past which an unsent upload goes (default: ATTACHMENT_UNSENT_HOURS).",
        )

    def handle(self, *args: Any, hours: float | None, **options: Any) -> None:
        age = timedelta(hours=settings.ATTACHMENT_UNSENT_HOURS if hours is None else hours)
        stale = Attachment.objects.unsent().filter(created__lt=timezone.now() - age)
        # One at a time: each takes its file with it (conversations/signals.py).
        count = 0
        for attachment in stale.iterator():
            attachment.delete()
            count += 1
        self.stdout.write(f"Deleted {count} upload{'' if count == 1 else 's'} never sent.")
