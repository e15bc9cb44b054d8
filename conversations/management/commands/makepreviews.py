"""Make the previews of images stored before previews were made at upload: a message
shows a large image by its preview (conversations/files.py, PREVIEW_SIDE), or whole while
it has none.

Run it once after upgrading: `manage.py makepreviews`. Each stored image is read as an
upload is, in a process of its own, one at a time; what is done stays done if it is
stopped, and running it again goes on from there. A preview counts in its owner's storage
(a few percent of the image) even past their plan's: nothing of theirs is refused for it.
"""

from typing import Any

from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q

from conversations import files, storage
from conversations.models import Attachment
from webchat.errors import InvalidRequest
from webchat.models import User


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
                if first.size > limits.max_bytes:
                    raise InvalidRequest(f"{first.size} bytes, over ATTACHMENT_MAX_MB")
                with first.file.open("rb") as stored:
                    data = stored.read()
                processed = async_to_sync(files.process_apart)(first.name, data, limits)
            except (OSError, InvalidRequest) as error:
                unreadable += 1
                self.stderr.write(f"{name}: {error}")
                continue
            if processed.preview and self._keep(first, processed.preview):
                made += 1
        self.stdout.write(f"Previews made: {made}. Images that could not be read: {unreadable}.")

    @staticmethod
    def _keep(first: Attachment, preview: bytes) -> bool:
        """The preview stored and named by every attachment of `first`'s file still without
        one; else (all deleted meanwhile, or stopped) not stored at all."""
        first.preview.save("preview.webp", ContentFile(preview), save=False)
        kept = 0
        try:
            with transaction.atomic():
                # Locked: no other change to them meanwhile.
                rows = Attachment.objects.select_for_update().filter(file=first.file.name)
                owners = set(rows.filter(preview="").values_list("owner_id", flat=True))
                kept = rows.filter(preview="").update(
                    preview=first.preview.name, preview_size=len(preview)
                )
        finally:
            # Not kept, or its rows deleted since by a deletion that had read them before
            # (whose own clean-up saw no preview).
            if not kept or not Attachment.objects.filter(preview=first.preview.name).exists():
                first.preview.storage.delete(first.preview.name)
                kept = 0
        for owner in owners:  # their storage counted afresh, previews included
            storage.stored(User(pk=owner))
        return kept > 0
