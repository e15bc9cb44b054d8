"""Every query-string parameter is read by a form of this module: a bad value is refused
with a sentence (InvalidRequest, answered 400 by ChatErrorMiddleware), never a 500."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from django import forms
from django.http import HttpRequest
from django.utils import timezone

from webchat.errors import InvalidRequest
from webchat.text import validate

F = TypeVar("F", bound=forms.Form)


class DateTimeParam(forms.Field):
    """An ISO 8601 date-time. Without an offset it is read in the reader's time zone; with
    one, it must still fall within years 1 to 9999 in UTC (the database's range)."""

    default_error_messages = {
        "invalid": "give a date-time such as 2026-01-31T12:00:00+00:00.",
        "range": "give a date-time between the years 1 and 9999.",
    }

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        if len(value) > 64:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        try:
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(self.error_messages["range"], code="range") from None


class QueryForm(forms.Form):
    """A form over request.GET whose every text field refuses NUL and lone surrogates."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for value in cleaned.values():
            validate(value)
        return cleaned


def parse(form_class: type[F], request: HttpRequest) -> dict[str, Any]:
    """The cleaned parameters, or InvalidRequest naming the first bad one."""
    form = form_class(request.GET)
    if form.is_valid():
        return form.cleaned_data
    name, errors = next(iter(form.errors.items()))
    if name == "__all__":
        raise InvalidRequest(str(errors[0]))
    raise InvalidRequest(f"`{name}`: {errors[0]}")
