from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from webchat import accounts, views

# An uncaught exception: the site's own page (a database that is not answering: a 503).
handler500 = views.server_error

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts.urlpatterns)),
    # django-allauth: only the round trip to an OpenID Connect provider (SOCIALACCOUNT_ONLY);
    # its own login page, where its flows send a person back, is ours.
    path("auth/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("auth/", include("allauth.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("jsi18n/", views.javascript_catalog, name="javascript-catalog"),
    path("usage/", views.usage, name="usage"),
    path("", include("api.urls")),
    path("", include("conversations.urls")),
]
