"""Moments as the reader's time zone has them (webchat.middleware.TimeZoneMiddleware)."""

from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format


def local(value: datetime) -> datetime:
    """`value` in the reader's zone; past year 9999 there, in the server's, as it was stored."""
    try:
        return timezone.localtime(value)
    except OverflowError:
        return timezone.localtime(value, timezone.get_default_timezone())


def words(value: datetime) -> str:
    """The day and the time in the reader's zone and language: "12/06/2026 midnight"."""
    return date_format(local(value), "SHORT_DATETIME_FORMAT")
