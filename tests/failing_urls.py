"""A URL that fails, for the test that a 500 reaches the log."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("deliberately broken")


urlpatterns = [path("boom/", boom)]
