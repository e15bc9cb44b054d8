"""Math and the rest of a reply's markdown in Chromium: rendered as it streams (Temml,
highlight.js, linkify, task lists under DOMPurify), then replaced by the server's rendering.
Every prefix of a formula, as a stream shows it, renders without breaking the rest; hostile
math stays inert; the Content-Security-Policy is not touched (no violation is reported)."""

from typing import Any

import pytest

from tests import math_corpus
from tests.helpers import say, share_link, sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.browser

# Renders each text and each of its prefixes (cut every few characters, as deltas arrive)
# with the page's own renderer; reports anything unsafe and what the whole text became.
PREFIXES = """async (texts) => {
  const src = document.querySelector('script[type=module][src*="chat"]').src;
  const { loadExtras, showMarkdown } = await import(new URL("render.js", src).href);
  await loadExtras();
  const host = document.createElement("div");
  host.className = "markdown";
  document.body.append(host);
  const unsafe = (root) => {
    const bad = [];
    for (const el of root.querySelectorAll("*")) {
      const tag = el.localName;
      if (["script", "img", "iframe", "svg", "style", "a"].includes(tag) && !(tag === "a" && el.closest("p, li"))) bad.push(tag);
      if (tag === "a" && el.closest("math")) bad.push("a in math");
      for (const attr of el.getAttributeNames()) {
        if (attr.startsWith("on") || attr === "style" || (attr === "href" && tag !== "a")) bad.push(`${tag}[${attr}]`);
      }
      if (tag === "input" && !(el.type === "checkbox" && el.disabled)) bad.push("input");
      if (el.namespaceURI === "http://www.w3.org/1998/Math/MathML" && /(?:^|\\s)(?!tml-)\\S/.test(el.getAttribute("class") || "")) bad.push(`${tag}.class`);
    }
    return bad;
  };
  const results = [];
  for (const text of texts) {
    const bad = [];
    const step = Math.max(1, Math.floor(text.length / 60));
    for (let end = 1; end <= text.length; end += step) {
      showMarkdown(host, text.slice(0, end));
      bad.push(...unsafe(host));
    }
    showMarkdown(host, text);
    bad.push(...unsafe(host));
    results.push({
      bad,
      math: host.querySelectorAll("math").length,
      source: host.querySelectorAll("code.math-source").length,
      after: [...host.querySelectorAll("strong")].some((s) => s.textContent === "after"),
    });
  }
  host.remove();
  return results;
}"""


def shown(page: Any, texts: list[str], probe: str) -> list[Any]:
    """Each text as the page's renderer shows it, and what `probe` (a JavaScript
    expression of `host`, the element showing it) finds there."""
    return page.evaluate(
        "async (texts) => {"
        "  const src = document.querySelector('script[type=module][src*=\"chat\"]').src;"
        "  const { loadExtras, showMarkdown } = await import(new URL('render.js', src).href);"
        "  await loadExtras();"
        "  const host = document.createElement('div');"
        "  return texts.map((text) => {"
        "    showMarkdown(host, text);"
        f"    return {probe};"
        "  });"
        "}",
        texts,
    )


def test_math_renders_while_streaming_and_hostile_math_stays_inert(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "euler")
    results = page.evaluate(PREFIXES, math_corpus.CORPUS)
    for source, result in zip(math_corpus.CORPUS, results, strict=True):
        assert result["bad"] == [], (source[:60], result["bad"][:5])
        assert result["after"], source[:60]  # the rest of the reply is intact
    for source, result in zip(math_corpus.VALID, results, strict=False):
        assert result["math"] >= 1 and result["source"] == 0, source
    assert page.problems == [] and page.foreign == []


