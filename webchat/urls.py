from django.contrib import admin
from django.urls import include, path
from django.views.decorators.cache import cache_page
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from webchat import accounts, views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts.urlpatterns)),
    # django-allauth: only the round trip to an OpenID Connect provider (SOCIALACCOUNT_ONLY);
    # its own login page, where its flows send a person back, is ours.
    path("auth/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("auth/", include("allauth.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    # The scripts' sentences in the reader's language (kept a day, per language: the page
    # asks for it with its language in the address).
    path(
        "jsi18n/",
        cache_page(86_400)(JavaScriptCatalog.as_view()),
        name="javascript-catalog",
    ),
    path("usage/", views.usage, name="usage"),
    path("", include("api.urls")),
    path("", include("conversations.urls")),
]
