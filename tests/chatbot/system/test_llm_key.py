"""llmserver with LLM_API_KEY set, and real chatbot processes in front of it: the chatbot
given the key is answered; one with a wrong key tells the user so, readably."""

from __future__ import annotations

from pathlib import Path

from harness.processes import chatbot, llmserver
from harness.socketclient import ChatClient

KEY = "s3cret-key-for-tests"


def test_the_chatbot_passes_the_key_and_a_wrong_key_is_a_readable_error(tmp_path: Path) -> None:
    with llmserver(LLM_API_KEY=KEY) as llm_url, \
            chatbot(llm_url, tmp_path / "right", LLM_API_KEY=KEY, CHAT_MAX_TOKENS="8") as right, \
            chatbot(llm_url, tmp_path / "wrong", LLM_API_KEY="guess",
                    CHAT_MAX_TOKENS="8") as wrong:
        with ChatClient(right) as client:
            answer, (_, event, _) = client.ask("Say hello.")
            assert event == "done" and answer
        with ChatClient(wrong) as client:
            _, (_, event, data) = client.ask("Say hello.")
            assert event == "error"
            assert data["message"] == "The language model server refused the API key " \
                                      "(LLM_API_KEY)."