def test_a_streamed_reply_shows_math_links_tasks_and_colours_before_it_ends(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "gauss")
    reply = (
        "Sum $\\sum_{i=1}^{n} i$ and \\(x^2\\), see https://example.com/docs now.\n\n"
        "- [x] done\n- [ ] todo\n\n```python\ndef f(x):\n    return 'y'\n```\n\n"
        + " ".join(["more"] * 60)
    )
    page.fill("#prompt", f"[sim repeat delay=40] {reply}")
    page.press("#prompt", "Enter")
    streaming = 'article.message.assistant[data-status="streaming"]'
    page.wait_for_selector(f"{streaming} .content pre code span.k", timeout=15_000)
    live_view = page.locator(streaming)
    assert live_view.locator("math").count() == 2
    link = live_view.locator('.content a[href="https://example.com/docs"]')
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert link.get_attribute("target") == "_blank"  # the conversation stays where it was
    assert live_view.locator("input[type=checkbox][disabled]").count() == 2
    # The keyword's colour while streaming is the server's (Pygments' `.k`).
    colour = page.evaluate(
        "s => getComputedStyle(document.querySelector(s + ' pre code span.k')).color",
        streaming,
    )
    assert colour.startswith("rgb")
    page.wait_for_selector(streaming, state="detached", timeout=30_000)
    done = page.locator("article.message.assistant").last
    assert done.locator("math").count() == 2
    assert (
        done.locator("pre code span.k").first.evaluate("e => getComputedStyle(e).color") == colour
    )
    page.reload()
    assert page.locator("article.message.assistant math").count() == 2
    assert page.problems == [] and page.foreign == []


def test_a_reply_that_ends_before_its_last_paint_keeps_the_server_s_math(
    page: Any, live: LiveServer
) -> None:
    """A quick reply's end can come before its last deltas are painted (a busy phone's
    frames come late): the server's rendering, math and all, is what stays."""
    sign_up(page, live, "riemann")
    page.evaluate(
        "window.requestAnimationFrame = (paint) => setTimeout(paint, 400);"
        "window.cancelAnimationFrame = clearTimeout;"
    )
    page.fill("#prompt", "[sim repeat delay=1] Energy $$E=mc^2$$ and \\(\\alpha_1\\) now")
    page.press("#prompt", "Enter")
    page.wait_for_selector('article.message.assistant[data-status="complete"]', timeout=15_000)
    page.wait_for_timeout(1_000)  # any paint still waiting has come
    reply = page.locator("article.message.assistant").last
    assert reply.locator("math").count() == 2
    assert "$$" not in reply.locator(".content").inner_text()
    assert page.problems == [] and page.foreign == []


def test_display_math_is_drawn_in_a_math_font_with_large_operators(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "leibniz")
    say(page, "[sim repeat] Inline $\\int f$ and\n\n$$\\int_0^1 x^2\\,dx = \\sum_{n=1}^{3} n$$")
    page.wait_for_function("() => document.fonts.status === 'loaded'")
    # The page's own math font, whatever the device has: loaded because math shows.
    loaded = page.evaluate(
        "() => [...document.fonts].filter(f => f.family.includes('STIX Two Math'))"
        ".map(f => f.status)"
    )
    assert loaded == ["loaded"]
    heights = page.evaluate(
        """() => [...document.querySelectorAll('.message.assistant math')].map(m =>
             [...m.querySelectorAll('mo')].find(o => o.textContent === '∫')
               .getBoundingClientRect().height)"""
    )
    inline, display = heights
    # A display integral is drawn from the font's larger variant, not at the text's size.
    assert display > 1.5 * inline, heights
    assert page.problems == []


def test_math_shows_on_the_share_page(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "noether")
    say(page, "[sim repeat] The identity $e^{i\\pi}+1=0$ holds.")
    link = share_link(page)
    page.goto(link)
    assert page.locator(".message.assistant math").count() == 1
    assert page.problems == []


TITLED = [
    "Why is \\(e^{i\\pi}+1=0\\) true? [sim repeat]",
    "Solve \\[x^2 = 2\\] and \\*keep\\* this",
    "show $E=mc^2$ and $$\\int_0^1 x\\,dx$$ on \\{a\\}; 50\\% \\& \\_",
]


