"""What the tree says about a test: one under a `system/` folder starts real processes (the
model, a chatbot, a Chroma server, Redis) and one under `browser/` drives Chromium; both are
marked `slow` (and `system` or `browser`) by being there. The quick loop (`make test-fast`)
leaves the slow ones out. A test elsewhere that is slow all the same (a child process, a
timeout waited out) carries `@pytest.mark.slow` itself."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for layer in ("system", "browser"):
            if layer in item.path.parent.parts:
                item.add_marker(pytest.mark.slow)
                item.add_marker(getattr(pytest.mark, layer))
