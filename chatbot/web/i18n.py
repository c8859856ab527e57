"""The page's strings, by language: one JSON catalog per language in catalog/ (en.json is the
reference every other catalog is checked against). Templates call `t(key, **vars)`; the page's
scripts get the whole catalog of the chosen language embedded in the page (`#catalog`) and call
`t(key, vars)` or `tn(key, count, vars)` from static/js/i18n.js. Placeholders are `{name}`;
plurals are keys ending in `.one`, `.other` (and whichever other CLDR categories a language
needs). The format is documented for contributors in docs/chatbot.md ("Languages")."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from markupsafe import Markup, escape

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
DEFAULT = "en"
# The cookie the settings dialog sets when a user picks a language; without it the browser's
# preferred languages (Accept-Language) choose.
COOKIE = "lang"
# The same placeholder syntax as static/js/i18n.js: `{name}`, a word in braces; any other
# brace is text.
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The forms of a plural key, one per CLDR plural category (Intl.PluralRules in the page).
PLURAL_FORM = re.compile(r"\.(zero|one|two|few|many|other)$")


@cache
def languages() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in CATALOG_DIR.glob("*.json")))


def load(language: str) -> dict[str, str]:
    """The catalog file of `language` as written (the tests compare these)."""
    return json.loads((CATALOG_DIR / f"{language}.json").read_text(encoding="utf-8"))


def extra_plural_form(key: str, english: dict[str, str]) -> bool:
    """Whether `key` is a plural form English lacks (a `.few` where en.json has only `.one`
    and `.other`), which a language that needs it may add."""
    match = PLURAL_FORM.search(key)
    return bool(match) and f"{key[:match.start()]}.other" in english


@cache
def catalog(language: str) -> dict[str, str]:
    """The strings of `language`. Every catalog is meant to have every key of en.json (a test
    says so), and may add plural forms; should one lack a key all the same, English stands in
    rather than the key."""
    english = load(DEFAULT)
    if language == DEFAULT:
        return english
    own = load(language)
    return {**english, **{key: text for key, text in own.items()
                          if key in english or extra_plural_form(key, english)}}


@cache
def language_names() -> dict[str, str]:
    """Each language offered, by code, named in itself (for the settings dialog's picker)."""
    return {code: catalog(code)["language.name"] for code in languages()}


def chosen_language() -> str:
    """This request's language: the cookie if it names a catalog, else the best match for
    Accept-Language, else English."""
    if "language" not in g:
        cookie = request.cookies.get(COOKIE, "")
        if cookie in languages():
            g.language = cookie
        else:
            g.language = request.accept_languages.best_match(languages(), default=DEFAULT)
    return g.language


def translate(key: str, **vars: Any) -> Markup:
    """The string `key` in this request's language, its placeholders filled. The text is
    escaped, and so is each value unless it is already markup (a Jinja `{% set %}` block), so
    a template can put an element into a sentence without the sentence being markup."""
    text = str(escape(catalog(chosen_language()).get(key, key)))
    return Markup(PLACEHOLDER.sub(
        lambda m: str(escape(vars[m[1]])) if m[1] in vars else m[0], text))


def _vary(response: Response) -> Response:
    """A response in the request's language says what chose it, so no cache serves it to a
    browser that would choose another."""
    if "language" in g:
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def init_app(app: Flask) -> None:
    app.after_request(_vary)
    app.jinja_env.globals["t"] = translate
    app.context_processor(lambda: {"lang": chosen_language(),
                                   "catalog": catalog(chosen_language()),
                                   "language_names": language_names()})
