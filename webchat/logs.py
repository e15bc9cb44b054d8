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


def config(level: str, fmt: str) -> dict[str, Any]:
    """The LOGGING setting. Everything goes to the root logger's one handler: 500s with
    their tracebacks (django.request) too, whether or not ADMINS are set."""
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
        },
    }


class AccessLog(AccessLogGenerator):
    """daphne's access log, as lines of the one log (logger `webchat.access`)."""

    log = logging.getLogger("webchat.access")

    def __init__(self) -> None:
        pass

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
