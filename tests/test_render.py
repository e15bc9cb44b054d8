import pytest

from conversations.render import render_markdown

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt&#58;alert(1))",
    "<svg onload=alert(1)>",
    "<iframe src=https://evil.example></iframe>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "```html\n<script>alert(1)</script>\n```",
    '<a href="https://evil.example" onclick="alert(1)">x</a>',
]


@pytest.mark.parametrize("source", HOSTILE)
def test_nothing_hostile_survives(source: str) -> None:
    html = render_markdown(source).lower()
    assert "<script" not in html
    assert "onerror" not in html or "&lt;img" in html
    assert "javascript:" not in html.replace("[click](javascript:alert(1))", "")
    assert "<iframe" not in html and "<svg" not in html
    assert 'href="data:' not in html


def test_images_become_links_and_are_not_loaded() -> None:
    html = render_markdown("![secret](https://evil.example/x.png?q=token)")
    assert "<img" not in html
    assert 'href="https://evil.example/x.png?q=token"' in html


def test_links_get_safe_rel() -> None:
    html = render_markdown("[site](https://example.com)")
    assert 'rel="noopener noreferrer nofollow"' in html


def test_markdown_features_render() -> None:
    html = render_markdown(
        "# T\n\n- a\n- b\n\n|x|y|\n|-|-|\n|1|2|\n\n```python\nprint(1)\n```\n\n~~gone~~"
    )
    for tag in (
        "<h1>",
        "<li>",
        "<table>",
        "<s>",
        'class="language-python"',
        '<span class="nb">print',
    ):
        assert tag in html
