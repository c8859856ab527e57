"""Math in answers (Chromium): KaTeX typesets inline and display formulas while the answer
streams (a display block typed halfway is text until it closes), never code or prices, under
the page's CSP with no violation, and the streamed answer ends as a reload shows it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from harness.browser import TIMEOUT, require_chromium, send
from harness.fake_llm import FakeLLM, Reply
from harness.processes import chatbot

require_chromium()
expect.set_options(timeout=TIMEOUT)

TOKENS = ["Inline $e^{i\\pi} = -1$ and \\(a^2+b^2\\); in code `$x$` stays; ",
          "it costs $5 and $10.\n\n$$\n\\int_0^1 x\\,",  # the stream pauses here, $$ open
          "dx = \\frac{1}{2}\n$$\n\nAlso \\[\\sqrt{2}\\] and a bad one: $\\nosuchmacro{y}$."]
# Every CSP violation the page sees, whatever the console says.
WATCH = """() => {
    window.violations = [];
    document.addEventListener('securitypolicyviolation',
        (e) => window.violations.push(e.violatedDirective + ' ' + e.blockedURI));
}"""


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FakeLLM]]:
    with FakeLLM() as fake, chatbot(fake.url, tmp_path_factory.mktemp("math"),
                                    CHAT_STREAM_INTERVAL_MS="0") as address:
        yield address, fake


def test_math_is_typeset_while_streaming_and_after_a_reload(
        browser: Browser, url: tuple[str, FakeLLM]) -> None:
    address, fake = url
    reply = fake.reply("math please", Reply(TOKENS, pauses=(2,)))
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(f"({WATCH})()")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    page.goto(address)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")

    send(page, "math please")
    answer = page.locator("#messages .msg.assistant").last
    body = answer.locator(".body")
    # Paused inside an open $$ block: the inline math is typeset, the block is still text.
    expect(body.locator(".math .katex")).to_have_count(2)
    expect(body).to_contain_text("\\int_0^1")
    assert answer.get_attribute("data-state") == "streaming"
    reply.proceed()
    expect(answer).to_have_attribute("data-state", "done")

    expect(body.locator(".math.display .katex-display")).to_have_count(2)
    expect(body.locator(".katex")).to_have_count(4)
    assert body.locator("code").inner_text() == "$x$"
    expect(body).to_contain_text("it costs $5 and $10.")
    error = body.locator(".math-error")
    expect(error).to_have_text("\\nosuchmacro{y}")
    assert error.evaluate("e => getComputedStyle(e).color") != body.evaluate(
        "e => getComputedStyle(e).color")
    # KaTeX's fonts came from our origin (font-src 'self'), under /vendor/fonts/.
    assert page.evaluate("document.fonts.ready.then(() => document.fonts.check('1em KaTeX_Main'))")
    streamed = body.inner_html()

    page.reload()
    reloaded = page.locator("#messages .msg.assistant").last.locator(".body")
    expect(reloaded.locator(".katex")).to_have_count(4)
    assert reloaded.inner_html() == streamed
    assert page.evaluate("window.violations") == []
    assert problems == []
    context.close()
