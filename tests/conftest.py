"""What the tree says about a test: one under a `browser/` folder drives Chromium, and is
marked `slow` (and `browser`) by being there; the quick loop (`make test-fast`) leaves the
slow ones out."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in item.path.parent.parts:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.browser)
