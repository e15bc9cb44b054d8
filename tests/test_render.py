import asyncio
import re
import threading
import time
from html.parser import HTMLParser

import pytest

from conversations import render
from conversations.render import (
    ATTRIBUTES,
    FORCED,
    MATH_TAGS,
    RENDER_MAX_CHARS,
    TAGS,
    render_markdown,
)
from tests import math_corpus
from tests.xss_corpus import CORPUS

SAFE_SCHEMES = ("http://", "https://", "mailto:")


class Inspector(HTMLParser):
    """Every tag and attribute the rendering would put in a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def inspect(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Inspector()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("source", CORPUS + math_corpus.CORPUS)
def test_nothing_hostile_survives_the_server_renderer(source: str) -> None:
    for tag, attrs in inspect(render_markdown(source)):
        assert tag in TAGS, f"<{tag}> from {source!r}"
        for name, value in attrs.items():
            allowed = ATTRIBUTES.get(tag, set()) | set(FORCED.get(tag, {}))
            assert name in allowed or (tag == "a" and name == "rel"), name
            if name == "href":
                href = (value or "").strip().lower()
                assert href.startswith(SAFE_SCHEMES) or ":" not in href.split("/")[0], href


def test_images_become_links_and_are_not_loaded() -> None:
    html = render_markdown("![secret](https://evil.example/x.png?q=token)")
    assert "<img" not in html
    assert 'href="https://evil.example/x.png?q=token"' in html


def test_links_get_safe_rel_and_open_in_a_tab_of_their_own() -> None:
    html = render_markdown("[site](https://example.com)")
    assert 'target="_blank" rel="noopener noreferrer nofollow"' in html


def test_raw_html_in_code_is_shown_as_text() -> None:
    html = render_markdown("```html\n<script>alert(1)</script>\n```")
    assert "<script" not in html
    assert [tag for tag, _ in inspect(html)] == ["pre", "code"] + ["span"] * html.count("<span")
    text = HTMLParser()
    seen: list[str] = []
    text.handle_data = seen.append  # type: ignore[method-assign]
    text.feed(html)
    assert "".join(seen).strip() == "<script>alert(1)</script>"


def test_markdown_features_render() -> None:
    html = render_markdown(
        "# T\n\n- a\n- b\n\n|x|y|\n|-|-|\n|1|2|\n\n```python\nprint(1)\n```\n\n~~gone~~"
    )
    for tag in (
        '<h1 dir="ltr">',
        '<li dir="ltr">',
        '<table dir="ltr">',
        '<ul dir="ltr">',
        "<s>",
        'class="language-python"',
        '<span class="nb">print',
    ):
        assert tag in html


def test_table_alignment_becomes_a_class_and_blocks_read_in_their_own_direction() -> None:
    html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n\nمرحبا\n\n> quote\n")  # noqa: RUF001
    assert '<th class="align-left" dir="ltr">a</th>' in html
    assert '<td class="align-center">2</td>' in html  # no letter: the table's direction
    assert '<td class="align-right">3</td>' in html
    assert '<p dir="rtl">مرحبا</p>' in html and '<blockquote dir="ltr">' in html
    assert "style" not in html


def test_each_block_reads_in_the_direction_of_its_first_letter() -> None:
    """As dir="auto" would read it, but written out: with dir="auto" the browser looks
    through a block again at each element added inside it (a long table took seconds)."""
    html = render_markdown(
        "1. مرحبا world\n2. hello عالم\n   - ١٢٣ שלום\n\n"
        "**123** `كود` text\n\n$x$ نص\n\n42\n\n[رابط](https://example.com) ok"
    )
    assert '<ol dir="rtl">\n<li dir="rtl">مرحبا world</li>' in html
    assert '<li dir="ltr">hello عالم\n<ul dir="rtl">\n<li dir="rtl">١٢٣ שלום</li>' in html
    assert '<p dir="rtl"><strong>123</strong> <code>كود</code> text</p>' in html
    assert html.count('<p dir="ltr"><math') == 1 and "<p>42</p>" in html
    assert '<p dir="rtl"><a href="https://example.com"' in html
    # A number is no letter, whatever its kind.
    for number in ("²", "½", "Ⅻ", "٣"):
        assert render_markdown(f"{number} مرحبا") == '<p dir="rtl">' + number + " مرحبا</p>\n"
    # A block without a letter takes its parent's.
    assert render_markdown("- 1\n- 2") == "<ul>\n<li>1</li>\n<li>2</li>\n</ul>\n"


def test_a_reply_cannot_choose_its_own_classes_or_direction() -> None:
    for source in [*CORPUS, '<td class="x" dir="rtl" style="color:red">y</td>']:
        for tag, attrs in inspect(render_markdown(source)):
            assert attrs.get("dir") in (None, "ltr", "rtl"), (source, tag, attrs)
            assert "style" not in attrs
            if "class" in attrs and tag in ("th", "td"):
                assert attrs["class"] in ("align-left", "align-center", "align-right")
    assert [attrs for _, attrs in inspect(render_markdown('<p dir="rtl">x</p>'))] == [
        {"dir": "ltr"}
    ]


def test_plain_text_is_what_a_reader_sees() -> None:
    from conversations.render import plain_text

    assert plain_text("# Title\n\n**bold** and `code` & <b>tags</b>") == (
        "Title bold and code & <b>tags</b>"
    )
    # A formula's delimiters stay as typed (the message shows a formula); other escapes go.
    assert (
        plain_text("Is \\(e^{i\\pi}=-1\\)? \\[x\\] \\*no\\*")
        == "Is \\(e^{i\\pi}=-1\\)? \\[x\\] *no*"
    )
    # So do LaTeX's escapes of characters that mean nothing to markdown.
    assert plain_text("$$\\int_0^1 x\\,dx$$ on \\{a\\} \\_ \\#") == (
        "$$\\int_0^1 x\\,dx$$ on \\{a\\} _ #"
    )


@pytest.mark.parametrize("source", math_corpus.VALID)
def test_math_becomes_mathml(source: str) -> None:
    html = render_markdown(source)
    assert "<math" in html and "<strong>after</strong>" in html
    assert "math-source" not in html and "$" not in html


@pytest.mark.parametrize("source", math_corpus.BROKEN + math_corpus.HOSTILE)
def test_broken_or_hostile_math_is_inert_and_the_rest_of_the_reply_intact(source: str) -> None:
    html = render_markdown(source)
    assert "<strong>after</strong>" in html
    found = inspect(html)
    assert not any("href" in attrs for tag, attrs in found if tag != "a")
    assert not any(tag == "a" for tag, _ in found), "no link comes out of a formula"
    assert not any("style" in attrs or "class" in attrs for tag, attrs in found if tag != "code")
    assert "javascript" not in html.replace("javascript:alert", "")


def test_display_math_and_inline_math_keep_their_mode() -> None:
    assert '<math display="block">' in render_markdown("$$x$$")
    assert '<math display="inline">' in render_markdown("a $x$ b")
    # `\[…\]` within a line, as `$$…$$`: display math, the words around it kept.
    html = render_markdown(r"The area is \[A = \pi r^2\] for a circle.")
    assert '<math display="block">' in html and html.endswith(" for a circle.</p>\n")


def test_a_display_formula_s_line_keeps_every_word() -> None:
    """A number after a display formula, or a line after it starting with "(…)", stays
    (the plugin's rule for numbered formulas dropped them)."""
    cases = [("$$a$$ (2)", "(2)"), (r"\[a\] (1)", "(1)"), (r"\[a\] (a$b)", "(a$b)")]
    cases += [("\\[a\\]\n(x) more", "(x) more"), ("$$a$$\n(x) more", "(x) more")]
    for text, kept in cases:
        html = render_markdown(text)
        assert '<math display="block">' in html and kept in html, (text, html)


def test_math_past_its_bounds_is_shown_as_its_source() -> None:
    html = render_markdown("$" + "{" * 50 + "x" + "}" * 50 + "$")
    assert '<code class="math-source">' in html and "<math" not in html
    many = render_markdown("".join(f"$x_{{{i}}} + y^{{{i}}} = z_{{{i}}}$ " for i in range(3000)))
    assert many.count("<math") > 100 and '<code class="math-source">' in many  # the budget


@pytest.mark.parametrize(
    "source",
    [
        # Markup smuggled out of \text{} past the converter (as a CDATA section, then raw).
        r'$\text{</math><![CDATA[><span/class="popup-menu"><a/href="https://x.example">'
        r"sign in</a></span>]]>}$",
        r"$\text{</mtext><mpadded/voffset=99em>}$",
        r"$\hspace{20000px} x \rule{3000px}{3000px}$",
        # Text the converter copies out raw where nothing is rewritten (a tag, braces).
        "$$\\tag{</mtext><mfrac linethickness='900px'><mi>a</mi><mi>b</mi></mfrac><mtext>} x$$",
        "$\\text{{</mtext><mfrac\tlinethickness='900px'><mi>a</mi><mi>b</mi></mfrac><mtext>}$",
        r"$\tag{</mtext><mstyle scriptlevel='-100'><mi>HUGE</mi></mstyle><mtext>}$",
        "$\\emph{</mtext><mtable\tcolumnspacing='9000em'><mtr><mtd><mi>a</mi></mtd></mtr>"
        "</mtable><mtext>}$",
        r"$\genfrac{(}{)}{900em}{0}{a}{b}$",
        # Markup after a command in a text (a number's, or \text's own).
        r"$$x \tag{\relax </mtext><mi>INJ</mi><mtext>} y$$",
        r"$\text{a\relax </mtext><mi>INJ</mi><mtext>}$",
    ],
)
def test_a_formula_cannot_carry_markup_or_huge_lengths(source: str) -> None:
    html = render_markdown(source)
    found = inspect(html)
    assert {tag for tag, _ in found} <= {"p", "code"} | MATH_TAGS
    assert not any(attrs.get("class") not in (None, "math-source") for _, attrs in found)
    # (Written in a \text{}, the markup is text: shown, escaped, and nothing else.)
    assert not any("voffset" in attrs for _, attrs in found)
    values = " ".join(str(value) for _, attrs in found for value in attrs.values())
    assert "20000" not in values and "3000" not in values
    assert "900" not in values and "9000" not in values and "-100" not in values
    assert "<mi>INJ</mi>" not in html


def test_text_in_a_formula_reads_as_written() -> None:
    """The converter copies `\\text{…}` out as written: "50\\%" kept its backslash, and a
    `<` in it showed the formula as its source, where the page drew it. A command that
    only starts like one (`\\textstyle`) and an escaped backslash are left as they are."""
    html = render_markdown(r"Tax $\text{50\%}$ and $\text{<5 \& up}$")
    assert "<mtext>50%</mtext>" in html and "<mtext>&lt;5&nbsp;&amp;&nbsp;up</mtext>" in html
    assert "\\%" not in html and "math-source" not in html
    styled = render_markdown(r"Growth was $\textstyle{12\%} + x$ in 2023")
    assert "<mn>12</mn><mi>%</mi>" in styled and "<mi>x</mi>" in styled  # the rest kept
    assert "<mtext>a\\\\%b</mtext>" in render_markdown(r"$\text{a\\%b}$")
    # Escaped braces are braces (the converter ended the text at the first one).
    assert "<mtext>set&nbsp;{1,&nbsp;2}</mtext>" in render_markdown(r"$\text{set \{1, 2\}}$")
    # An equation's number stands apart from it, its text as written.
    tagged = render_markdown(r"$$E = mc^2 \tag{1 < 2}$$")
    assert '<mspace width="2em"></mspace><mtext>(1&nbsp;&lt;&nbsp;2)</mtext>' in tagged
    # What follows an environment's opening is kept: `{3}` is not a column count there.
    assert "<mn>3</mn>" in render_markdown(r"$$\begin{aligned}{3} x &= 1\end{aligned}$$")
    # After a line break (`\\\\`), letters are letters: not a command to refuse.
    assert "math-source" not in render_markdown(r"$\begin{matrix}a\\data\end{matrix}$")


def test_a_table_s_last_row_and_an_aligned_row_s_tag_are_drawn_as_written() -> None:
    """The converter dropped a last row that ends in an empty cell, and numbered a tagged
    row of `align` twice ("(a)" and "(1)"); the page drew both as LaTeX does."""
    text = lambda html: re.sub(r"<[^>]+>", " ", html).split()  # noqa: E731
    assert text(render_markdown(r"$$\begin{pmatrix}a & b \\ c & \end{pmatrix}$$")) == [*"(abc)"]
    tagged = render_markdown(r"$$\begin{align}a &= b \tag{a} \\ c &= d\end{align}$$")
    assert text(tagged) == ["a", "=", "b", "(a)", "c", "=", "d", "(1)"]
    # Elsewhere a tag is as it was: beside its equation (a tag in align* too).
    assert text(render_markdown(r"$$\begin{align*}a &= b \tag{a}\end{align*}$$"))[-1] == "(a)"
    assert "notag" not in render_markdown(r"$$x \tag{1}$$")


def test_unknown_commands_and_links_are_shown_as_written_as_the_browser_does() -> None:
    for source in (r"$\unknowncmd{x}$", r"$\url{javascript:x}$", r"$\href{https://x}{y}$"):
        assert '<code class="math-source">' in render_markdown(source), source


def test_bare_urls_become_links_with_the_same_rel() -> None:
    html = render_markdown("see https://example.com/a?b=1 and www.example.org.")
    assert (
        '<a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer nofollow">'
        "https://example.com/a?b=1</a>" in html
    )
    assert 'href="http://www.example.org"' in html
    assert "<a" not in render_markdown("`https://example.com` and javascript:alert(1)")


def test_task_lists_are_disabled_checkboxes() -> None:
    html = render_markdown("- [ ] to do\n- [x] done\n\n- <input type=text> [x] no")
    assert html.count('type="checkbox"') == 2 and html.count('disabled="disabled"') == 2
    assert html.count(" checked") == 1
    assert 'type="text"' not in html


def test_a_text_past_the_limit_is_shown_as_written_its_paragraphs_kept() -> None:
    """The parser can take seconds on a long text built to be slow (an imported reply)."""
    text = "<b>**not bold**</b>\n \nsecond line\nthird " + "[" * RENDER_MAX_CHARS
    html = render_markdown(text)
    assert html == (
        '<p dir="ltr">&lt;b&gt;**not bold**&lt;/b&gt;</p>'
        f'<p dir="ltr">second line<br>third {"[" * RENDER_MAX_CHARS}</p>'
    )
    assert "<strong>" in render_markdown("**bold**" + " " * (RENDER_MAX_CHARS - 8))


async def test_finished_replies_are_rendered_one_at_a_time_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rendering is the interpreter's work alone: a second thread would not render sooner,
    only take the interpreter from the event loop more often. A long text is rendered
    beside, so that one built to be slow holds up no one else's."""
    seen: list[tuple[str, int]] = []

    def slowly(text: str) -> str:
        seen.append((threading.current_thread().name, len(seen)))
        time.sleep(0.05)  # were two threads rendering, both would be here at once
        seen.append((threading.current_thread().name, len(seen)))
        return text

    monkeypatch.setattr(render, "render_markdown", slowly)
    short = [f"{n}" for n in range(3)]
    assert await asyncio.gather(*(render.rendered(text) for text in short)) == short
    names = {name for name, _ in seen}
    assert len(names) == 1 and names.pop().startswith("render")
    assert [at for _, at in seen] == list(range(6))  # one after another, never interleaved
    seen.clear()
    long = "x" * (render.SHORT_CHARS + 1)
    assert await asyncio.gather(render.rendered(long), render.rendered("short")) == [long, "short"]
    # Both were rendering at once (the first two marks are both arrivals), one elsewhere.
    first, second = seen[0][0], seen[1][0]
    assert first != second and not (first.startswith("render") and second.startswith("render"))


def test_formulas_past_a_bound_are_not_read_as_math() -> None:
    """Each `\\(` sends the math reader through the rest of the paragraph for its end: a
    text of tens of thousands of them would hold a renderer for many seconds."""
    fine = " ".join([r"\(x\)"] * render.MATH_OPENERS_MAX)
    assert render_markdown(fine).count("<math") == render.MATH_OPENERS_MAX
    many = fine + r" \(y\)"
    html = render_markdown(many)
    assert "<math" not in html and html.count("(x)") == render.MATH_OPENERS_MAX
    # `$$` as well, whose reading in the page's plugin is as slow
    assert "<math" not in render_markdown(fine.replace(r"\(x\)", "$$x$$", 1))
    assert "<math" not in render_markdown(fine + r" \[y\]")  # and `\[`
    # An opener is read over a formula's bound at most (markdown-it reads an image's label
    # again for each image it is in): past it, text, not a formula shown as its source.
    for opening, closing in ((r"\(", r"\)"), (r"\[", r"\]")):
        formula = "x" * render.MATH_MAX_CHARS
        assert "<math" in render_markdown(f"a {opening}{formula}{closing} b")
        html = render_markdown(f"a {opening}{formula}x{closing} b")
        assert "<math" not in html and "math-source" not in html


def test_task_boxes_past_a_bound_are_not_read_as_boxes() -> None:
    """The task list plugin looks for each box's list back through every item before it:
    12,500 items took 13 s, and as long with each box on the line after its marker, or with
    a few boxes after thousands of plain items."""
    bound = render.LIST_ITEMS_MAX
    tasks = "- [ ] a\n" * (bound - 2) + "> 1. [x] b\n" + "-\n  [ ] c\n"
    assert render_markdown(tasks).count("<input") == bound
    for more in ("- [x] d\n", "*\n", "2) plain\n"):
        html = render_markdown(tasks + more)
        assert "<input" not in html and html.count("[ ] a") == bound - 2
    # The plugin is not run at all on these (8.3 s and 2.8 s with it).
    for slow in [("-\n  [ ] a\n" * 11_000)[:100_000], "- a\n" * 23_000 + "- [ ] a\n" * 400]:
        assert "<input" not in render_markdown(slow)
