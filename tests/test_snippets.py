"""What a search result shows of the text it found: the words around the match."""

import sys
import time

from conversations import snippets
from conversations.snippets import around, found, marked, said_by, shown


def test_a_snippet_holds_a_few_words_before_its_match_cut_between_words() -> None:
    text = "alpha " * 30 + "needle" + " omega" * 30
    snippet = shown(text, "needle")
    assert snippet.startswith("…alpha ") and snippet.endswith(" omega…")
    assert len(snippet.split("needle")[0]) <= 41  # "…" and 40 characters
    assert shown("needle in a haystack", "needle") == "needle in a haystack"


def test_a_snippet_of_a_script_without_spaces_holds_fewer_characters_before_its_match() -> None:
    text = "我们在动物园的南边看见了很多有趣的动物。其中最可爱的是短尾矮袋鼠quokka"
    assert shown(text, "quokka") == "…其中最可爱的是短尾矮袋鼠quokka"


def test_a_snippet_is_never_cut_within_a_character_as_drawn() -> None:
    flags = shown("我们在" + "🇦🇺" * 25 + "看到了quokka", "quokka")
    run = flags.removeprefix("…").removesuffix("看到了quokka")
    assert flags.startswith("…") and run and run == "🇦🇺" * (len(run) // 2)
    family = "👨\u200d👩\u200d👧"
    accents = "e\u0301" * 30
    for text in (family * 10 + "quokka", accents + "quokka", "👍🏽" * 20 + "quokka"):
        cut = shown(text, "quokka").removeprefix("…")
        assert cut[0] not in "\u200d\u0301🏽" and text.endswith(cut), cut
        assert not cut.startswith("👩") or text.startswith(cut)


def test_the_words_are_found_in_any_case_where_a_lowercase_is_longer() -> None:
    text = "İSTANBUL İZMİR: a Quokka there?"
    start, end = found(text, "quokka") or (0, 0)
    assert text[start:end] == "Quokka"
    assert marked(text, "QUOKKA") == "İSTANBUL İZMİR: a <mark>Quokka</mark> there?"
    assert found("Maße", "masse") is None and marked("no match", "quokka") is None


def test_marked_text_is_escaped_around_its_mark() -> None:
    assert marked("<b>quokka</b>", "quokka") == "&lt;b&gt;<mark>quokka</mark>&lt;/b&gt;"


def test_the_rendered_part_around_a_match_is_bounded_and_unmarked() -> None:
    text = "x " * 1000 + "needle" + " y" * 1000
    near = around(text, "needle", 300, 300)
    assert "needle" in near and len(near) <= 606 and "…" not in near


def test_a_title_made_of_the_first_words_says_what_the_snippet_would() -> None:
    title = "Summarize the following text in three…"
    assert said_by(title, "Summarize the following text in three bullet points", "following")
    assert not said_by(title, "…three bullet points: otters are great swimmers", "swimmers")
    assert said_by("Tell me about  Quokkas", "tell me about quokkas", "quokkas")


def test_a_long_word_before_the_match_is_kept_whole_within_the_few_words() -> None:
    link = "https://example.org/animals/quokka"
    assert shown(link, "quokka") == link


def test_only_one_character_has_a_longer_lowercase() -> None:
    """What finding the words' place in the text as written rests on (`snippets.GROWS`)."""
    longer = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if not 0xD800 <= c < 0xE000 and len(chr(c).lower()) > 1
    ]
    assert longer == [snippets.GROWS]


def test_a_huge_message_of_odd_characters_is_cut_in_a_moment() -> None:
    """A search shows the words around a match in messages of up to a million characters:
    none of it may walk them character by character, or a few searches would hold a
    process for seconds."""
    million = 1_000_000
    for text in (
        "İ" * million + "findme",
        "🇦🇺" * (million // 2) + "findme",
        "findme" + "\u0301" * million,
        "x" * million + "\u200d" * million + "findme",
    ):
        started = time.process_time()
        near = around(text, "findme", 300, 300)
        snippet = shown(near, "findme")
        assert time.process_time() - started < 0.25, text[:3]
        assert "findme" in snippet and len(snippet) < 200, (text[:3], len(snippet))


def test_words_that_begin_with_an_accent_stay_in_their_snippet() -> None:
    text = "word " * 20 + "e" + "\u0301" * 50 + "\u0301x"
    assert "\u0301x" in shown(text, "\u0301x")
    assert marked(shown(text, "\u0301x"), "\u0301x") is not None
