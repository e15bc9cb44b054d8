from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path, re_path

from conversations.consumers import ChatConsumer
from conversations.frames import CHAT_SOCKET, SHARE_SOCKET
from conversations.share_consumer import ShareConsumer


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any other path (a page's script that lost its conversation's id, a scanner): the
    handshake refused (403), where Channels' router would raise and daphne answer 500."""

    async def connect(self) -> None:
        await self.close()


websocket_urlpatterns = [
    path(CHAT_SOCKET, ChatConsumer.as_asgi()),
    path(SHARE_SOCKET, ShareConsumer.as_asgi()),
    re_path(r"", NoSuchSocket.as_asgi()),
]
