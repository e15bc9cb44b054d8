"""The words around a search's match, as a result shows them: a few words before it and a
line or so after, cut between words (or between characters as drawn), the match marked."""

from __future__ import annotations

import unicodedata

from django.utils.html import format_html
from django.utils.safestring import SafeString

# A result's snippet shows two lines: only a few words before the match, so that on a
# phone's narrow lines the match is not cut off at their end.
BEFORE = 40  # characters of words with spaces between them
BEFORE_UNSPACED = 12  # of wide characters without spaces (Chinese, Japanese)
AFTER = 120

FLAG_LETTERS = "".join(map(chr, range(0x1F1E6, 0x1F200)))  # two make a flag
JOINED = {"\u200d", "\ufe0e", "\ufe0f", *map(chr, range(0x1F3FB, 0x1F400))}
DRAWN_MOST = 32


def shown(text: str, words: str) -> str:
    """What a result shows of `text` (plain text): the words around `words`' first place,
    "…" where it is cut; the start of the text when it does not hold them."""
    if found(text, words) is None:
        return text[: _drawn(text, 160)] if len(text) > 160 else text
    return around(text, words, BEFORE, AFTER, unspaced=BEFORE_UNSPACED, marked=True)


def around(
    text: str,
    words: str,
    before: int,
    after: int,
    unspaced: int | None = None,
    marked: bool = False,
) -> str:
    """`text` around `words`' first place: up to `before` characters before it (`unspaced`
    where wide characters without spaces lead to it) and `after` after it; with `marked`,
    "…" where it is cut."""
    at, ends = found(text, words) or (0, len(words))
    start, end = max(0, at - before), ends + after
    # Whole words at either end, where there is a space to cut at; else whole characters.
    space = text.find(" ", start, at)
    if start and space >= 0:
        start = space + 1
    elif space < 0 and unspaced is not None and _wide(text[at - 1 : at]):
        start = min(at, _drawn(text, max(0, at - unspaced)))
    elif start:
        start = min(at, _drawn(text, start))  # the words found may begin with an accent
    if end < len(text) and (space := text.rfind(" ", ends, end)) >= 0:
        end = space
    elif end < len(text):
        end = _drawn(text, end)
    cut = text[start:end]
    return ("…" if start and marked else "") + cut + ("…" if end < len(text) and marked else "")


def marked(text: str, words: str) -> SafeString | None:
    """`text` as HTML with the first place it holds `words` (case aside) in a <mark>; None
    when it does not hold them."""
    place = found(text, words)
    if place is None:
        return None
    start, end = place
    return format_html("{}<mark>{}</mark>{}", text[:start], text[start:end], text[end:])


def said_by(title: str, snippet: str, words: str) -> bool:
    """Whether the title says what the snippet would show: all of it, or the words found
    and what leads to them (a title made of the first words of the message found)."""
    text = " ".join(snippet.removeprefix("…").removesuffix("…").split()).lower()
    title = " ".join(title.split()).lower()
    return text in title or (
        found(title, words) is not None and text.startswith(title.removesuffix("…").rstrip())
    )


def found(text: str, words: str) -> tuple[int, int] | None:
    """Where `words` first are in `text`, case aside: (start, end) in the text as written."""
    lower, needle = text.lower(), words.lower()
    at = lower.find(needle) if words else -1
    if at < 0:
        return None
    if len(lower) == len(text):
        return at, at + len(needle)
    # A letter whose lowercase is longer (İ) came before: the places in the text itself.
    start, end = _written(text, at), _written(text, at + len(needle))
    return (start, end) if text[start:end].lower() == needle else None


# The one character whose lowercase is longer than itself ("i" and a combining dot), as
# tests/test_snippets.py checks of every character.
GROWS = "\u0130"


def _written(text: str, lowered: int) -> int:
    """The place in `text` of the place `lowered` in its lowercase."""
    low, high = 0, min(lowered, len(text))
    while low < high:
        middle = (low + high) // 2
        if middle + text.count(GROWS, 0, middle) < lowered:
            low = middle + 1
        else:
            high = middle
    return low


def _wide(character: str) -> bool:
    return bool(character) and unicodedata.east_asian_width(character) in "WF"


def _drawn(text: str, at: int) -> int:
    """`at`, or past it to where no character as drawn is cut in two: the second half of a
    flag, an accent, or the rest of an emoji joined to the one before. It goes no further
    than `DRAWN_MOST` characters: a run of thousands of accents is no character as drawn."""
    run = at - len(text[:at].rstrip(FLAG_LETTERS))  # of flag letters just before `at`
    if run % 2 and at < len(text) and text[at] in FLAG_LETTERS:
        at += 1
    most = min(len(text), at + DRAWN_MOST)
    while at < most and (
        unicodedata.combining(text[at]) or text[at] in JOINED or text[at - 1] == "\u200d"
    ):
        at += 1
    return at
