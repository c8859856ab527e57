"""Accessibility in Debian's Chromium, against a real chatbot and the canned LLM server:
axe-core's WCAG 2.1 A and AA rules, and its rules on landmarks and headings, over the page
in each of its states (empty, an answer streaming, answers from documents, a failed answer,
each dialog open, the source panel open, a conversation's menu, search results, a phone, the
sign-in and password pages), in the light and the dark theme; and the keyboard: the order
Tab follows from the top of the page, a visible focus indicator on every stop, and the focus
going into each dialog, staying there, and back to its opener on Esc."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ElementHandle, Page, expect

from harness.browser import TIMEOUT, require_chromium, send
from harness.fake_llm import FakeLLM, Reply
from harness.grounded import KETTLE, NOT_COVERED, SEEN, SOURCES, UNCOVERED, import_conversation
from harness.processes import ROOT, chatbot, free_port

expect.set_options(timeout=TIMEOUT)
require_chromium()

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA, and axe's best practices, which hold the rules on landmarks and headings.
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
BLOCKING = {"serious", "critical"}
# Rated moderate by axe, but what lets a screen reader user find their way: they fail too.
STRUCTURE = ("heading-order", "page-has-heading-one", "region", "landmark-")
PASSWORD = "correct horse battery"
SCHEMES = ["light", "dark"]  # the theme "system" (the default) follows the browser's

GROUNDED = f"{KETTLE} [1] Its lid locks [2].\n"

# What an axe run returns: every violation, whatever its impact, with the nodes it found.
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
  }));
}"""


