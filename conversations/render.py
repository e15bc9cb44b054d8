"""Markdown → sanitized HTML, the one rendering policy for everything a model or person wrote.

markdown-it-py escapes raw HTML in the source; nh3 then keeps only the tags and attributes
below, so a reply can format text but never run script, load a frame or phone home. The
browser applies the same lists (static/js/render.js) to what it renders while streaming.
No style attributes: the Content-Security-Policy would refuse them anyway, so a table
column's alignment becomes a class; every block gets the direction of its first letter, so
a paragraph in Arabic reads right to left inside an English reply.
"""

import asyncio
import itertools
import re
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from html import escape, unescape
from typing import Any
from xml.etree import ElementTree

import nh3
from channels.db import database_sync_to_async
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin
from mdit_py_plugins.texmath.index import dollar_post, dollar_pre, make_block_func
from mdit_py_plugins.texmath.index import rules as texmath_rules
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# Bump when the rendering changes: replies stored with an older version are rendered again.
VERSION = 9

# MathML, as latex2mathml (here) and Temml (static/js/render.js) write it: presentation
# elements only, no links, no style (the Content-Security-Policy needs none).
MATH_TAGS = {
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub", "msubsup",
    "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd",
    "mstyle", "mpadded", "mphantom", "menclose", "merror", "mmultiscripts", "mprescripts",
    "none",
}  # fmt: skip
MATH_ATTRIBUTES = {
    "display", "displaystyle", "scriptlevel", "mathvariant", "stretchy", "fence", "form",
    "separator", "accent", "accentunder", "largeop", "movablelimits", "symmetric", "lspace",
    "rspace", "minsize", "maxsize", "linethickness", "width", "height", "depth", "voffset",
    "columnalign", "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines",
    "frame", "notation",
}  # fmt: skip
TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "a", "span",
    "input", *MATH_TAGS,
}  # fmt: skip
# A list's and a table's own direction places its bullets and orders its columns.
_DIRECTED = {
    *("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "th", "td"),
    *("ul", "ol", "table"),
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "span": {"class"},
    "pre": {"class"},
    "ol": {"start", "dir"},
    "ul": {"class", "dir"},
    **{tag: {"dir"} for tag in _DIRECTED - {"th", "td", "li", "ol", "ul"}},
    "li": {"dir", "class"},
    "th": {"dir", "class"},
    "td": {"dir", "class"},
    # A task list's box: always a disabled checkbox, whatever the source said.
    "input": {"checked"},
    **{tag: MATH_ATTRIBUTES for tag in MATH_TAGS},
}
# A link in a reply opens in a tab of its own: the conversation stays where it was.
FORCED = {"input": {"type": "checkbox", "disabled": "disabled"}, "a": {"target": "_blank"}}
URL_SCHEMES = {"http", "https", "mailto"}
# Built once: nh3.clean() builds its allow-list anew on every call, which was half the
# time of rendering a short reply (0.29 → 0.13 ms, `python bench/page_render.py`).
_SANITIZER = nh3.Cleaner(
    tags=TAGS,
    attributes=ATTRIBUTES,
    set_tag_attribute_values=FORCED,
    url_schemes=URL_SCHEMES,
    link_rel="noopener noreferrer nofollow",
)

# What one formula and one text may hold before math is shown as its source: a bound on
# the converter's time and recursion (a model can write anything).
MATH_MAX_CHARS = 2_000
MATH_MAX_DEPTH = 40
MATH_BUDGET = 20_000
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
    """Each block a person reads in the direction of its first letter, as dir="auto" would
    read it, but written out: with dir="auto" the browser looks through the block again at
    each element added inside it, and a long list or table took seconds to show (the page's
    renderer does the same, static/js/render.js). A column's alignment as a class."""
    unresolved: list[Any] = []  # blocks open around here with no letter in them yet
    for token in state.tokens:
        if token.nesting == 1 and token.tag in _DIRECTED:
            unresolved.append(token)
        elif token.nesting == -1 and unresolved and unresolved[-1].level == token.level:
            unresolved.pop()  # none: it takes its parent's
        elif token.type == "inline" and unresolved:
            direction = _direction(token)
            if direction:
                for block in unresolved:
                    block.attrSet("dir", direction)
                unresolved.clear()
        if token.type in ("th_open", "td_open") and "style" in token.attrs:
            align = _ALIGN.fullmatch(str(token.attrs.pop("style")))
            if align:
                token.attrSet("class", f"align-{align.group(1)}")


# What may be a letter (a word's character, not a digit or "_": a number such as ½ too,
# which the search below passes over), and the letters written right to left: Hebrew,
# Arabic, Syriac, Thaana, N'Ko and the rest of their blocks, as render.js has them.
_LETTER = re.compile(r"[^\W\d_]")
_RTL = re.compile(
    "[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\U00010800-\U00010fff\U0001e800-\U0001efff]"
)


def _direction(inline: Any) -> str | None:
    """The direction ("rtl" or "ltr") of the first letter a reader sees in `inline`; None
    when it has none."""
    for child in inline.children or ():
        shown = child.type in ("text", "code_inline", "image") or child.type.startswith("math")
        if shown and (direction := _text_direction(child.content)):
            return direction
    return None


def _text_direction(text: str) -> str | None:
    letter = next((m.group() for m in _LETTER.finditer(text) if m.group().isalpha()), None)
    if letter is None:
        return None
    return "rtl" if _RTL.match(letter) else "ltr"


def _depth(tex: str) -> int:
    deepest = depth = 0
    for char in tex:
        if char == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif char == "}":
            depth -= 1
    return deepest


@lru_cache(maxsize=512)
def _mathml(tex: str, display: bool) -> str | None:
    """MathML for one formula, or None when it is too big, broken, or more than
    presentation markup: the converter copies `\\text{…}` out raw, so its output is read
    as XML and written again from the tree, text escaped, MathML elements and attributes
    only, lengths bounded. An unknown command or a link is refused, as Temml refuses it."""
    if len(tex) > MATH_MAX_CHARS or _depth(tex) > MATH_MAX_DEPTH or _UNTRUSTED.search(tex):
        return None
    tex = _NUMBERED.sub(_numbered, _LAST_CELL.sub(r"\1{}", tex))
    for pattern, replacement in _ENVIRONMENTS:
        tex = pattern.sub(replacement, tex)
    tex = _TEXT_ARGUMENT.sub(_text_argument, tex)
    try:
        converted = latex_to_mathml(tex, display="block" if display else "inline")
        # The converter's own output: no DOCTYPE can come before its <math>, so nothing
        # here can declare an entity.
        tree = ElementTree.fromstring(converted)  # noqa: S314
    except (Exception, RecursionError):
        return None
    if _local(tree.tag) != "math":
        return None
    parts: list[str] = []
    return "".join(parts) if _write(tree, parts) else None


# A command, not an escaped backslash (`\\\\` is a line break) followed by letters.
_COMMAND = r"(?<!\\)((?:\\\\)*)\\"
# The commands Temml reads only when trusted (page attributes, a picture): the page refuses
# a formula with them, and so does the server (its converter would keep their argument).
_UNTRUSTED = re.compile(_COMMAND + r"(?:class|id|style|data|includegraphics)(?![a-zA-Z])")
# Text in a formula (`\\text{…}`, `\\mbox{…}`), which the converter copies out as written:
# its escaped characters kept their backslash ("50\\%"), and a `<` or `&` broke the XML
# (the formula was shown as its source where the page draws it), or let markup through.
# Written as the text it means, escaped for XML, it is read as text.
_TEXT_ARGUMENT = re.compile(
    _COMMAND + r"((?:text(?:bf|it|md|normal|rm|sf|tt|up)?|[mh]box)(?![a-zA-Z])\s*\{)"
    r"((?:\\[a-zA-Z]+(?![a-zA-Z])|\\[^a-zA-Z]|[^{}\\])*)\}"
)
_TEXT_ESCAPE = re.compile(r"\\([\\%$&#_ {}])")
# Braces as characters: the converter ends a text at its first brace.
_BRACES = str.maketrans({"{": "&#123;", "}": "&#125;"})


def _text_argument(match: re.Match[str]) -> str:
    text = _TEXT_ESCAPE.sub(lambda m: m[0] if m[1] == "\\" else m[1], match[3])
    return f"{match[1]}\\{match[2]}{escape(text, quote=False).translate(_BRACES)}}}"


# The environments models write that the converter lacks, as the ones it has that look
# alike: `aligned` (step by step working) and its kin as `align*`, a column of centred
# lines (`gather`, `multline`) as a one-column matrix. They showed as their source.
# (Applied before the text arguments are rewritten: a tag's is one of them.)
_ENVIRONMENTS = tuple(
    (re.compile(_COMMAND + pattern), r"\1\\" + replacement)
    for pattern, replacement in (
        (r"begin\{aligned\}(?:\[[tcb]\])?", "begin{align*}"),
        (r"begin\{(?:alignedat|alignat\*?)\}\{\d+\}", "begin{align*}"),
        (r"end\{(?:aligned|alignedat|alignat\*?)\}", "end{align*}"),
        (r"begin\{gathered\}(?:\[[tcb]\])?", "begin{matrix}"),
        (r"begin\{(?:gather|multline)\*?\}", "begin{matrix}"),
        (r"end\{(?:gather\*?|gathered|multline\*?)\}", "end{matrix}"),
        # An equation's number, apart from it (the converter glued it on: "mc²(1)").
        (r"tag\{([^{}]*)\}", r"qquad\\text{(\2)}"),
        (r"tag\*\{([^{}]*)\}", r"qquad\\text{\2}"),
    )
)  # fmt: skip


# A table's last row ending in an empty cell (`c &\\end{pmatrix}`) was dropped whole by the
# converter: the cell is given an empty group.
_LAST_CELL = re.compile(r"(?<!\\)((?:\\\\)*&)(?=\s*\\end\{)")
# In a numbered `align` a tagged row has its tag in place of the next number, as in LaTeX
# and on the page: `\\notag` takes the converter's number off it (the converter has
# numbered every row, so a tagged one showed "(a)" and "(1)").
_NUMBERED = re.compile(_COMMAND + r"begin\{align\}.*?\\end\{align\}", re.S)
_TAG = re.compile(_COMMAND + r"(tag\*?\{)")


def _numbered(match: re.Match[str]) -> str:
    return _TAG.sub(r"\1\\notag\\\2", match[0])


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# A length a formula may set (`\\hspace{20000px}` may not): a few em at most; a table's
# spacings are a list of them. A script level from the formula's own styles, 0 to 2.
_LENGTH = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:em|ex|px|pt)?")
_LENGTHS = {
    "width", "height", "depth", "voffset", "lspace", "rspace", "minsize", "maxsize",
    "linethickness", "columnspacing", "rowspacing",
}  # fmt: skip
_SCRIPT_LEVEL = re.compile(r"[+-]?[0-2]")


