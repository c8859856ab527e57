"""The page's languages (chatbot/web/i18n.py, static/js/i18n.js): every catalog has the keys of
en.json with the same placeholders; every key the templates and scripts use exists; no
visible English is left in the templates; and the language follows the `lang` cookie, else
Accept-Language, else English."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chatbot.web import i18n
from harness.inprocess import ChatApp

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
SCRIPTS = ROOT / "static" / "js"
ENGLISH = i18n.load("en")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Plural forms: a key ending in one of the CLDR categories (static/js/i18n.js `tn`).
PLURAL = re.compile(r"\.(zero|one|two|few|many|other)$")
# A key as the templates and scripts name it: t("key" or tn("key" (the Python side:
# translate("key")).
USE = re.compile(r"""\b(t|tn|translate)\(\s*["']([\w.]+)["']""")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_every_catalog_is_sorted_json_with_the_keys_and_placeholders_of_english() -> None:
    assert i18n.DEFAULT in i18n.languages() and len(i18n.languages()) >= 2
    for language in i18n.languages():
        path = i18n.CATALOG_DIR / f"{language}.json"
        strings = json.loads(path.read_text(encoding="utf-8"))
        # One key a line, sorted: merges of strings added on two branches stay easy.
        assert list(strings) == sorted(strings), f"{path.name}: keys not sorted"
        assert path.read_text(encoding="utf-8").count("\n") == len(strings) + 2, path.name
        # Every key of English; besides, only the plural forms a language needs.
        unknown = {key for key in set(strings) - set(ENGLISH)
                   if not i18n.extra_plural_form(key, ENGLISH)}
        assert set(ENGLISH) <= set(strings) and not unknown, (
            f"{path.name}: missing {sorted(set(ENGLISH) - set(strings))}, "
            f"unknown {sorted(unknown)}")
        for key, text in strings.items():
            assert isinstance(text, str) and text.strip(), f"{path.name}: {key} is empty"
            reference = ENGLISH.get(key) or ENGLISH[PLURAL.sub(".other", key)]
            assert placeholders(text) == placeholders(reference), f"{path.name}: {key}"
        assert strings["language.name"], path.name


def test_a_language_may_add_the_plural_forms_it_needs() -> None:
    assert i18n.extra_plural_form("documents.count.few", ENGLISH)
    assert not i18n.extra_plural_form("documents.title.few", ENGLISH)
    assert not i18n.extra_plural_form("documents.nothing", ENGLISH)


def test_every_plural_has_its_other_form() -> None:
    for key in ENGLISH:
        match = PLURAL.search(key)
        if match:
            assert key[:match.start()] + ".other" in ENGLISH, key


def used_keys() -> dict[str, str]:
    """Every key named in a template, a script or chatbot/web, with where."""
    found = {}
    files = [*TEMPLATES.glob("*.html"), *SCRIPTS.rglob("*.js"),
             *(ROOT / "chatbot/web").glob("*.py")]
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(("//", "#")):
                continue
            for kind, key in USE.findall(line):
                found[f"{kind}:{key}"] = f"{path.relative_to(ROOT)}:{number}"
    return found


def test_every_key_used_exists_in_english() -> None:
    found = used_keys()
    assert len(found) > 150
    for use, where in found.items():
        kind, key = use.split(":")
        if kind == "tn":
            assert f"{key}.other" in ENGLISH and f"{key}.one" in ENGLISH, f"{where}: {key}"
        else:
            assert key in ENGLISH, f"{where}: {key} is not in en.json"


class VisibleText(HTMLParser):
    """What a template would show as it is written, outside `{{ }}` and `{% %}`: text, and the
    attributes a person reads or hears. A command in <kbd> or <code> is not a sentence."""

    ATTRIBUTES = ("aria-label", "placeholder", "title", "alt", "data-default", "label")
    VERBATIM = ("script", "style", "kbd", "code")

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VERBATIM:
            self.skipping += 1
        for name, value in attrs:
            if name in self.ATTRIBUTES and value:
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VERBATIM:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.found.append(data)


def hard_coded(template: str) -> list[str]:
    # The <body> attributes of a page (base.html's `body_class` block) are no text.
    source = re.sub(r"\{% block body_class %\}.*?\{% endblock %\}", " ", template, flags=re.S)
    source = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", source, flags=re.S)
    parser = VisibleText()
    parser.feed(source)
    # Words of two letters or more: symbols (✕, ☰, ·, +) and markup-free names are fine.
    return [text.strip() for text in parser.found if re.search(r"[A-Za-z]{2,}", text)]


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_visible_english_is_hard_coded_in_a_template(name: str) -> None:
    assert hard_coded((TEMPLATES / name).read_text(encoding="utf-8")) == []


def test_the_scan_would_see_hard_coded_text() -> None:
    assert hard_coded('<p title="Hello there">{{ t("a") }} Sign in</p>') == ["Hello there",
                                                                             "Sign in"]


def test_the_browser_language_chooses_and_the_cookie_overrides(chat: ChatApp) -> None:
    client = chat.app.test_client()
    french = i18n.load("fr")

    english = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in english and ENGLISH["composer.send.label"] in english

    page = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.8"})
    html = page.get_data(as_text=True)
    assert '<html lang="fr">' in html
    assert f'aria-label="{french["composer.send.label"]}"' in html
    assert f'<h1 id="title" data-untitled="New chat">{french["chat.new_title"]}</h1>' in html
    # The scripts get the same catalog.
    embedded = re.search(r'<script type="application/json" id="catalog">(.*?)</script>', html)
    assert embedded and json.loads(embedded[1])["status.connected"] == french["status.connected"]
    # A language the catalogs lack: English.
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "ja"}).get_data(
        as_text=True)

    client.set_cookie("lang", "en")
    overridden = client.get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="en">' in overridden and ENGLISH["composer.send.label"] in overridden
    client.set_cookie("lang", "fr")
    assert '<html lang="fr">' in client.get("/").get_data(as_text=True)
    # A cookie naming no catalog counts as none.
    client.set_cookie("lang", "xx")
    assert '<html lang="fr">' in client.get("/", headers={"Accept-Language": "fr"}).get_data(
        as_text=True)


def test_the_settings_dialog_offers_each_language_in_itself(chat: ChatApp) -> None:
    html = chat.app.test_client().get("/").get_data(as_text=True)
    assert f'<option value="">{ENGLISH["settings.language.automatic"]}</option>' in html
    for code in i18n.languages():
        assert f'<option value="{code}" lang="{code}">{i18n.load(code)["language.name"]}' in html


def test_a_value_is_escaped_and_markup_is_kept(chat: ChatApp) -> None:
    with chat.app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert i18n.translate("account.signed_in", name="<b>") == "Signed in as &lt;b&gt;"
        assert i18n.translate("sidebar.actions") == "Actions for {title}"
        assert i18n.translate("no.such.key") == "no.such.key"


def test_the_manifest_and_sign_in_page_follow_the_language(
        make_chat: Callable[..., ChatApp]) -> None:
    client = make_chat(auth=True).app.test_client()
    french = i18n.load("fr")
    manifest = client.get("/manifest.webmanifest", headers={"Accept-Language": "fr"})
    assert manifest.json["description"] == french["manifest.description"]
    assert "Accept-Language" in manifest.headers["Vary"]
    assert {"Accept-Language", "Cookie"} <= {v.strip() for v in client.get(
        "/login").headers["Vary"].split(",")}
    login = client.get("/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert '<html lang="fr">' in login and french["login.note"].replace("'", "&#39;") in login
