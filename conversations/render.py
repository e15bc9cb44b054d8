"""Markdown → sanitized HTML, the one rendering policy for everything a model or person wrote.

markdown-it-py escapes raw HTML in the source; nh3 then keeps only the tags and attributes
below, so a reply can format text but never run script, load a frame or phone home. The
browser applies the same lists (static/js/render.js) to what it renders while streaming.
No style attributes: the Content-Security-Policy would refuse them anyway, so a table
column's alignment becomes a class; every block gets dir="auto", so a paragraph in Arabic
reads right to left inside an English reply.
"""

import re
from functools import lru_cache
from html import escape, unescape
from typing import Any

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "span",
}  # fmt: skip
_DIRECTED = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "th", "td"}
ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "span": {"class"},
    "pre": {"class"},
    "ol": {"start"},
    **{tag: {"dir"} for tag in _DIRECTED - {"th", "td"}},
    "th": {"dir", "class"},
    "td": {"dir", "class"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str, _attrs: Any) -> str:
    try:
        lexer = get_lexer_by_name(lang.strip()) if lang.strip() else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return escape(code)
    return highlight(code, lexer, _formatter)


def _image_as_link(_renderer: Any, tokens: Any, idx: int, _options: Any, _env: Any) -> str:
    # Never load a remote image a model wrote: its URL could carry the conversation away.
    token = tokens[idx]
    src = escape(token.attrGet("src") or "", quote=True)
    alt = escape(token.content or "image")
    return f'<a href="{src}">{alt}</a>'


_ALIGN = re.compile(r"text-align:(left|center|right)")


def _blocks(state: Any) -> None:
    """dir="auto" on every block a person reads; a column's alignment as a class."""
    for token in state.tokens:
        if token.type.endswith("_open") and token.tag in _DIRECTED:
            token.attrSet("dir", "auto")
        if token.type in ("th_open", "td_open") and "style" in token.attrs:
            align = _ALIGN.fullmatch(str(token.attrs.pop("style")))
            if align:
                token.attrSet("class", f"align-{align.group(1)}")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image_as_link)
    md.core.ruler.push("blocks", _blocks)
    return md


def render_markdown(text: str) -> str:
    html = _markdown().render(text)
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


@lru_cache(maxsize=1)
def _plain() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


# The most of a text `plain_text` renders: a snippet's worth, not a whole reply.
PLAIN_LIMIT = 2_000


def plain_text(text: str) -> str:
    """What a reader sees of `text` (its first PLAIN_LIMIT characters) once rendered, as
    plain words: no `**`, no `#`. No highlighting: the words are all that is kept."""
    html = _plain().render(text[:PLAIN_LIMIT])
    return " ".join(unescape(nh3.clean(html, tags=set())).split())