def _bounded(name: str, value: str) -> bool:
    if name == "scriptlevel":
        return _SCRIPT_LEVEL.fullmatch(value) is not None
    if name not in _LENGTHS:
        return True
    return all(
        _LENGTH.fullmatch(part) and abs(float(part.rstrip("emxpt") or 0)) <= 5
        for part in value.split()
    )


def _write(element: ElementTree.Element, parts: list[str]) -> bool:
    tag = _local(element.tag)
    if tag not in MATH_TAGS or "href" in element.attrib:
        return False
    if (element.text or "").startswith("\\"):
        return False  # a command the converter did not know, shown as its name
    attributes = ""
    for name, value in element.attrib.items():
        if name not in MATH_ATTRIBUTES or not _bounded(name, value):
            continue
        attributes += f' {name}="{escape(value, quote=True)}"'
    parts.append(f"<{tag}{attributes}>{escape(element.text or '', quote=False)}")
    if not all(_write(child, parts) for child in element):
        return False
    parts.append(f"</{tag}>{escape(element.tail or '', quote=False)}")
    return True


def _math(display: bool) -> Any:
    def render(_renderer: Any, tokens: Any, idx: int, _options: Any, env: Any) -> str:
        tex = tokens[idx].content
        env["math"] = spent = env.get("math", 0) + len(tex)
        mathml = _mathml(tex.strip(), display) if spent <= MATH_BUDGET else None
        if mathml is None:  # shown as what was written
            return f'<code class="math-source">{escape(tex)}</code>'
        return mathml

    return render


