from django.urls import path, re_path

from api import keys, views

urlpatterns = [
    path("v1/models", views.models, name="api-models"),
    path("v1/models/<str:id>", views.model, name="api-model"),
    path("v1/chat/completions", views.chat_completions, name="api-chat-completions"),
    re_path(r"^v1/(?P<path>.*)$", views.unknown, name="api-unknown"),
    path("keys/", keys.keys, name="keys"),
    path("keys/<int:id>/revoke/", keys.revoke_view, name="key-revoke"),
]
