"""A URL that fails, for the test that a 500 reaches the log, beside the site's own (which
the middleware reverses, the admin's address for one)."""

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from webchat.urls import handler500  # noqa: F401 (the site's own)


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("deliberately broken")


def locked(request: HttpRequest) -> HttpResponse:
    raise OperationalError("database is locked")


urlpatterns = [
    path("boom/", boom),
    path("locked/", locked),
    path("", include("webchat.urls")),
]