# The inline rules, in the order tried, as render.js has them: `$$…$$` within a line
# (display math), `$…$` and `$x$` (the plugin's patterns), `\[…\]` within a line, as
# models write it mid-sentence (display math; the plugin reads it only as a block of its
# own), and `\(…\)`. Those two hold MATH_MAX_CHARS at most (a longer formula would be
# shown as its source), so an opener is read over that many characters at most, however
# often markdown-it reads a text again (an image's label, once for each image it is in:
# 200 unclosed `\(` in a label 19 deep took 3.5 s); `\[…\]` stays on its line (what
# JavaScript's `.` matches).
_INLINE_MATH: list[Any] = [
    {"name": "math_inline_double", "rex": re.compile(r"\${2}([^$]*?[^\\])\${2}"), "tag": "$$",
     "pre": dollar_pre, "post": dollar_post},
    *texmath_rules["dollars"]["inline"],
    {"name": "math_inline_bracket", "tag": "\\[",
     "rex": re.compile(rf"\\\[([^\n\r\u2028\u2029]{{1,{MATH_MAX_CHARS}}}?)\\\]")},
    {"name": "math_paren", "tag": "\\(",
     "rex": re.compile(rf"\\\((.{{1,{MATH_MAX_CHARS}}}?)\\\)", re.DOTALL)},
]  # fmt: skip
_DISPLAY = (("$$", "$$"), ("\\[", "\\]"))
_BLANK = re.compile(r"[ \t]*")