def open_page(browser: Browser, url: str, scheme: str, problems: list[str]) -> Page:
    """A tab of its own with axe-core in it; its script errors and breaches of its CSP go into
    `problems`. axe is added as an init script: Playwright gives
    those to Chromium over the DevTools protocol, which the page's CSP (`script-src 'self'`)
    does not govern, so the page is checked under its real CSP; `add_script_tag` would inline
    the file (refused by that CSP), and `bypass_csp` or a test-only route to serve it would
    check a page other than the one users get."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.goto(url)
    return page


def connected(browser: Browser, url: str, scheme: str, problems: list[str]) -> Page:
    page = open_page(browser, url, scheme, problems)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    return page


def check(page: Page) -> None:
    """No serious or critical violation, and none of landmarks or headings; on failure,
    every violation, with where it is."""
    violations: list[dict[str, Any]] = page.evaluate(RUN_AXE, RULES)
    blocking = [v for v in violations
                if v["impact"] in BLOCKING or v["id"].startswith(STRUCTURE)]
    assert not blocking, "axe-core (WCAG 2.1 AA, best practices) found:\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']}\n" + "\n".join(
            f"    {n['target']}: {n['summary']}" for n in v["nodes"]) for v in violations)


def grounded(page: Page) -> None:
    """Two answers from documents: one with its sources and what the model saw (opened), one
    with the note for a question they do not cover."""
    import_conversation(page, "Kettle", [
        {"role": "user", "content": "How fast is the kettle?"},
        {"role": "assistant", "content": GROUNDED, "sources": SOURCES, "seen": SEEN},
        {"role": "user", "content": "What does a toaster cost?"},
        {"role": "assistant", "content": UNCOVERED, "not_covered": NOT_COVERED}])
    expect(page.locator("#messages .sources a").first).to_be_visible()
    expect(page.locator("#messages .not-covered")).to_be_visible()
    page.locator("#messages .seen summary").click()
    expect(page.locator("#messages .seen-counts")).to_be_visible()


@pytest.fixture
def scheme_page(browser: Browser, chat: tuple[str, FakeLLM],
                request: pytest.FixtureRequest) -> Iterator[Page]:
    problems: list[str] = []
    page = connected(browser, chat[0], request.param, problems)
    yield page
    page.context.close()
    assert problems == [], "the page raised errors or broke its own CSP"


schemes = pytest.mark.parametrize("scheme_page", SCHEMES, indirect=True)


@schemes
def test_the_empty_conversation(scheme_page: Page) -> None:
    expect(scheme_page.locator("#empty")).to_be_visible()
    check(scheme_page)


@schemes
def test_an_answer_streaming(scheme_page: Page, chat: tuple[str, FakeLLM]) -> None:
    dark = scheme_page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    question = f"Stream slowly (dark: {dark})"  # one reply per theme's test
    reply = chat[1].reply(question, Reply(["Thinking", " it", " over"], pauses=(1,)))
    send(scheme_page, question)
    answer = scheme_page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "streaming")
    expect(answer.locator(".body")).to_contain_text("Thinking")
    expect(scheme_page.locator("#stop")).to_be_visible()
    try:
        check(scheme_page)
    finally:
        reply.proceed()
    expect(answer).to_have_attribute("data-state", "done")
    check(scheme_page)  # done: the answer's actions (copy, regenerate) and its figures


@schemes
def test_an_answer_with_sources_and_the_source_panel(scheme_page: Page) -> None:
    grounded(scheme_page)
    check(scheme_page)
    scheme_page.locator("#messages .body a.cite").first.click()
    expect(scheme_page.locator("#source-panel")).to_be_visible()
    expect(scheme_page.locator("#source-passage mark")).to_be_visible()
    check(scheme_page)


@schemes
def test_a_failed_answer_a_conversation_menu_and_search_results(
        scheme_page: Page, chat: tuple[str, FakeLLM]) -> None:
    dark = scheme_page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    question = f"Fail, please (dark: {dark})"
    chat[1].reply(question, Reply([], status=500))
    send(scheme_page, question)
    answer = scheme_page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "error")
    expect(answer.locator(".status")).not_to_be_empty()
    check(scheme_page)
    scheme_page.locator("#conversations .conv-actions summary").first.click()
    expect(scheme_page.locator("#conversations .conv-actions .menu").first).to_be_visible()
    check(scheme_page)
    scheme_page.fill("#search", "Fail")
    expect(scheme_page.locator("#search-results .result").first).to_be_visible()
    check(scheme_page)


@schemes
def test_an_organised_sidebar_the_share_dialog_and_a_shared_page(
        scheme_page: Page) -> None:
    page = scheme_page
    send(page, "Tell me about otters")
    expect(page.locator("#messages .msg.assistant").last).to_have_attribute("data-state", "done")
    row = page.locator("#conversations li.active")
    row.locator(".conv-actions summary").click()
    row.locator("button.pin").click()
    expect(page.locator("#conversations section[data-group='pinned'] li")).to_have_count(1)
    page.once("dialog", lambda prompt: prompt.accept("Animals"))  # the folder's name
    page.click("#new-folder")
    expect(page.locator("#conversations section.folder")).to_be_visible()
    check(page)
    row = page.locator("#conversations li.active")
    row.locator(".conv-actions summary").click()
    row.locator("button.share").click()
    link = page.locator("#share-link")
    expect(link).to_have_value(re.compile(r"/shared/"))
    check(page)
    page.goto(link.input_value())
    expect(page.locator("#messages .msg.assistant")).to_have_count(1)
    check(page)


@schemes
def test_a_phone_with_the_sidebar_open(scheme_page: Page) -> None:
    scheme_page.set_viewport_size({"width": 360, "height": 740})
    scheme_page.click("#open-sidebar")
    expect(scheme_page.locator("#sidebar")).to_be_in_viewport()
    check(scheme_page)


@schemes
@pytest.mark.parametrize(("opener", "dialog"), [("#open-settings", "#settings-dialog"),
                                                 ("#open-documents", "#documents-dialog")])
def test_a_dialog_open(scheme_page: Page, opener: str, dialog: str) -> None:
    scheme_page.click(opener)
    expect(scheme_page.locator(dialog)).to_be_visible()
    check(scheme_page)


@schemes
def test_the_keyboard_shortcuts_open(scheme_page: Page) -> None:
    scheme_page.locator("#open-settings").focus()
    scheme_page.keyboard.press("?")
    expect(scheme_page.locator("#shortcuts-dialog")).to_be_visible()
    check(scheme_page)


@pytest.fixture(scope="module")
def accounts_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A chatbot with accounts (AUTH=on) and one user, made as the operator makes one."""
    data_dir = tmp_path_factory.mktemp("a11y-accounts")
    for scheme in SCHEMES:  # one per test, as each changes its password
        subprocess.run([sys.executable, "-m", "chatbot", "users", "add", f"ada-{scheme}"],
                       env={**os.environ, "DATA_DIR": str(data_dir)}, cwd=ROOT,
                       input=f"{PASSWORD}\n", text=True, capture_output=True, check=True)
    with chatbot(f"http://127.0.0.1:{free_port()}", data_dir, AUTH="on") as url:
        yield url


def sign_in(page: Page, name: str, password: str) -> None:
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#sign-in-button")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_sign_in_page_and_the_signed_in_pages(browser: Browser, accounts_url: str,
                                                  scheme: str) -> None:
    problems: list[str] = []
    page = open_page(browser, accounts_url, scheme, problems)
    expect(page.locator("#sign-in")).to_be_visible()
    check(page)
    sign_in(page, f"ada-{scheme}", "not the password")
    expect(page.locator(".form-error")).to_be_visible()
    check(page)
    sign_in(page, f"ada-{scheme}", PASSWORD)
    expect(page.locator("#account")).to_be_visible()  # the chat, with who is signed in
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    check(page)
    page.click("#account a")
    expect(page.locator("#change-password")).to_be_visible()
    check(page)
    page.fill("#current", PASSWORD)
    page.fill("#new", "a new password")
    page.fill("#confirm", "a new password")
    page.click("#change-password button[type=submit]")
    expect(page.locator(".form-ok")).to_be_visible()
    check(page)
    page.goto(f"{accounts_url}/account/keys")
    expect(page.locator("#new-key-form")).to_be_visible()
    check(page)
    page.fill("#key-name", "editor")
    page.click("#new-key-form button[type=submit]")
    expect(page.locator("#new-key")).to_be_visible()
    expect(page.locator("#keys-list")).to_be_visible()
    check(page)
    page.context.close()
    assert problems == [], "a page raised errors or broke its own CSP"


