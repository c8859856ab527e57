"""Hostile text from the model runs nothing in the page (Chromium): script tags, event
handler attributes, `javascript:` links, and HTML embedded in Markdown, streamed token by
token (a tag split across tokens included) and again after a reload from history. The
canned LLM server sends the answers, so what the model says is exactly the attack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from harness.browser import TIMEOUT, require_chromium, send
from harness.fake_llm import FakeLLM, Reply
from harness.processes import chatbot

require_chromium()
expect.set_options(timeout=TIMEOUT)

ATTACKS = {
    "script": ["<scr", "ipt>alert('script')</scr", "ipt> after the script"],
    "handlers": ['<img src=x onerror="alert(\'img\')"> and <svg onload=alert(1)></svg>',
                 ' <b onmouseover="alert(2)">bold</b>'],
    "links": ["[click me](javascript:alert('md')) and ",
              "<a href=\"javascript:alert('html')\">this</a> and <a href='JaVaScRiPt:alert(3)'>"
              "that</a> and [data](data:text/html,<script>alert(4)</script>)"],
    "embedded": ["# Title\n\n<div><iframe src=\"javascript:alert(5)\"></iframe></div>\n\n",
                 "```html\n<script>alert('in code')</script>\n```\n\n<details open "
                 "ontoggle=alert(6)><summary>x</summary></details><style>body{display:none}"
                 "</style><form action=javascript:alert(7)><button>go</button></form>"],
}
# Collects every element inserted with an `on*` attribute, and every javascript: URL.
WATCH = """() => {
    window.findings = [];
    new MutationObserver((records) => {
        for (const record of records) for (const node of record.addedNodes) {
            if (node.nodeType !== Node.ELEMENT_NODE) continue;
            for (const el of [node, ...node.querySelectorAll('*')]) {
                if ([...el.attributes].some((a) => a.name.startsWith('on')))
                    window.findings.push('handler: ' + el.outerHTML);
                for (const a of ['href', 'src', 'action', 'formaction'])
                    if (/^\\s*(javascript|data):/i.test(el.getAttribute(a) || ''))
                        window.findings.push(a + ': ' + el.outerHTML);
                if (['SCRIPT', 'IFRAME', 'STYLE', 'FORM'].includes(el.tagName)
                        && el.closest('#messages')) window.findings.push('tag: ' + el.tagName);
            }
        }
    }).observe(document, {subtree: true, childList: true});
}"""


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeLLM]]:
    with FakeLLM() as fake, chatbot(fake.url, tmp_path_factory.mktemp("sanitize"),
                                    CHAT_STREAM_INTERVAL_MS="0") as url:
        for name, tokens in ATTACKS.items():
            fake.reply(f"attack {name}", Reply(tokens))
        yield url, fake


@pytest.fixture
def page(browser: Browser, chat: tuple[str, FakeLLM]) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(f"({WATCH})()")
    page.goto(chat[0])
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    yield page
    context.close()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_hostile_model_output_runs_nothing(page: Page, name: str) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    send(page, f"attack {name}")
    answer = page.locator("#messages .msg.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    shown = answer.inner_text()
    assert "after the script" in shown or name != "script"
    assert page.evaluate("window.findings") == []
    page.reload()
    expect(page.locator("#messages .msg.assistant").last).to_have_attribute("data-state",
                                                                             "done")
    assert page.evaluate("window.findings") == []
    for link in page.locator("#messages a").all():
        assert not (link.get_attribute("href") or "").lower().strip().startswith(
            ("javascript:", "data:"))
    assert dialogs == []