def _inline_math(rule: dict[str, Any]) -> Any:
    """An inline math rule read where the parser is: the plugin's own copy the rest of
    the text at each try (50,000 `$` in a text took 1.3 s)."""
    name, tag, pre, post = rule["name"], rule["tag"], rule.get("pre"), rule.get("post")
    pattern = re.compile(rule["rex"].pattern.removeprefix("^"), rule["rex"].flags)

    def read(state: Any, silent: bool) -> bool:
        src, pos = state.src, state.pos
        if not src.startswith(tag, pos) or (pre and not pre(src, pos)):
            return False
        match = pattern.match(src, pos)
        if match is None or (post and not post(src, match.end() - 1)):
            return False
        if not silent:
            token = state.push(name, "math", 0)
            token.content, token.markup = match.group(1), tag
        state.pos = match.end()
        return True

    return read


def _whole_lines(rule: Any) -> Any:
    """A display-math block rule that takes only a formula ending its line: the plugin's
    own would drop the words after `$$x$$` on the same line. (Its rule for a numbered
    formula, `$$x$$ (1)`, is not used: it dropped the number, and took a "(…)" starting
    the next line for one, dropping the rest of that line. The line is then a paragraph,
    its formula display math and its number text.)"""

    def block(state: Any, start: int, end: int, silent: bool) -> bool:
        src, pos = state.src, state.bMarks[start] + state.tShift[start]
        for opening, closing in _DISPLAY:
            if src.startswith(opening, pos):
                close = src.find(closing, pos + len(opening))
                line_end = src.find("\n", close)
                rest = src[close + len(closing) : line_end if line_end >= 0 else len(src)]
                if close < 0 or not _BLANK.fullmatch(rest):
                    return False
        return bool(rule(state, start, end, silent))

    return block


@lru_cache(maxsize=4)
def _markdown(math: bool = True, tasks: bool = True) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "highlight": _highlight})
    md.enable(["table", "strikethrough", "linkify"])
    md.add_render_rule("image", _image_as_link)
    if math:
        # $…$, $$…$$, \(…\) and \[…\], as the browser's markdown-it-texmath reads them.
        for rule in _INLINE_MATH:
            md.inline.ruler.before("escape", rule["name"], _inline_math(rule))
        for delimiters in ("dollars", "brackets"):
            for rule in texmath_rules[delimiters]["block"]:
                if rule["name"] == "math_block":
                    md.block.ruler.before(
                        "fence", rule["name"], _whole_lines(make_block_func(rule))
                    )
        for name in ("math_inline", "math_single", "math_paren"):
            md.add_render_rule(name, _math(display=False))
        for name in ("math_block", "math_inline_double", "math_inline_bracket"):
            md.add_render_rule(name, _math(display=True))
    if tasks:
        tasklists_plugin(md)
    md.core.ruler.push("blocks", _blocks)
    return md


# Past this many characters (the longest message a person may send) a text is shown as
# written, its paragraphs and lines kept: the parser takes up to 30 µs a character on a
# text built to be slow, a second and more for a long reply.
RENDER_MAX_CHARS = 100_000


# Each `\(` the math plugin reads looks for its `\)` through the rest of the paragraph:
# 50,000 of them with none closed took 23 s. Past this many `\(`, `\[` and `$$` together, a text
# is read without math, here and by the page as it streams (render.js, whose plugin is as
# slow with `$$`).
MATH_OPENERS_MAX = 200


# The task list plugin looks for each box's list back through every item before it: 12,500
# items took 13 s. In a text of more than this many list items, no box is read as one.
LIST_ITEMS_MAX = 500
_LIST_ITEM = re.compile(r"^[ \t>]*(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)", re.MULTILINE)