# The keyboard.

def focused(page: Page) -> ElementHandle:
    return page.evaluate_handle("document.activeElement").as_element()  # type: ignore[return-value]


def describe(element: ElementHandle) -> str:
    return element.evaluate("e => e.id ? '#' + e.id : [e.tagName.toLowerCase(), ...e.classList]"
                            ".join('.')")


# How a focused control looks different: its outline or shadow, or (the message box, whose
# ring is the composer's border) its parent's border.
LOOK = """e => [e, e.parentElement, e.parentElement?.parentElement].filter(Boolean).map((x) => {
  const s = getComputedStyle(x);
  return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.borderColor].join(" ");
}).join(" | ")"""


@pytest.fixture
def page(browser: Browser, chat: tuple[str, FakeLLM]) -> Iterator[Page]:
    problems: list[str] = []
    page = connected(browser, chat[0], "light", problems)
    yield page
    page.context.close()
    assert problems == [], "the page raised errors or broke its own CSP"


def test_tab_from_the_top_follows_the_page_with_a_visible_focus_on_each_stop(
        page: Page) -> None:
    send(page, "Hello there")  # a conversation in the sidebar, an answer with its actions
    expect(page.locator("#messages .msg.assistant")).to_have_attribute("data-state", "done")
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(page.locator("#conversations li")).to_have_count(1)
    # From the top of the document, as after the browser's address bar, rather than from the
    # message box (autofocus): Chromium's next Tab starts after whatever had the focus.
    page.evaluate("""() => {
      const top = document.documentElement;
      top.tabIndex = -1;
      top.focus();
      top.removeAttribute("tabindex");
    }""")

    stops: list[ElementHandle] = []
    looks: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        element = focused(page)
        if element.evaluate("e => e === document.body") or any(
                element.evaluate("(a, b) => a === b", s) for s in stops[:1]):
            break
        stops.append(element)
        looks.append(element.evaluate(LOOK))
        if element.evaluate("e => e.id === 'send'"):
            break
    names = [describe(s) for s in stops]
    expected = ["a.skip", "#new-chat", "#search", "button.conv-title", "#open-documents",
                "#open-settings", "#prompt", "#send"]
    positions = [next((i for i, n in enumerate(names) if n.startswith(e)), -1)
                 for e in expected]
    assert -1 not in positions and positions == sorted(positions), names

    page.evaluate("document.activeElement.blur()")
    for element, name, look in zip(stops, names, looks, strict=True):
        assert element.evaluate(LOOK) != look, f"{name}: no visible focus indicator"


def assert_focus_inside(page: Page, dialog: str) -> None:
    inside = page.evaluate("d => document.querySelector(d).contains(document.activeElement)",
                           dialog)
    assert inside, f"the focus left {dialog} for {describe(focused(page))}"


@pytest.mark.parametrize(("opener", "dialog", "key"), [
    ("#open-settings", "#settings-dialog", "Enter"),
    ("#open-documents", "#documents-dialog", "Enter"),
    ("#open-shares", "#shares-dialog", "Enter"),
    ("#open-settings", "#shortcuts-dialog", "?"),
])
def test_a_dialog_takes_the_focus_keeps_it_and_gives_it_back(
        page: Page, opener: str, dialog: str, key: str) -> None:
    page.locator(opener).focus()
    page.keyboard.press(key)
    expect(page.locator(dialog)).to_be_visible()
    assert_focus_inside(page, dialog)
    # Modal: the page behind is inert. Chromium then cycles through the dialog and the
    # browser's own controls, so past the last control the focus may leave the document
    # (the body is focused) but never lands on the page behind.
    controls = page.locator(f"{dialog} :is(button, input, select, textarea, a[href])").count()
    stops: list[tuple[str, ElementHandle, str]] = []
    for _ in range(controls + 2):
        page.keyboard.press("Tab")
        if not page.evaluate("document.activeElement === document.body"):
            assert_focus_inside(page, dialog)
            element = focused(page)
            stops.append((describe(element), element, element.evaluate(LOOK)))
    assert stops
    page.evaluate("document.activeElement.blur()")
    for name, element, look in stops:
        assert element.evaluate(LOOK) != look, f"{name}: no visible focus indicator"
    page.locator(dialog).locator("button").first.focus()
    page.keyboard.press("Escape")
    expect(page.locator(dialog)).to_be_hidden()
    expect(page.locator(opener)).to_be_focused()


def test_the_source_panel_takes_the_focus_and_gives_it_back(page: Page) -> None:
    # Non-modal by design (aria-modal="false"): the answer stays readable and reachable
    # beside the passage, so Tab may leave the panel; Esc closes it from inside.
    grounded(page)
    cite = page.locator("#messages .body a.cite").first
    cite.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#source-panel")).to_be_visible()
    expect(page.locator("#source-panel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#source-panel-close")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#source-panel")).to_be_hidden()
    expect(cite).to_be_focused()
