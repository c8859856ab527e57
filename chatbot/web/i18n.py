"""The page's strings, by language: one JSON catalog per language in catalog/ (en.json is the
reference every other catalog is checked against). Templates call `t(key, **vars)`; the page's
scripts get the whole catalog of the chosen language embedded in the page (`#catalog`) and call
`t(key, vars)` from static/js/i18n.js. Placeholders are `{name}`. The format is documented for
contributors in docs/chatbot.md ("Languages")."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Flask, g, request

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
DEFAULT = "en"
# The cookie the settings dialog sets when a user picks a language; without it the browser's
# preferred languages (Accept-Language) choose.
COOKIE = "lang"


@cache
def languages() -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in CATALOG_DIR.glob("*.json")))


@cache
def catalog(language: str) -> dict[str, str]:
    """The strings of `language`, English for any key it lacks."""
    english = json.loads((CATALOG_DIR / f"{DEFAULT}.json").read_text(encoding="utf-8"))
    if language == DEFAULT:
        return english
    own = json.loads((CATALOG_DIR / f"{language}.json").read_text(encoding="utf-8"))
    return {**english, **{key: own[key] for key in own if key in english}}


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


def translate(key: str, **vars: Any) -> str:
    text = catalog(chosen_language()).get(key, key)
    return text.format(**vars) if vars else text


def init_app(app: Flask) -> None:
    app.jinja_env.globals["t"] = translate
    app.context_processor(lambda: {"lang": chosen_language(),
                                   "catalog": catalog(chosen_language())})
