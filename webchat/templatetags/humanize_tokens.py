import json
from typing import Any

from django.template import Library
from django.utils.formats import number_format

register = Library()


@register.filter
def thousands(value: object) -> str:
    """1234567 → "1,234,567" (grouped as the reader's language groups); nothing → "0"."""
    try:
        return number_format(int(value or 0), force_grouping=True)
    except (TypeError, ValueError):
        return "0"


@register.filter
def split_commas(value: str) -> list[str]:
    return [part for part in value.split(",") if part]


@register.filter
def attachment_json(attachment: Any) -> str:
    """An attachment as the page's scripts read it (conversations.models.Attachment.as_dict);
    escaped by the template like any attribute."""
    return json.dumps(attachment.as_dict())
