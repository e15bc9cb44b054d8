"""One log for the app, Django and daphne, on stdout: text for a person, or JSON lines
(LOG_FORMAT=json) for a log collector. Each line of a request carries its request id."""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from daphne.access import AccessLogGenerator

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

TEXT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"
JSON = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def config(level: str, fmt: str, access: bool = False) -> dict[str, Any]:
    """The LOGGING setting. Everything goes to the root logger's one handler: 500s with
    their tracebacks (django.request) too, whether or not ADMINS are set.

    Nothing is written per request unless asked: daphne's access log (`access`) and the
    HTTP client's line for every upstream call would be a line or two per message sent,
    each formatted and written by the event loop's thread (nginx keeps an access log);
    nor django-axes's four lines for every login and sign-up (its lock-outs are warnings,
    and stay)."""
    quiet = "DEBUG" if level == "DEBUG" else "WARNING"
    formatter: dict[str, Any] = {"format": TEXT}
    if fmt == "json":
        formatter = {"()": "pythonjsonlogger.json.JsonFormatter", "format": JSON}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "webchat.logs.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # Django's own defaults send errors to mail_admins only when DEBUG is off.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
            "webchat.access": {"level": level if access else "WARNING"},
            "httpx": {"level": quiet},
            "httpcore": {"level": quiet},
            "axes": {"level": quiet},
        },
    }


class AccessLog(AccessLogGenerator):
    """daphne's access log, as lines of the one log (logger `webchat.access`)."""

    log = logging.getLogger("webchat.access")

    def __init__(self) -> None:
        pass

    def __call__(self, protocol: Any, action: str, details: dict[str, Any]) -> None:
        if self.log.isEnabledFor(logging.INFO):  # off unless LOG_ACCESS: nothing to format
            super().__call__(protocol, action, details)

    def write_entry(
        self,
        host: str,
        date: Any,
        request: str,
        status: Any = None,
        length: Any = None,
        ident: Any = None,
        user: Any = None,
    ) -> None:
        self.log.info('%s "%s" %s %s', host, request, status or "-", length or "-")
