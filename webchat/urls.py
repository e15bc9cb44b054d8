from django.contrib import admin
from django.urls import include, path

from webchat import accounts, views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts.urlpatterns)),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("usage/", views.usage, name="usage"),
    path("", include("conversations.urls")),
]
