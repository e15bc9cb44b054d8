"""A URL that fails, for the test that a 500 reaches the log, beside the site's own (which
the middleware reverses, the admin's address for one)."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("deliberately broken")


urlpatterns = [path("boom/", boom), path("", include("webchat.urls"))]
