"""The project's middleware: who the client is, and a ChatError raised by a view as the
answer a person (a page) or a program (JSON) can read."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin

from webchat.errors import ChatError
from webchat.logs import request_id
from webchat.net import client_address

STATUS = {
    "invalid_request": 400,
    "not_found": 404,
    "model_unavailable": 400,
    "quota_exceeded": 429,
    "rate_limited": 429,
}
TITLES = {400: "That did not work", 404: "Not found", 429: "Too many requests"}


def error_response(request: HttpRequest, error: ChatError) -> HttpResponse:
    status = getattr(error, "status", None) or STATUS.get(error.code, 503)
    response: HttpResponse
    # A page for a browser's navigation (it asks for HTML first), JSON for the rest.
    if "text/html" not in request.headers.get("Accept", ""):
        response = JsonResponse(error.body(), status=status)
    else:
        context = {
            "title": TITLES.get(status, "Please try again"),
            "message": error.message,
            "alert": True,
            "link_url": "/",
            "link_text": "Back to webchat",
        }
        response = render(request, "registration/message.html", context, status=status)
    if error.retry_after is not None:
        response["Retry-After"] = str(round(error.retry_after))
    return response


class ClientAddressMiddleware(MiddlewareMixin):
    """REMOTE_ADDR becomes the client's address (webchat.net), for every part that reads it:
    the login throttle, the rate limits, the logs."""

    def process_request(self, request: HttpRequest) -> None:
        request.META["REMOTE_ADDR"] = client_address(request.META)


class RequestIdMiddleware(MiddlewareMixin):
    """Every log line of a request carries its id, and so does the response
    (X-Request-ID): a person's report of an error finds its traceback."""

    def process_request(self, request: HttpRequest) -> None:
        request.request_id = uuid.uuid4().hex[:16]
        request_id.set(request.request_id)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if hasattr(request, "request_id"):
            response["X-Request-ID"] = request.request_id
        return response


class ChatErrorMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if isinstance(exception, ChatError):
            return error_response(request, exception)
        return None
