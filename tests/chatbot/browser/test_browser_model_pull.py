"""Pulling a model from the settings dialog in a real browser (Debian's Chromium), AUTH=on: the
admin picks a curated model, sees the pull's progress, and then finds it in the model select
with its description; choosing it sets the conversation's model. A real chatbot and llmserver,
the hub stood in for by harness/hub.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from harness.browser import ARTIFACTS, TIMEOUT, require_chromium
from harness.hub import Hub, models_dir_for, pulling_llmserver, serving, write_gguf
from harness.processes import ROOT, chatbot
from llmserver.pull.sources import CURATED

KEY = "pull-test-key"
PASSWORD = "correct horse battery"
NAME = "qwen2.5-0.5b-instruct"
expect.set_options(timeout=TIMEOUT)
require_chromium()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    content = write_gguf(tmp_path_factory.mktemp("hub") / "source.gguf")
    curated = CURATED[NAME]
    with serving(Hub(files={f"{curated.repo}/{curated.file}": content},
                     hold=threading.Event())) as served:
        yield served


@pytest.fixture(scope="module")
def chat_url(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    models = models_dir_for(tmp_path_factory.mktemp("llm"), NAME)
    data_dir = tmp_path_factory.mktemp("chat")
    subprocess.run([sys.executable, "-m", "chatbot", "users", "add", "alice", "--admin"],
                   env={**os.environ, "DATA_DIR": str(data_dir)}, cwd=ROOT,
                   input=f"{PASSWORD}\n", text=True, capture_output=True, check=True)
    with pulling_llmserver(hub.url, models, KEY) as llm, \
            chatbot(llm, data_dir, AUTH="on", LLM_API_KEY=KEY) as url:
        yield url


@pytest.fixture
def page(browser: Browser, chat_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=chat_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto("/login")
    page.fill("#name", "alice")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#sign-in-button")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    yield page
    context.close()
    assert problems == [], "the page raised errors or broke its own CSP"


def test_the_admin_pulls_a_model_and_picks_it(page: Page, hub: Hub) -> None:
    page.click("#open-settings")
    select = page.locator("#settings-model")
    expect(select.locator("option")).to_have_count(2)
    expect(select).to_have_value("")
    row = page.locator(f"#model-catalog li[data-name='{NAME}']")
    expect(row).to_contain_text(CURATED[NAME].size)
    expect(row).to_contain_text(CURATED[NAME].about)
    row.locator("button.pull").click()
    status = page.locator("#model-pull-status")
    # Held by the stand-in hub before the first byte, once llmserver knows the size.
    expect(status).to_have_text(f"Pulling {NAME}: 0.0 of 0.3 MB")
    expect(status).to_have_attribute("data-state", "running")
    page.screenshot(path=str(ARTIFACTS / "model-pull-progress.png"))
    assert hub.hold is not None
    hub.hold.set()
    expect(status).to_have_text(f"Pulled {NAME}: choose “{NAME}” above.")
    expect(select.locator(f"option[value='{NAME}']")).to_have_count(1)
    expect(row.locator("button.pull")).to_be_disabled()
    select.select_option(NAME)
    expect(page.locator("#model-description")).to_have_text("A tiny test model")
    page.screenshot(path=str(ARTIFACTS / "model-pulled.png"))
    page.click("#settings-dialog button[value=save]")
    # The conversation now uses it: the dialog opened again shows it chosen.
    page.click("#open-settings")
    expect(select).to_have_value(NAME)
