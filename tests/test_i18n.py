"""The interface in the reader's language: no sentence of a template or a script left out of
the catalogs, every catalog complete, the language chosen by the browser or the person, the
document's direction, and numbers and dates in the reader's way."""

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import django
import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import formats, translation

from tests.helpers import logged_in, open_socket
from webchat.models import User

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("zh_Hans", "es", "ar")
TEMPLATES = sorted((ROOT / "templates").rglob("*.html")) + sorted(
    (ROOT / "templates").rglob("*.txt")
)
SCRIPTS = sorted((ROOT / "static" / "js").glob("*.js"))
# Read the same in every language: names of keys, the product, marks.
UNTRANSLATED_WORDS = {
    "webchat",
    "Grok",
    "Enter",
    "Shift",
    "Esc",
    "Ctrl",
    "K",
    "O",
    "MB",
    "CSV",
    "wc-",
}


def _without_template_code(text: str) -> str:
    text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", " ", text, flags=re.S)
    # The page's classes, not words.
    text = re.sub(r"{%\s*block body_class\s*%}.*?{%\s*endblock\s*%}", " ", text, flags=re.S)
    text = re.sub(r"{%\s*blocktranslate.*?{%\s*endblocktranslate\s*%}", " ", text, flags=re.S)
    text = re.sub(r"{#.*?#}", " ", text, flags=re.S)
    text = re.sub(r"{%.*?%}|{{.*?}}", " ", text, flags=re.S)
    # What is code, not prose: scripts, drawings, shell examples, key names.
    text = re.sub(r"<(script|style|svg|pre|kbd|code)\b.*?</\1>", " ", text, flags=re.S | re.I)
    return re.sub(r"&\w+;", " ", text)


def _sentences(text: str) -> list[str]:
    words = re.findall(r"[^\W\d_][\w'\u2019.-]*", text)
    return [w for w in words if w not in UNTRANSLATED_WORDS]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_sentence_of_a_template_is_marked_for_translation(template: Path) -> None:
    source = template.read_text()
    if template.suffix == ".txt":
        bare = _without_template_code(source)
        assert _sentences(bare) == [], f"{template.name}: {bare.strip()[:200]}"
        return
    bare = _without_template_code(source)
    visible = ("aria-label", "title", "placeholder", "alt", "label")
    for name, value in re.findall(r'\b([\w-]+)="([^"]*)"', bare):
        if name in visible or name.startswith("data-confirm") or name == "data-busy":
            assert _sentences(value) == [], f"{template.name}: {name}=“{value}”"
    text = re.sub(r"<[^>]*>", " ", bare)
    assert _sentences(text) == [], f"{template.name}: “{' '.join(_sentences(text))[:200]}”"


# A string put where a person reads it: an element's text, a title, a dialog's words, an
# error shown. Such a string must go through gettext (or ngettext).
SHOWN = re.compile(
    r"(textContent\s*=|title\s*[:=]|\btext\s*:|label\s*:|confirm\s*:|placeholder\s*=|"
    r"setAttribute\(\s*\"aria-label\",|showError\(|message\(|note\(|problem\(|"
    r"new Error\(|\bfail\([^,]+,)\s*(\"[^\"]*\"|'[^']*'|`[^`]*`)"
)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_sentence_of_a_script_is_marked_for_translation(script: Path) -> None:
    found = []
    for number, line in enumerate(script.read_text().splitlines(), 1):
        for match in SHOWN.finditer(line):
            literal = re.sub(r"\$\{[^}]*\}", " ", match.group(2)[1:-1])
            if _sentences(literal):
                found.append(f"{script.name}:{number}: {line.strip()}")
    assert found == []


def test_the_unmarked_string_check_finds_one() -> None:
    """The checks above fail on what they are for (so that they cannot pass for nothing)."""
    assert _sentences(re.sub(r"<[^>]*>", " ", _without_template_code("<p>Hello there</p>")))
    assert SHOWN.search('button.textContent = "Saved";')
    assert not SHOWN.search('button.textContent = gettext("Saved");')


