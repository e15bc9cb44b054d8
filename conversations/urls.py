from django.urls import path

from conversations import attachments, preferences, shares, summaries, views

urlpatterns = [
    path("", views.home, name="home"),
    path("c/", views.create, name="conversation-create"),
    path("c/<uuid:id>/", views.detail, name="conversation"),
    path("c/<uuid:id>/rename/", views.rename, name="conversation-rename"),
    path("c/<uuid:id>/delete/", views.delete, name="conversation-delete"),
    path("c/<uuid:id>/leave/", views.leave, name="conversation-leave"),
    path("c/<uuid:id>/switch/", views.switch, name="conversation-switch"),
    path("c/<uuid:id>/feedback/", views.feedback, name="conversation-feedback"),
    path("c/<uuid:id>/export.<str:fmt>", views.export, name="conversation-export"),
    path("conversations/more/", views.more, name="conversations-more"),
    path("search/", views.search, name="search"),
    path("c/<uuid:id>/composer/", views.composer, name="conversation-composer"),
    path("c/<uuid:id>/summarize/", summaries.summarize, name="conversation-summarize"),
    path("c/<uuid:id>/attachments/", attachments.upload, name="attachment-upload"),
    path("c/<uuid:id>/attachments/<uuid:attachment_id>/", attachments.download, name="attachment"),
    path(
        "c/<uuid:id>/attachments/<uuid:attachment_id>/remove/",
        attachments.remove,
        name="attachment-remove",
    ),
    path("c/<uuid:id>/share/", shares.create, name="share-create"),
    path("s/<str:token>/", shares.detail, name="share"),
    path("s/<str:token>/revoke/", shares.revoke, name="share-revoke"),
    path("s/<str:token>/fork/", shares.fork, name="share-fork"),
    path(
        "s/<str:token>/attachments/<uuid:attachment_id>/",
        attachments.shared,
        name="share-attachment",
    ),
    path("shares/", shares.listing, name="shares"),
    path("settings/", preferences.page, name="settings"),
    path("settings/export/", preferences.export_all, name="export-all"),
    path("settings/import/", preferences.import_data, name="import-data"),
    path("settings/prompts/", preferences.save_prompt, name="prompt-create"),
    path("settings/prompts/<int:id>/", preferences.save_prompt, name="prompt-save"),
    path("settings/prompts/<int:id>/delete/", preferences.delete_prompt, name="prompt-delete"),
]
