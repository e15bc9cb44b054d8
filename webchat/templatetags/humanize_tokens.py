import json
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.template import Library
from django.utils.formats import date_format, number_format
from django.utils.html import format_html
from django.utils.translation import gettext

from webchat import moments

register = Library()


@register.filter
def thousands(value: object) -> str:
    """1234567 → "1,234,567" (grouped as the reader's language groups); nothing → "0"."""
    try:
        return number_format(int(value or 0), force_grouping=True)
    except (TypeError, ValueError):
        return "0"


@register.filter
def dollars(value: object) -> str:
    """A cost in US dollars, written the reader's way: "$1,234.50", "$0.0042"; a cost too
    small for four decimals is "< $0.0001", never a "$0.0000" that reads as free."""
    try:
        cost = Decimal(str(value or 0))
    except (InvalidOperation, ValueError):
        cost = Decimal(0)
    if not cost.is_finite():
        cost = Decimal(0)
    places = 2 if cost >= 1 or cost == 0 else 4
    # Rounded here: number_format cuts the places it does not show ($0.000082 as "$0.0000").
    try:
        shown = cost.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    except InvalidOperation:  # past the context's 28 digits: shown as it is
        shown = cost
    if cost > 0 and shown == 0:
        return gettext("< $%(amount)s") % {"amount": number_format(Decimal("0.0001"), 4)}
    return gettext("$%(amount)s") % {"amount": number_format(shown, places, force_grouping=True)}


@register.filter
def split_commas(value: str) -> list[str]:
    return [part for part in value.split(",") if part]


@register.filter
def attachment_json(attachment: Any) -> str:
    """An attachment as the page's scripts read it (conversations.models.Attachment.as_dict);
    escaped by the template like any attribute."""
    return json.dumps(attachment.as_dict())


@register.filter
def moment(value: datetime | None, shown: str = "") -> str:
    """A moment as a <time> that static/js/page.js shows in the reader's time zone and
    language (and in full as its title); the server's words, in its own zone, until then.

    `|moment` is the day and the time; `|moment:"day"` the day alone, as the reader's zone
    has it; `|moment:"date"` the day as the zone of the page counts it (a key that stops at
    the end of a day chosen by its day), shown as that same day in every zone. The result is
    markup: for an element's text, never an attribute's value.
    """
    if value is None:
        return ""
    here = moments.local(value)
    if shown == "date":
        return format_html(
            '<time data-local datetime="{}">{}</time>',
            here.date().isoformat(),
            date_format(here, "DATE_FORMAT"),
        )
    words = (
        date_format(here, "DATE_FORMAT")
        if shown == "day"
        else f"{moments.words(value)} {date_format(here, 'T')}"
    )
    return format_html(
        '<time data-local="{}" datetime="{}">{}</time>', shown, value.isoformat(), words
    )
