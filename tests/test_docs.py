"""The documentation against the code: docs/configuration.md lists exactly the variables the
settings classes read, with their defaults; every relative link in the README and docs/ leads
somewhere; the layers docs/architecture.md describes hold.

Fast on purpose (no model, no server): the settings modules are loaded from their files, so
that importing `chatbot.settings` does not import the whole chatbot (Flask, openai, chromadb).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SETTINGS = {"llmserver": "Settings", "chatbot": "Settings", "rag": "RagSettings"}

# Documented variables that no settings class reads, and the file that reads each one.
NOT_SETTINGS = {
    "LLAMA_CMAKE_ARGS": "llmserver/llama_build/flags.py",
    "PYTHON": "Makefile",
    "TORCH_INDEX_URL": "Dockerfile",
    "TORCH_FIND_LINKS": "Dockerfile",
    # Read where the export happens, in the image's build stage too, where no settings exist.
    "EMBED_ONNX_DIR": "rag/export.py",
    "EMBED_INT8_PRESET": "rag/export.py",
}


def load_settings_module(package: str) -> ModuleType:
    name = f"docs_check_{package}_settings"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / package / "settings.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # pydantic resolves the module's postponed annotations through sys.modules.
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def settings_classes() -> dict[str, type[BaseSettings]]:
    return {f"{package}.{cls}": getattr(load_settings_module(package), cls)
            for package, cls in SETTINGS.items()}


def env_names(field_name: str, field: FieldInfo) -> list[str]:
    """The documented variable(s) of a field: its upper-case validation aliases."""
    alias = field.validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias or field_name]
    return [c for c in choices if isinstance(c, str) and c.isupper()]


def settings_fields() -> list[tuple[str, str, FieldInfo]]:
    """(variable, settings class, field) for every variable a settings class reads."""
    found = []
    for owner, cls in settings_classes().items():
        for field_name, field in cls.model_fields.items():
            names = env_names(field_name, field)
            assert names, f"{owner}.{field_name}: no upper-case variable name"
            found += [(name, owner, field) for name in names]
    return found


def table_rows(path: Path) -> dict[str, list[str]]:
    """Variable name -> the cells of its row, for every table row that names variables."""
    rows: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]):
            rows[name] = cells
    return rows


def test_every_variable_the_settings_read_is_documented() -> None:
    documented = table_rows(CONFIGURATION)
    missing = sorted({name for name, _, _ in settings_fields()} - documented.keys())
    assert not missing, f"read by the settings but not in docs/configuration.md: {missing}"


def test_every_documented_variable_is_read() -> None:
    read = {name for name, _, _ in settings_fields()}
    unknown = sorted(table_rows(CONFIGURATION).keys() - read - NOT_SETTINGS.keys())
    assert not unknown, f"in docs/configuration.md but read by no settings class: {unknown}"
    for name, reader in NOT_SETTINGS.items():
        assert name in (ROOT / reader).read_text(), f"{reader} no longer reads {name}"


def shown(default: Any) -> str | None:
    """How the default column writes a default, or None when it is described in words."""
    if default is None or default == "" or callable(default):
        return None
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, Path):
        return f"`{default}/`"
    if isinstance(default, str):
        return f"`{default}`"
    return None


@pytest.mark.parametrize("name, owner, field", settings_fields(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_documented_default_is_the_settings_default(name: str, owner: str,
                                                     field: FieldInfo) -> None:
    cell = table_rows(CONFIGURATION)[name][1]
    default = field.get_default(call_default_factory=False)
    if isinstance(default, int | float) and not isinstance(default, bool):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", cell.replace("_", ""))]
        assert float(default) in numbers, f"{name}: {owner} defaults to {default}, docs say {cell}"
    elif (expected := shown(default)) is not None:
        assert expected in cell, f"{name}: {owner} defaults to {default!r}, docs say {cell}"


def prose(path: Path) -> list[str]:
    """The document's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    found: set[str] = set()
    for line in prose(path):
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            candidate, n = slug, 0
            while candidate in found:
                n += 1
                candidate = f"{slug}-{n}"
            found.add(candidate)
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    broken = []
    for line in prose(document):
        for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "``", line)):
            if re.match(r"[a-z]+:", target):
                continue
            path_part, _, anchor = target.partition("#")
            linked = (document.parent / path_part).resolve() if path_part else document
            if not linked.exists():
                broken.append(f"{target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{target}: no heading with that anchor in {linked.name}")
    assert not broken, f"{document.relative_to(ROOT)}: {broken}"