def _catalogs() -> list[Path]:
    return sorted((ROOT / "locale").glob("*/LC_MESSAGES/*.po"))


def test_every_language_has_both_catalogs() -> None:
    names = {(p.parent.parent.name, p.stem) for p in _catalogs()}
    assert names == {(lang, d) for lang in LANGUAGES for d in ("django", "djangojs")}


@pytest.mark.parametrize("catalog", _catalogs(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_a_shipped_catalog_is_complete_and_not_fuzzy(catalog: Path) -> None:
    po = polib.pofile(str(catalog))
    assert not po.metadata_is_fuzzy
    assert po.untranslated_entries() == [] and po.fuzzy_entries() == []
    assert po.obsolete_entries() == []
    assert po.percent_translated() == 100


def _gettext_tools() -> None:
    if shutil.which("xgettext") and shutil.which("msgfmt"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI needs GNU gettext (xgettext, msgfmt)")
    pytest.skip("GNU gettext is not installed (apt-get install gettext)")


@pytest.mark.parametrize("catalog", _catalogs(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_a_catalog_compiles_with_its_placeholders_checked(catalog: Path) -> None:
    _gettext_tools()
    done = subprocess.run(
        ["msgfmt", "--check", "-o", os.devnull, str(catalog)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_the_catalogs_hold_every_sentence_of_the_code(tmp_path: Path) -> None:
    """The catalogs made afresh from the code hold nothing the shipped ones lack: a new
    sentence must be translated (`make translations`) before it lands."""
    _gettext_tools()
    for part in ("templates", "static/js", "conversations", "webchat", "api", "locale"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("*.mo"))
    shutil.copy(ROOT / "manage.py", tmp_path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    for domain in ("django", "djangojs"):
        subprocess.run(
            [
                str(Path(os.sys.executable)),
                "manage.py",
                "makemessages",
                "-l",
                "es",
                "-d",
                domain,
                "--no-location",
                "--no-obsolete",
                "--ignore=static/vendor",
            ],
            cwd=tmp_path,
            env=env,
            check=True,
            capture_output=True,
        )
        fresh = {
            e.msgid for e in polib.pofile(str(tmp_path / f"locale/es/LC_MESSAGES/{domain}.po"))
        }
        shipped = {e.msgid for e in polib.pofile(str(ROOT / f"locale/es/LC_MESSAGES/{domain}.po"))}
        assert fresh - shipped == set(), f"not in the {domain} catalogs: {sorted(fresh - shipped)}"


# Django's Spanish addresses a person as "usted"; the interface says "tú".
USTED = re.compile(r"\b(Su contraseña|[Ii]ntrodu[cz]+a|Asegúrese|Escoja|vuelva a|Observe que)\b")


def _framework_sentences() -> list[tuple[str, ...]]:
    """The msgids webchat/framework_sentences.py lists: each call's string arguments."""
    tree = ast.parse((ROOT / "webchat" / "framework_sentences.py").read_text())
    return [
        tuple(a.value for a in node.args if isinstance(a, ast.Constant) and " " in a.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") != "tuple"
    ]


def test_django_s_sentences_on_a_person_s_pages_speak_as_the_interface_does() -> None:
    django_root = Path(django.__file__).parent
    theirs = [
        polib.pofile(str(django_root / part / "locale/es/LC_MESSAGES/django.po"))
        for part in ("contrib/auth", "conf")
    ]
    singular = {e.msgid for po in theirs for e in po}
    plural = {e.msgid_plural for po in theirs for e in po if e.msgid_plural}
    listed = _framework_sentences()
    assert len(listed) > 15
    # Still Django's own words: a sentence Django rewords would show untranslated by us.
    for sentence in listed:
        assert sentence[0] in singular, sentence
        assert len(sentence) == 1 or sentence[1] in plural, sentence
    ours = {e.msgid: e for e in polib.pofile(str(ROOT / "locale/es/LC_MESSAGES/django.po"))}
    for sentence in listed:
        entry = ours[sentence[0]]
        texts = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for text in texts:
            assert text and not USTED.search(text), text
            assert "<" not in text, text  # a field's help text is shown as HTML


@pytest.mark.django_db
def test_the_spanish_password_pages_say_tu_from_start_to_end(alice: User) -> None:
    spanish = {"Accept-Language": "es"}
    html = Client().get("/accounts/signup/", headers=spanish).content.decode()
    assert "Tu contraseña no puede tener solo números." in html and not USTED.search(html)
    answer = Client().post(
        "/accounts/signup/",
        {"username": "bob", "email": "bob", "password1": "12345", "password2": "12346"},
        headers=spanish,
    )
    html = answer.content.decode()
    assert "Introduce una dirección de correo electrónico válida." in html
    assert not USTED.search(html)
    answer = Client().post(
        "/accounts/login/", {"username": "alice", "password": "wrong"}, headers=spanish
    )
    html = answer.content.decode()
    assert "Introduce un nombre de usuario y una contraseña correctos." in html
    assert not USTED.search(html)
    answer = logged_in(alice).post(
        "/accounts/password/",
        {"old_password": "wrong", "new_password1": "1234", "new_password2": "1234"},
        headers=spanish,
    )
    html = answer.content.decode()
    assert "Tu contraseña antigua no es correcta. Vuelve a escribirla." in html
    assert not USTED.search(html)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "accept,lang,direction,word",
    [
        ("es-ES,es;q=0.9", "es", "ltr", "Iniciar sesión"),
        ("zh-CN,zh;q=0.9", "zh-hans", "ltr", "登录"),
        ("ar-EG,ar;q=0.9", "ar", "rtl", "تسجيل الدخول"),
        ("fr-FR,fr;q=0.9", "en", "ltr", "Log in"),
    ],
)
def test_the_browser_language_chooses_the_pages_language(
    accept: str, lang: str, direction: str, word: str
) -> None:
    html = Client().get("/accounts/login/", headers={"Accept-Language": accept}).content.decode()
    assert f'<html lang="{lang}" dir="{direction}">' in html and word in html


@pytest.mark.django_db
def test_a_persons_choice_wins_over_the_browser_and_follows_them_to_a_new_login(
    alice: User,
) -> None:
    client = logged_in(alice)
    response = client.post("/settings/", {"language": "ar"})
    assert (
        response.status_code == 302 and client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"
    )
    alice.refresh_from_db()
    assert alice.language == "ar"
    # Another browser, which says Spanish: logging in brings the person's own choice.
    other = Client()
    other.post(
        "/accounts/login/",
        {"username": "alice", "password": "correct horse battery"},
        headers={"Accept-Language": "es"},
    )
    assert other.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"
    html = other.get("/", headers={"Accept-Language": "es"}).content.decode()
    assert 'dir="rtl"' in html and "دردشة جديدة" in html
    # Back to the browser's language: the cookie goes.
    client.post("/settings/", {"language": ""})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    # The browser logged in before the change follows it from its very next page, and
    # keeps it for the pages before a login.
    answer = other.get("/", headers={"Accept-Language": "es"})
    assert '<html lang="es"' in answer.content.decode(), answer.content.decode()[:200]
    assert answer.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    alice.language = "zh-hans"
    alice.save()
    answer = other.get("/settings/", headers={"Accept-Language": "es"})
    assert '<html lang="zh-hans"' in answer.content.decode()
    assert answer.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    # Logging out leaves this browser's language as it was, not the person's.
    alice.language = "ar"
    alice.save()
    other.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    answer = other.post("/accounts/logout/")
    assert settings.LANGUAGE_COOKIE_NAME not in answer.cookies


@pytest.mark.django_db
@pytest.mark.parametrize("junk", ["日本語", "xx", "x" * 16])
def test_a_saved_language_the_interface_does_not_speak_is_the_browser_s(
    alice: User, junk: str
) -> None:
    User.objects.filter(pk=alice.pk).update(language=junk)  # no form takes one
    client = logged_in(alice)
    page = client.get("/", headers={"Accept-Language": "es"})
    assert page.status_code == 200 and '<html lang="es"' in page.content.decode()
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == ""
    again = Client()
    answer = again.post(
        "/accounts/login/", {"username": "alice", "password": "correct horse battery"}
    )
    assert answer.status_code == 302


@pytest.mark.django_db
def test_numbers_and_sentences_of_the_server_are_in_the_readers_language(alice: User) -> None:
    client = logged_in(alice)
    html = client.get("/", headers={"Accept-Language": "es"}).content.decode()
    with translation.override("es"):
        left = formats.number_format(alice.plan.tokens_per_day, force_grouping=True)
    assert left != str(alice.plan.tokens_per_day)  # grouped as Spanish groups: 500 000
    assert f"Quedan {left} tokens" in html
    # The keys named as a Spanish keyboard names them, as the hint under the box does.
    assert "<kbd>Mayús</kbd>+<kbd>Intro</kbd>" in html and "Mayús+Intro para" in html
    # An error sentence of the socket's door, in the page's language too.
    response = client.post(
        "/c/00000000-0000-0000-0000-000000000000/organise/",
        {"folder": "x" * 81},
        headers={"Accept": "application/json", "Accept-Language": "es"},
    )
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cookie,shown",
    [("Pacific/Honolulu", "HST"), ("Mars/Olympus", "UTC"), ("<b>", "UTC"), ("", "UTC")],
)
def test_times_are_in_the_zone_the_browser_names(alice: User, cookie: str, shown: str) -> None:
    """static/js/zone.js keeps the browser's zone in the `tz` cookie; a name the system does
    not know is the server's zone."""
    client = logged_in(alice)
    client.cookies["tz"] = cookie
    html = client.get("/usage/").content.decode()
    renewals = re.findall(r"<time data-local=\"\" datetime=\"[^\"]+\">([^<]+)</time>", html)
    assert len(renewals) == 2 and all(words.endswith(f" {shown}") for words in renewals)
    assert "Days and months start at midnight (UTC)." in html  # the plans' days stay UTC


def test_the_scripts_catalog_answers_in_each_language() -> None:
    for lang, word in (("es", "Copiado"), ("zh-hans", "已复制"), ("ar", "نُسخ")):
        body = Client().get(f"/jsi18n/?l={lang}", headers={"Accept-Language": lang})
        assert json.dumps(word) in body.content.decode()  # the catalog's JSON, escaped


@pytest.mark.django_db(transaction=True)
async def test_the_sockets_sentences_are_in_its_pages_language(alice: User) -> None:
    from conversations.models import Conversation

    conversation = await Conversation.objects.acreate(owner=alice)
    for language, sentence in (
        ("es-ES,es;q=0.9", "Tipo de trama desconocido."),
        ("", "Unknown frame type."),
    ):
        socket, connected = await open_socket(alice, conversation.id, language=language)
        assert connected
        await socket.send({"type": "dance"})
        assert (await socket.receive())["message"] == sentence
        await socket.close()


def test_the_scripts_catalog_is_in_the_language_its_address_names_whatever_the_cookie() -> None:
    """A page in English asks for `?l=en`: a cookie another tab set to Arabic meanwhile
    must not put Arabic in the copy the browser keeps for a day under that address."""
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ar"
    english = client.get("/jsi18n/?l=en")
    assert "نُسخ" not in english.content.decode() and english["Content-Language"] == "en"
    arabic = client.get("/jsi18n/?l=ar")
    assert json.dumps("نُسخ") in arabic.content.decode() and arabic["Content-Language"] == "ar"


def test_the_scripts_catalog_is_kept_once_per_language_whatever_the_address() -> None:
    from webchat import views

    for n in range(50):
        Client().get(f"/jsi18n/?l={n}", headers={"Accept-Language": "es"})
    for spelling in ("ZH-HANS", "zh-Hans", "Es"):
        Client().get(f"/jsi18n/?l={spelling}")
    assert set(views._catalogs) <= {code for code, _ in settings.LANGUAGES}
