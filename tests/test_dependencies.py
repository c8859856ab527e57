"""Every package the product imports is one its own dependencies install: a module that only
a dev tool happens to pull in (Pillow came with fpdf2) works in `make test` and fails in the
image and in a plain `pip install`."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
import tomllib
from pathlib import Path

from packaging.utils import canonicalize_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docker"))

from export_only import closure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chatbot", "rag", "llmserver")
# The embedding model's export (make install, the image's build stage) and EMBED_BACKEND=torch
# import these; the image removes them after the export, on purpose (docker/export_only.py).
EXPORT_ONLY_MODULES = {"torch", "sentence_transformers", "optimum", "transformers"}


def imported_modules() -> dict[str, str]:
    """Top-level module -> a file importing it, over the product's packages."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    installed = closure(project, set())
    providers = metadata.packages_distributions()
    missing = []
    for module, where in sorted(imported_modules().items()):
        if (module in sys.stdlib_module_names or module in PACKAGES
                or module in EXPORT_ONLY_MODULES or module == "__future__"):
            continue
        names = {canonicalize_name(d) for d in providers.get(module, [])}
        if not names & installed:
            missing.append(f"{module} (imported by {where}; from {sorted(names) or '?'})")
    assert not missing, "imported but not installed by pyproject's dependencies: " + \
        ", ".join(missing)
