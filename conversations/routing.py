from django.urls import path

from conversations.consumers import ChatConsumer
from conversations.share_consumer import ShareConsumer

websocket_urlpatterns = [
    path("ws/conversations/<uuid:id>/", ChatConsumer.as_asgi()),
    path("ws/shares/<str:token>/", ShareConsumer.as_asgi()),
]
