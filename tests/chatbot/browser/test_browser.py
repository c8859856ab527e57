"""The page in a real browser: Debian's Chromium driven by Playwright, real servers behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from harness.browser import ARTIFACTS, TIMEOUT, require_chromium, send
from harness.processes import chatbot, llmserver

ENDLESS = "Continue this sequence without stopping: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,"
# Collects into window.handlers every element inserted with an inline event handler.
RECORD_HANDLERS = """() => {
    window.handlers = [];
    new MutationObserver((records) => {
        for (const record of records) for (const node of record.addedNodes) {
            if (node.nodeType !== Node.ELEMENT_NODE) continue;
            for (const el of [node, ...node.querySelectorAll('*')])
                if ([...el.attributes].some((a) => a.name.startsWith('on')))
                    window.handlers.push(el.outerHTML);
        }
    }).observe(document, {subtree: true, childList: true});
}"""
expect.set_options(timeout=TIMEOUT)
require_chromium()


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llmserver(LLM_N_CTX="2048") as llm_url, \
            chatbot(llm_url, tmp_path_factory.mktemp("browser-data"),
                    CHAT_MAX_TOKENS="48") as url:
        yield url


@pytest.fixture
def page(browser: Browser, chat_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text)
            if "Content Security Policy" in m.text else None)
    page.goto(chat_url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    yield page
    context.close()
    assert problems == [], "the page raised errors or broke its own CSP"


def command(page: Page, text: str) -> None:
    notices = page.locator(".notice").count()
    send(page, text)
    expect(page.locator(".notice")).to_have_count(notices + 1)


def last_answer(page: Page):  # noqa: ANN201 - a Playwright Locator
    return page.locator("#messages .msg.assistant").last


def test_the_answer_grows_on_screen_while_streaming(page: Page) -> None:
    command(page, "/set temperature 0")
    # Record the rendered answer's length at every DOM change while it streams.
    page.evaluate("""() => {
        window.lengths = [];
        new MutationObserver(() => {
            const a = document.querySelector('#messages .msg.assistant[data-state=streaming]');
            if (a) window.lengths.push(a.querySelector('.body').textContent.length);
        }).observe(document.querySelector('#messages'),
                   {subtree: true, childList: true, characterData: true});
    }""")
    send(page, ENDLESS)
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-state", "done")
    lengths = page.evaluate("window.lengths")
    growing = sorted({n for n in lengths if n > 0})
    assert len(growing) >= 3, f"the answer appeared at once, not token by token: {lengths}"
    expect(answer.locator(".meta")).to_contain_text("tok/s")
    expect(page.locator("#stop")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-answer.png"))


def test_stop_ends_the_answer_at_once_and_it_stays_stopped(page: Page) -> None:
    command(page, "/set max_tokens 1000")
    command(page, "/set temperature 0")
    send(page, ENDLESS)
    answer = last_answer(page)
    expect(page.locator("#stop")).to_be_visible()
    expect(answer.locator(".body")).to_contain_text("14")
    # At once: the answer has ended in the very task that handled the click, before any
    # word from the server.
    assert page.evaluate("""() => {
        document.querySelector('#stop').click();
        return [...document.querySelectorAll('#messages .msg.assistant')].at(-1).dataset.state;
    }""") == "done"
    expect(answer).to_have_attribute("data-stopped", "true")
    expect(page.locator("#send")).to_be_visible()
    expect(answer.locator(".meta")).to_contain_text("stopped")
    stopped_text = answer.locator(".body").inner_text()
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    reloaded = last_answer(page)
    expect(reloaded).to_have_attribute("data-stopped", "true")
    assert reloaded.locator(".body").inner_text().strip() == stopped_text.strip()


def test_reload_keeps_the_conversation(page: Page) -> None:
    send(page, "What is the capital of France?")
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-state", "done")
    text = answer.locator(".body").inner_text()
    page.reload()
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(page.locator("#messages .msg.user")).to_have_text(["What is the capital of France?"])
    expect(last_answer(page).locator(".body")).to_have_text(text)
    expect(page.locator("#conversations li.active")).to_contain_text("What is the capital")


def test_html_in_a_message_is_shown_as_text_and_runs_nothing(page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    # A handler can only fire from an element carrying it: record every one ever inserted,
    # on this page and after the reload.
    page.evaluate(RECORD_HANDLERS)
    page.add_init_script(f"({RECORD_HANDLERS})()")
    attack = "<img src=x onerror=alert(1)>"
    send(page, attack)
    expect(page.locator("#messages .msg.user").last).to_have_text(attack)
    expect(last_answer(page)).not_to_have_attribute("data-state", "streaming")
    assert page.evaluate("window.handlers") == []
    page.reload()
    expect(page.locator("#messages .msg.user").last).to_have_text(attack)
    expect(last_answer(page)).not_to_have_attribute("data-state", "streaming")
    assert page.evaluate("window.handlers") == []
    assert page.locator("#messages img").count() == 0
    assert dialogs == []


def test_keyboard_shift_enter_is_a_newline_and_enter_sends(page: Page) -> None:
    page.focus("#prompt")
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.input_value("#prompt") == "first line\nsecond line"
    expect(page.locator("#messages .msg.user")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.locator("#messages .msg.user")).to_have_text(["first line\nsecond line"])
    expect(last_answer(page)).to_have_attribute("data-state", "done")


def test_phone_width_has_no_sideways_scrolling(browser: Browser, chat_url: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 800}, is_mobile=True,
                                  reduced_motion="reduce")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(chat_url)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    send(page, "Name a primary colour.")
    expect(last_answer(page)).to_have_attribute("data-state", "done")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.locator("#sidebar")).not_to_be_in_viewport()
    page.click("#open-sidebar")
    expect(page.locator("#conversations li")).to_have_count(1)
    expect(page.locator("#sidebar")).to_be_in_viewport()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
    context.close()
