"""Make the previews of images stored before previews were made at upload: a message
shows a large image by its preview (conversations/files.py, PREVIEW_SIDE), or whole while
it has none.

Run it once after upgrading: `manage.py makepreviews`. Each stored image is read as an
upload is, in a process of its own, one at a time; what is done stays done if it is
stopped, and running it again goes on from there.
"""

from typing import Any

from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db.models import Q

from conversations import files
from conversations.models import Attachment
from webchat.errors import InvalidRequest


class Command(BaseCommand):
    help = "Make the previews of large images stored without one."

    def handle(self, *args: Any, **options: Any) -> None:
        side = files.PREVIEW_SIDE
        waiting = Attachment.objects.filter(kind=Attachment.Kind.IMAGE, preview="").filter(
            Q(width__gt=side) | Q(height__gt=side)
        )
        limits = files.Limits.from_settings()
        made = unreadable = 0
        # A file shared by several attachments (a message edited keeps its files) gets one.
        for name in waiting.order_by().values_list("file", flat=True).distinct().iterator():
            first = waiting.filter(file=name).first()
            if first is None:  # deleted meanwhile
                continue
            try:
                with first.file.open("rb") as stored:
                    data = stored.read()
                processed = async_to_sync(files.process_apart)(first.name, data, limits)
            except (OSError, InvalidRequest) as error:
                unreadable += 1
                self.stderr.write(f"{name}: {error}")
                continue
            if not processed.preview:  # small enough as it is
                continue
            first.preview.save("preview.webp", ContentFile(processed.preview), save=False)
            kept = waiting.filter(file=name).update(
                preview=first.preview.name, preview_size=len(processed.preview)
            )
            if kept:
                made += 1
            else:  # every attachment of the file deleted meanwhile
                first.preview.storage.delete(first.preview.name)
        self.stdout.write(f"Previews made: {made}. Images that could not be read: {unreadable}.")
