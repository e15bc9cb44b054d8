from django.urls import path

from api import keys, views

urlpatterns = [
    path("v1/models", views.models, name="api-models"),
    path("v1/chat/completions", views.chat_completions, name="api-chat-completions"),
    path("keys/", keys.keys, name="keys"),
    path("keys/<int:id>/revoke/", keys.revoke_view, name="key-revoke"),
]
