from django.urls import path

from conversations.consumers import ChatConsumer
from conversations.frames import CHAT_SOCKET, SHARE_SOCKET
from conversations.share_consumer import ShareConsumer

websocket_urlpatterns = [
    path(CHAT_SOCKET, ChatConsumer.as_asgi()),
    path(SHARE_SOCKET, ShareConsumer.as_asgi()),
]