def test_a_title_keeps_a_formula_s_delimiters_as_written(page: Any, live: LiveServer) -> None:
    """A first message's formula is named in its title as typed, `\\(…\\)` and all, by the
    page at once and by the server after: markdown alone reads `\\(` as an escaped `(`."""
    from conversations.render import plain_text

    sign_up(page, live, "de-moivre")
    src = page.evaluate(
        "async (texts) => {"
        "  const src = document.querySelector('script[type=module][src*=\"chat\"]').src;"
        "  const { plainText } = await import(new URL('render.js', src).href);"
        "  return texts.map(plainText);"
        "}",
        TITLED,
    )
    assert src == [plain_text(text) for text in TITLED]
    assert src[1] == "Solve \\[x^2 = 2\\] and *keep* this"
    say(page, TITLED[0])
    expected = "Why is \\(e^{i\\pi}+1=0\\) true? [sim repeat]"
    assert page.locator("#title").inner_text() == expected
    page.reload()
    assert page.locator("#title").inner_text() == expected
    assert page.locator(".conversation-list a", has_text="\\(e^{i\\pi}").count() == 1
    assert page.problems == []


def test_formulas_and_task_boxes_past_a_bound_are_read_as_text_while_streaming(
    page: Any, live: LiveServer
) -> None:
    """The page re-renders a streaming reply at every frame, and markdown-it-texmath looks
    for the end of each `\\(` and `$$` through the rest of the text: a reply of thousands
    of them would hold the page (a share's viewer's too). Past render.py's bound, the page
    reads a text without math, as the server does; and so with task boxes, whose plugin
    looks back through every item for each."""
    from conversations import render

    bound = render.MATH_OPENERS_MAX
    # 100 `\(` and 100 `$$` (a closing one counted too, as the page cannot tell them apart)
    fine = " ".join([r"\(x\)"] * (bound // 2) + ["$$y$$"] * (bound // 4))
    tasks = "- [ ] a\n" * (render.LIST_ITEMS_MAX - 1) + "-\n  [ ] b\n"
    texts = [fine, fine + r" \(z\)", fine + " $$z$$", r"\( a " * 15_000 + "**after**"]
    texts += [fine + r" \[z\]", r"A sum \[x + y\] in a sentence, **bold**"]
    texts += [
        r"\[" + "x" * (render.MATH_MAX_CHARS + 1) + r"\] \(" + "y" * render.MATH_MAX_CHARS + r"\)"
    ]
    texts += ["> \\[a\n\n**b**\\]"]  # opened in a quote, closed after it: no formula
    # A formula's number is kept; a formula's characters are counted as Python counts them.
    texts += ["$$a$$ (**2**)", r"a \(" + "\N{MATHEMATICAL ITALIC SMALL X}" * 1500 + r"\) b"]
    texts += [tasks, tasks + "- c"]
    sign_up(page, live, "cauchy")
    counts = shown(
        page,
        texts,
        "[host.querySelectorAll('math').length, host.querySelectorAll('strong').length,"
        " host.querySelectorAll('input').length]",
    )
    boxes = render.LIST_ITEMS_MAX
    assert counts == [
        [bound * 3 // 4, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
        [1, 1, 0],
        [1, 0, 0],
        [0, 1, 0],
        [1, 1, 0],
        [1, 0, 0],
        [0, 0, boxes],
        [0] * 3,
    ]
    assert [
        [html.count("<math"), html.count("<strong"), html.count("<input")]
        for html in map(render.render_markdown, texts)
    ] == counts
    assert page.problems == []


# A reply slow to lay out streams for four seconds: thousands of code spans in one
# paragraph (a paint of 10,000 took a second). The page's long tasks, as Chromium reports
# them, against the time that passed.
SLOW_TO_PAINT = """async () => {
  const src = document.querySelector('script[type=module][src*="chat"]').src;
  const { StreamedMessage } = await import(new URL('render.js', src).href);
  const article = document.createElement('article');
  article.innerHTML = '<div class="role"></div><div class="content"></div>';
  document.body.append(article);
  const message = new StreamedMessage(article);
  let busy = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) busy += entry.duration;
  }).observe({ type: 'longtask' });
  const started = performance.now();
  let seq = 0;
  let spans = 0;
  while (spans < 10000) {
    // 10,000 spans at 2,500 a second, however late this turn comes
    const due = Math.min(10000, Math.floor((performance.now() - started) * 2.5)) - spans;
    message.delta({ seq: ++seq, content: '`a` '.repeat(due) });
    spans += due;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  return { busy, elapsed: performance.now() - started, spans };
}"""


def test_a_reply_slow_to_paint_leaves_the_page_usable_while_it_streams(
    page: Any, live: LiveServer
) -> None:
    """Each paint of a streaming reply that took long waits four times as long before the
    next: the page answers in between (it was busy all along, a paint after another)."""
    sign_up(page, live, "knuth")
    result = page.evaluate(SLOW_TO_PAINT)
    assert result["busy"] < 0.5 * result["elapsed"], result
    assert page.problems == []


# Where a formula ends, which the two plugins once read differently (across a line break,
# a `$` inside).
ACROSS = [
    "\\(a\nb\\) **after**",
    "$a\nb$ **after**",
    "$a $b$ **after**",
    "$a$b$ and $c$ **after**",
    "$x$ and $ y$ and $z $ **after**",
    "$$a\nb$$ **after**",
    "\\[a\nb\\] **after**",
    "$5 and $10, $\\$ **after**",
    "$$\\begin{align} a &= b \\\\ c &= d \\end{align}$$\n\n**after**",
    "$$\\begin{split} a &= b \\\\ c &= d \\end{split}$$\n\n**after**",
    "$$E = mc^2 \\tag{1}$$\n\n**after**",
]
IN_TEXT = [
    r"Tax $\text{50\%}$ and $\text{<5 \& up}$ **after**",
    r"Price $\textbf{\$5}$ **after**",
    r"Then $\mbox{a>b}$ **after**",
    r"Under $\text{a\_b}$ **after**",
    r"The set $\text{\{1, 2\}}$ **after**",
]


def test_the_page_reads_formulas_where_the_server_does(page: Any, live: LiveServer) -> None:
    """A streaming reply is shown by the page's renderer and then replaced by the server's:
    a formula read by one and not the other would turn from text to math (or back) as the
    reply ends. Both read the same formulas: across a line break, with text in them, and
    hostile ones. (Past 200 formulas the page shows the rest as written until the end.)"""
    from conversations import render

    texts = [*math_corpus.CORPUS, *ACROSS, *IN_TEXT]
    server = {text: render.render_markdown(text) for text in texts}
    texts = [text for text in texts if server[text].count("<math") <= 200]
    sign_up(page, live, "dirichlet")
    counts = shown(
        page, texts, "[host.querySelectorAll('math').length, host.textContent.includes('after')]"
    )
    differ = [
        (text[:40], seen, server[text].count("<math"))
        for text, seen in zip(texts, counts, strict=True)
        if seen != [server[text].count("<math"), "after" in server[text]]
    ]
    assert differ == [], "\n".join(map(repr, differ))
    assert page.problems == []


def test_a_table_s_last_row_and_a_tagged_row_read_on_the_page_as_on_the_server(
    page: Any, live: LiveServer
) -> None:
    """The counterpart of test_render's: a last row ending in an empty cell is drawn, and
    a tagged row of `align` carries its tag alone, the next row number (1)."""
    sign_up(page, live, "cramer")
    found = shown(
        page,
        [
            r"$$\begin{pmatrix}a & b \\ c & \end{pmatrix}$$",
            r"$$\begin{align}a &= b \tag{a} \\ c &= d\end{align}$$",
        ],
        "[host.textContent, host.querySelectorAll('.tml-eqn').length]",
    )
    assert found == [["(abc)", 0], ["a=b(a)c=d", 1]]
    assert page.problems == []


def test_a_formula_s_lengths_and_script_levels_are_bounded_on_the_page(
    page: Any, live: LiveServer
) -> None:
    """A line 900em thick would cover the conversation: past a few em a length goes, as
    render.py's go, and the ones formulas need stay."""
    sign_up(page, live, "fourier")
    found = shown(
        page,
        [
            r"$\genfrac{(}{)}{900em}{0}{a}{b}$",
            r"$\genfrac{(}{)}{2pt}{0}{a}{b}$",
            r"$\binom{n}{k}$ and $\scriptstyle x$",
        ],
        "[...host.querySelectorAll('[linethickness], [scriptlevel]')]"
        ".map((e) => `${e.getAttribute('linethickness')} ${e.getAttribute('scriptlevel')}`)",
    )
    assert found == [["null 0"], ["null 0", "1.9925pt null"], ["0px null", "null 1"]]
    assert page.problems == []


def test_a_long_formula_in_a_line_scrolls_with_its_paragraph_on_a_phone(
    browser: Any, live: LiveServer
) -> None:
    """A formula within a line cannot wrap: on a phone one wider than the screen scrolls
    sideways in its paragraph, not the whole conversation."""
    phone = browser.new_context(
        base_url=live.url, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = phone.new_page()
    sign_up(page, live, "bernoulli")
    terms = "+".join(f"a_{{{i}}}^{{2}}" for i in range(1, 13))
    say(page, f"[sim repeat] The sum ${terms}$ is long, and \\(x^2\\) is short.\n\n- and ${terms}$")
    reply = page.locator("article.message.assistant .content p").first
    assert reply.evaluate("p => p.scrollWidth > p.clientWidth")  # wider than the screen
    # In a list, the formula scrolls by itself: its item's bullet stays in view.
    item = page.locator("article.message.assistant .content li math")
    assert item.evaluate("m => m.scrollWidth > m.clientWidth")
    assert page.locator("article.message.assistant .content li").evaluate(
        "li => li.scrollWidth <= li.clientWidth"
    )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    thread = page.locator("#thread")
    assert thread.evaluate("t => t.scrollWidth <= t.clientWidth")
    phone.close()


def test_a_boxed_answer_and_aligned_steps_are_drawn_while_streaming_and_after(
    page: Any, live: LiveServer
) -> None:
    """Models box a final answer and align their working step by step: the box is drawn
    and the steps are rows, as the reply streams (the page's rendering) and once it has
    ended (the server's), where they showed as their source."""
    sign_up(page, live, "pythagoras")
    page.fill(
        "#prompt",
        "[sim repeat delay=30] So\n\n$$\\begin{aligned} f(x) &= 2 + 2 \\\\ &= 4 \\end{aligned}$$\n\n"
        "and the answer is $\\boxed{4}$, " + " ".join(["indeed"] * 40),
    )
    page.press("#prompt", "Enter")
    # The rows, where each row's "=" is (one place: aligned), the box, no source shown.
    look = """a => [
      a.querySelectorAll('mtr').length,
      new Set([...a.querySelectorAll('mtr')].map(r => Math.round(
        [...r.querySelectorAll('mo')].find(o => o.textContent === '=').getBoundingClientRect().x))).size,
      [...a.querySelectorAll('menclose, .tml-boxed')].map(e => getComputedStyle(e).borderTopWidth),
      a.querySelectorAll('.math-source').length]"""
    streaming = page.locator('article.message.assistant[data-status="streaming"]')
    page.wait_for_selector('article.message.assistant[data-status="streaming"] .tml-boxed')
    assert streaming.evaluate(look) == [2, 1, ["1px"], 0]
    done = page.locator('article.message.assistant[data-status="complete"]')
    done.wait_for()
    assert done.evaluate(look) == [2, 1, ["1px"], 0]
    assert page.problems == [] and page.foreign == []
