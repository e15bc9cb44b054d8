"""The read-only socket of a share link: follow its last reply, nothing else."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.translation import gettext

from conversations import frames
from conversations.consumers import ChatConsumer
from conversations.models import Share
from webchat.errors import InvalidRequest, NotFound
from webchat.net import client_address

# How every `done` frame starts, as frames.encode writes it.
DONE = frames.encode({"type": "done"})[:-1]


class ShareConsumer(ChatConsumer):
    """Read-only: anyone with a live share link follows its last reply until it ends.

    `/ws/shares/<token>/` accepts only `resume` for the shared leaf, forwards only that
    message's frames, and is closed with 4404 when the link is revoked.
    """

    commands = {"resume": "on_resume"}

    async def connect(self) -> None:
        share = await self._share(self.scope["url_route"]["kwargs"]["token"])
        if share is None:
            await self.refuse(frames.CLOSE_NOT_FOUND)
            return
        if not self.take_room({f"share.{share.token}": settings.CHAT_MAX_SOCKETS_PER_SHARE}):
            await self.refuse(frames.CLOSE_TOO_MANY)
            return
        self.leaf = str(share.leaf_id)
        self.allowance_key = f"share.{share.token}.{self._address()}"
        await self.join(share.conversation, frames.share_group(share.token))

    def _address(self) -> str:
        """The reader's address, as a page's request has it (webchat.net: behind a trusted
        proxy, from X-Forwarded-For), not the proxy's."""
        headers = dict(self.scope.get("headers") or ())
        meta = {
            "REMOTE_ADDR": (self.scope.get("client") or ("",))[0],
            "HTTP_X_FORWARDED_FOR": headers.get(b"x-forwarded-for", b"").decode("latin-1"),
        }
        return client_address(meta)

    async def on_resume(self, frame: dict[str, Any], client_id: str | None) -> None:
        if frame.get("message") != self.leaf:
            raise NotFound(gettext("That message is not part of this share."))
        if self.leaf in self.follower.buffer.finished:
            # This socket has given the whole reply and its end: nothing is new.
            raise InvalidRequest(gettext("This reply has ended, and was given whole already."))
        await super().on_resume(frame, client_id)

    async def chat_frame(self, event: dict[str, Any]) -> None:
        if event.get("message") == self.leaf:
            await super().chat_frame(event)

    async def send_text(self, text: str) -> None:
        # A reply's end says nothing of its owner's plan to a reader of the link: not that
        # their allowance cut it, nor what it counted (a hidden system prompt's length).
        if text.startswith(DONE):
            frame = json.loads(text)
            frame.pop("limited_by", None)
            frame["usage"] = None
            text = frames.encode(frame)
        await super().send_text(text)

    async def share_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=frames.CLOSE_NOT_FOUND)

    @database_sync_to_async
    def _share(self, token: str) -> Share | None:
        return Share.objects.active().select_related("conversation").filter(token=token).first()
