"""Text that may enter the database: valid Unicode without NUL, in values of bounded depth.

JSON can carry what no database stores: "\\u0000" (PostgreSQL refuses NUL) and a lone half
of a UTF-16 pair such as "\\ud800" (not Unicode at all, so it cannot be encoded, stored or
rendered). A person's input with either is refused with a sentence (`problem`); the
model's output is repaired instead (`repaired`), so a reply is never lost to it.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models.signals import pre_save
from django.utils.translation import gettext, gettext_noop

# Deeper JSON than this is refused before anything walks it.
MAX_DEPTH = 32
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

NUL = gettext_noop("Text can't contain NUL characters (\\0); remove them and try again.")
NOT_UNICODE = gettext_noop(
    "This text is not valid Unicode (it holds half of a UTF-16 surrogate pair)."
)
TOO_DEEP = gettext_noop("This is nested too deeply (more than %(most)s levels).")


def too_deep() -> str:
    return gettext(TOO_DEEP) % {"most": MAX_DEPTH}


def _string_problem(value: str) -> str | None:
    if "\x00" in value:
        return gettext(NUL)
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return gettext(NOT_UNICODE)
    return None


def problem(value: Any) -> str | None:
    """What keeps `value` (a string, or JSON-like lists and dicts of them, keys included)
    out of the database, in a sentence; None when nothing does."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            found = _string_problem(item)
            if found:
                return found
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                return too_deep()
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


def validate(value: Any) -> None:
    """A Django validator: ValidationError with the sentence of `problem`."""
    found = problem(value)
    if found:
        raise ValidationError(found)


def repaired(value: str) -> str:
    """`value` with each NUL and lone surrogate replaced by U+FFFD (for text we don't own)."""
    return _UNSTORABLE.sub("\ufffd", value) if _string_problem(value) else value


def refuse_unstorable(sender: type, instance: Any, **kwargs: Any) -> None:
    """The last guard, before every save of the project's models: a value that slipped past
    the forms is refused, not half-written (a ValidationError names the field)."""
    for field in instance._meta.concrete_fields:
        if field.get_internal_type() in ("CharField", "TextField", "JSONField"):
            found = problem(getattr(instance, field.attname))
            if found:
                raise ValidationError({field.name: found})


def guard(app_label: str) -> None:
    from django.apps import apps

    for model in apps.get_app_config(app_label).get_models():
        pre_save.connect(refuse_unstorable, sender=model, dispatch_uid=f"text-{model._meta.label}")