def imported_modules(path: Path) -> set[str]:
    """Every absolute import in a file, at any depth (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_packages_keep_their_layers() -> None:
    """docs/architecture.md: chatbot uses rag's public interface and llmserver only over
    HTTP; rag imports neither of the others; llmserver imports no chatbot and of rag only
    its embedding model; none imports the test harness."""
    dev_only = ("harness", "tests", "bench")  # never installed: the product cannot need them
    # llmserver's /v1/embeddings runs rag's own model code: one implementation of the model,
    # so that its vectors equal rag's bit for bit (and rag's EMBED_URL can use it).
    llmserver_may_use = ("rag.embedding", "rag.settings")
    forbidden = {
        "llmserver": lambda m: m not in llmserver_may_use
        and m.split(".")[0] in ("chatbot", "rag", *dev_only),
        "rag": lambda m: m.split(".")[0] in ("chatbot", "llmserver", *dev_only),
        "chatbot": lambda m: (m.startswith("rag.")
                              or m.split(".")[0] in ("llmserver", *dev_only)),
    }
    crossings = [
        f"{path.relative_to(ROOT)} imports {module}"
        for package, crosses in forbidden.items()
        for path in sorted((ROOT / package).rglob("*.py"))
        for module in imported_modules(path)
        if crosses(module)
    ]
    assert not crossings, crossings


def test_the_chatbots_folders_keep_their_layers() -> None:
    """docs/architecture.md: what an answer, a document, an account or the store is knows
    nothing of how it is reached (HTTP, Socket.IO, the command line), so each can be used
    by any of them (the terminal chat runs the page's own answer steps)."""
    inner = ("chat", "db", "documents", "accounts")
    outer = tuple(f"chatbot.{folder}" for folder in ("web", "sockets", "cli"))
    crossings = [
        f"{path.relative_to(ROOT)} imports {module}"
        for folder in inner
        for path in sorted((ROOT / "chatbot" / folder).rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith(outer)
    ]
    assert not crossings, crossings
    # Every module sits in a folder of the table, or at the top as what they all share.
    top = {p.name for p in (ROOT / "chatbot").glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "app.py", "services.py", "settings.py",
                   "common.py", "errors.py", "logs.py", "metrics.py", "bus.py", "datadir.py"}, top


def test_the_copies_between_packages_stay_equal() -> None:
    """The packages import none of each other's modules (test_packages_keep_their_layers), so
    the few lines they share are copies: the settings' environment rules (one `.env`, names
    read exactly as written) and the log lines' formats (one log format for a deployment's
    three services). Copies rather than a fourth shared package: each is a dozen lines, and a
    package every service imports would be one more thing to install and version. This test
    is what keeps them one."""
    configs = {name: cls.model_config for name, cls in settings_classes().items()}
    assert len({repr(sorted(c.items())) for c in configs.values()}) == 1, configs
    sources = {package: ast.parse((ROOT / package / "logs.py").read_text())
               for package in ("chatbot", "llmserver")}

    wanted = {"fields", "JsonFormatter", "TextFormatter", "_STANDARD"}

    def shared(tree: ast.Module) -> dict[str, str]:
        found = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                name = node.name
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
            else:
                continue
            if name in wanted:
                found[name] = ast.unparse(_without_docstrings(node))
        return found

    copies = [shared(tree) for tree in sources.values()]
    assert copies[0].keys() == wanted
    assert copies[0] == copies[1]


def _without_docstrings(node: ast.AST) -> ast.AST:
    """The code alone: each copy's docstring may say how its own package uses it."""
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if (isinstance(inner, ast.FunctionDef | ast.ClassDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            inner.body = body[1:] or [ast.Pass()]
    return node


def test_tests_share_helpers_through_the_harness_only() -> None:
    """docs/development.md: a test module imports helpers from harness/, never from another
    test module (shared fixtures live in a conftest.py)."""
    borrowed = [f"{path.relative_to(ROOT)} imports {module}"
                for path in sorted((ROOT / "tests").rglob("*.py"))
                for module in imported_modules(path)
                if module == "tests" or module.startswith("tests.")]
    assert not borrowed, borrowed