def render_markdown(text: str) -> str:
    if len(text) > RENDER_MAX_CHARS:
        return _as_written(text)
    openers = text.count("\\(") + text.count("\\[") + text.count("$$")
    items = sum(1 for _ in itertools.islice(_LIST_ITEM.finditer(text), LIST_ITEMS_MAX + 1))
    md = _markdown(math=openers <= MATH_OPENERS_MAX, tasks=items <= LIST_ITEMS_MAX)
    return _SANITIZER.clean(md.render(text, {}))


def _as_written(text: str) -> str:
    paragraphs = re.split(r"\n[ \t\r]*\n", text.strip())
    return "".join(_paragraph(paragraph) for paragraph in paragraphs if paragraph)


def _paragraph(text: str) -> str:
    direction = _text_direction(text)
    opening = f'<p dir="{direction}">' if direction else "<p>"
    return opening + escape(text).replace("\n", "<br>") + "</p>"


# Finished replies are rendered in one thread, off the event loop and the database's
# thread. More threads would not render faster (the interpreter runs one at a time), and
# each would take the interpreter from the event loop in turn: with the default pool's six,
# when two hundred replies ended at once their last words waited twice as long. A longer
# text goes to the default pool instead, so that one built to be slow (up to 30 µs a
# character) holds up the replies queued behind it for 60 ms at most.
_renderer = ThreadPoolExecutor(1, thread_name_prefix="render")
SHORT_CHARS = 2_000


async def rendered(text: str) -> str:
    """render_markdown(text), off the event loop."""
    if len(text) > SHORT_CHARS:
        return await asyncio.to_thread(render_markdown, text)
    return await asyncio.get_running_loop().run_in_executor(_renderer, render_markdown, text)


async def html_of(message: Any) -> str:
    """A finished message's HTML: as stored when it ended, or rendered now if it was stored
    by an older renderer (or never), and stored, so that it is rendered once."""
    if message.rendered_version == VERSION:
        return message.rendered
    html = await rendered(message.content)
    await database_sync_to_async(_keep)(message, html)
    return html


def _keep(message: Any, html: str) -> None:
    """`html` stored as the message's rendering, if its text is still what was rendered
    (an administrator may have edited it since)."""
    type(message).objects.filter(pk=message.pk, content=message.content).update(
        rendered=html, rendered_version=VERSION
    )


# The most characters of Markdown one page renders (up to 30 µs each): past it, the rest of
# the replies not rendered yet (a large import's) are shown as written, until a later page.
PAGE_RENDER_CHARS = 100_000


def with_html(messages: list[Any]) -> None:
    """Each finished message's HTML on `message.html`. What had to be rendered now (an
    imported reply, an older renderer's) is stored, so no later page renders it again."""
    spent = 0
    for message in messages:
        if message.rendered_version == VERSION:
            message.html = message.rendered
            continue
        if spent and spent + len(message.content) > PAGE_RENDER_CHARS:
            message.html = _as_written(message.content)
            continue
        spent += len(message.content)
        message.html = render_markdown(message.content)
        _keep(message, message.html)


# A formula's delimiters, which markdown would read as escaped brackets, and LaTeX's
# escapes of characters that mean nothing to markdown (`x\,dx`, `\{a\}`, `50\%`).
MATH_ESCAPES = frozenset(
    ("\\(", "\\)", "\\[", "\\]", "\\{", "\\}", "\\,", "\\;", "\\:", "\\%", "\\&")
)


def _keep_math_escapes(state: Any) -> None:
    """`\\(x\\)` stays as written in plain words, as the rendered message shows it (a
    formula), not as `(x)`: markdown alone reads each as an escaped bracket; so does the
    `\\,` of `$x\\,dx$` (markdown alone would drop its backslash)."""
    for block in state.tokens:
        for token in block.children or ():
            if token.type == "text_special" and token.markup in MATH_ESCAPES:
                token.content = token.markup


@lru_cache(maxsize=1)
def _plain() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False})
    md.enable(["table", "strikethrough"])
    md.core.ruler.before("text_join", "keep_math_escapes", _keep_math_escapes)
    return md


# The most of a text `plain_text` renders: a snippet's worth, not a whole reply.
PLAIN_LIMIT = 2_000


_TEXT_ONLY = nh3.Cleaner(tags=set())


def plain_text(text: str) -> str:
    """What a reader sees of `text` (its first PLAIN_LIMIT characters) once rendered, as
    plain words: no `**`, no `#`. No highlighting: the words are all that is kept."""
    html = _plain().render(text[:PLAIN_LIMIT])
    return " ".join(unescape(_TEXT_ONLY.clean(html)).split())
