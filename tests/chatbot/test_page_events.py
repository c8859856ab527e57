"""The page's Socket.IO events against docs/protocol.md: static/js/events.js names every event
the page sends or receives, each one documented, and no other module spells an event name.

Fast on purpose: the JavaScript is read as text, no browser or server is started.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
JS = ROOT / "static" / "js"
EVENTS = JS / "events.js"
PROTOCOL = ROOT / "docs" / "protocol.md"
# Socket.IO's own events about the connection: no server sends them.
RESERVED = {"connect", "disconnect", "connect_error"}
# `events.NAME` in a module (not the `./events.js` it is imported from).
USE = re.compile(r"\bevents\.(?!js\b)(\w+)")


def declared() -> dict[str, str]:
    """Constant name -> event name, from events.js."""
    return dict(re.findall(r'^export const ([A-Z_]+) = "([a-z_]+)";$', EVENTS.read_text(), re.M))


def modules() -> list[Path]:
    return sorted(p for p in JS.rglob("*.js") if p != EVENTS)


def test_every_event_of_the_page_is_in_the_protocol() -> None:
    documented = set(re.findall(r"`([a-z_]+)[` ]", PROTOCOL.read_text()))
    missing = sorted(set(declared().values()) - RESERVED - documented)
    assert not missing, f"events the page uses that docs/protocol.md does not describe: {missing}"


def test_modules_name_events_only_through_events_js() -> None:
    names = declared()
    assert len(set(names.values())) == len(names), "an event declared twice"
    literal = re.compile(r"""\.(?:emit|on|off|once)\(\s*["'`]""")
    problems = []
    for path in modules():
        source = path.read_text()
        where = path.relative_to(ROOT)
        problems += [f"{where}: a literal event name" for _ in literal.finditer(source)]
        problems += [f"{where}: events.{name} is not declared"
                     for name in USE.findall(source) if name not in names]
    assert not problems, problems


def test_every_declared_event_is_used() -> None:
    used = {name for path in modules() for name in USE.findall(path.read_text())}
    unused = sorted(declared().keys() - used)
    assert not unused, f"declared in events.js, used by no module: {unused}"


def test_the_page_and_the_server_agree_on_what_is_only_a_link() -> None:
    """The composer does not send a bare link as a question (the server would answer it with
    an offer to summarize): its test must be the server's, chatbot/chat/grounding.py's."""
    server = re.search(r'URL_ONLY = re\.compile\(r"(.+?)", re\.IGNORECASE\)',
                       (ROOT / "chatbot" / "chat" / "grounding.py").read_text())
    page = re.search(r"const isBareUrl = \(text\) => /(.+?)/i\.test",
                     (JS / "chat" / "composer.js").read_text())
    assert server and page
    assert server.group(1).replace("(", "").replace(")", "") == page.group(1).replace("\\/", "/")
