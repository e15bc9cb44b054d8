from django.urls import path

from conversations.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/conversations/<uuid:id>/", ChatConsumer.as_asgi()),
]
