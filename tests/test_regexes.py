"""Every regular expression in chatbot/, rag/ and llmserver/ runs in (near) linear time on
hostile text.

The chatbot is one gunicorn worker: a pattern that backtracks super-linearly on text a user,
a web page or a document controls holds the GIL, and every user waits (a Markdown heading
pattern took 1.6 s on one 1 KB line and about half an hour on 10 KB).

How: the patterns are found by walking each module's AST (`re.compile(...)` and inline
`re.search/match/fullmatch/sub/subn/findall/finditer/split(...)` with a literal pattern),
so a pattern added tomorrow is checked without anyone listing it. For each one, inputs of
about 100 KB are derived from the pattern itself (`re._parser`): for every repeat, a prefix
that reaches it, long runs of what one iteration can consume (each character class,
literal, one iteration's example, and pairs of them), repeated prefix+run for many start
positions, and a final character that makes the match fail. Each pattern runs in its own
subprocess (a regex holds the GIL, so a thread could not be stopped), killed when one input
takes over `BOUND` seconds: a linear pattern needs milliseconds on 100 KB, a quadratic or
worse one minutes to hours, so the bound separates them even on a loaded 2-core machine.

Why not google-re2 (linear by construction): several patterns need lookarounds
(FENCE_BREAKERS, rag.evidence's and rag.chunking's sentence splits), which RE2 does not
have, and a second engine would differ from `re` in small ways (\\s, \\w, `$`) that change
chunking. Testing `re` patterns against derived worst cases keeps one engine and catches
the regression class where it is written.

A pattern built at run time cannot be derived from the source: each such call site is
listed in DYNAMIC with why it is safe (and has its own test); an unlisted one fails.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # child processes, or waits for timeouts

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chatbot", "rag", "llmserver")
FUNCTIONS = {"compile", "search", "match", "fullmatch", "sub", "subn", "findall", "finditer",
             "split"}
# Where `flags` sits among each function's positional arguments.
FLAG_INDEX = {"compile": 1, "search": 2, "match": 2, "fullmatch": 2, "findall": 2,
              "finditer": 2, "split": 3, "sub": 4, "subn": 4}
SIZE = 100_000
# Seconds one input may take. Linear patterns take ~1-20 ms on 100 KB; the slowest
# super-linear one found took minutes.
BOUND = float(os.environ.get("REGEX_TEST_BOUND", "1.0"))

# Call sites whose pattern is built at run time: file and enclosing function -> why safe.
DYNAMIC: dict[tuple[str, str], str] = {}



@dataclass(frozen=True)
class Found:
    path: str
    line: int
    function: str
    pattern: str | bytes | None  # None: built at run time
    flags: int

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"


def _flags(node: ast.expr | None) -> int:
    if node is None:
        return 0
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags(node.left) | _flags(node.right)
    if isinstance(node, ast.Attribute):
        return int(getattr(re, node.attr))
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    raise AssertionError(f"flags not understood: {ast.unparse(node)}")


def _const(node: ast.expr, env: dict[str, object]) -> object:
    """The value of a constant expression: literals, module constants, f-strings and
    arithmetic of them (`rf"...{{0,{MAX - 1}}}"`); ValueError otherwise."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in env:
        return env[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        left, right = _const(node.left, env), _const(node.right, env)
        ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
               ast.Mult: lambda a, b: a * b}
        return ops[type(node.op)](left, right)  # type: ignore[no-untyped-call]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                if value.format_spec is not None or value.conversion != -1:
                    raise ValueError("formatted value")
                parts.append(str(_const(value.value, env)))
            else:
                parts.append(str(_const(value, env)))
        return "".join(parts)
    raise ValueError(ast.unparse(node))


def discover() -> list[Found]:
    found: list[Found] = []
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            rel = file.relative_to(ROOT).as_posix()
            tree = ast.parse(file.read_text(), rel)
            modules = {"re"}  # names bound to the re module
            direct: dict[str, str] = {}  # names bound to re's functions
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules |= {a.asname or a.name for a in node.names if a.name == "re"}
                elif isinstance(node, ast.ImportFrom) and node.module == "re":
                    direct |= {a.asname or a.name: a.name for a in node.names
                               if a.name in FUNCTIONS}
            env: dict[str, object] = {}
            for statement in tree.body:
                if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                        and isinstance(statement.targets[0], ast.Name)):
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        env[statement.targets[0].id] = _const(statement.value, env)
            parents: dict[ast.AST, ast.AST] = {}
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    parents[child] = node
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                        and func.value.id in modules and func.attr in FUNCTIONS):
                    name = func.attr
                elif isinstance(func, ast.Name) and func.id in direct:
                    name = direct[func.id]
                else:
                    continue
                keywords = {k.arg: k.value for k in node.keywords}
                arg = node.args[0] if node.args else keywords.get("pattern")
                index = FLAG_INDEX[name]
                flag_node = node.args[index] if len(node.args) > index else keywords.get("flags")
                try:
                    value = _const(arg, env) if arg is not None else None
                except (ValueError, KeyError, TypeError):
                    value = None
                pattern = value if isinstance(value, (str, bytes)) else None
                scope: ast.AST | None = node
                while scope is not None and not isinstance(
                        scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    scope = parents.get(scope)
                function = scope.name if scope is not None else "<module>"  # type: ignore
                found.append(Found(rel, node.lineno, function, pattern,
                                   _flags(flag_node) if pattern is not None else 0))
    return found


FOUND = discover()
LITERAL = [f for f in FOUND if f.pattern is not None]

# --- inputs derived from a pattern -----------------------------------------------------------

# Characters that stand for "anything" (., [^x], \S...) and the usual suspects.
PROBES = " \t\na0_.#-<>[]|`:!/\\'\"…,\u00a0"


def _class_chars(items: list) -> list[str]:
    """A few characters an IN (character class) node accepts."""
    from re import _constants as c  # noqa: PLC0415 - the parser's opcodes

    chars: list[str] = []
    negate = any(op is c.NEGATE for op, _ in items)
    for op, av in items:
        if op is c.LITERAL:
            chars.append(chr(av))
        elif op is c.RANGE:
            chars += [chr(av[0]), chr(av[1])]
        elif op is c.CATEGORY:
            name = str(av)
            chars += {"CATEGORY_DIGIT": ["7"], "CATEGORY_SPACE": [" ", "\t", "\n"],
                      "CATEGORY_WORD": ["a", "_", "7"]}.get(
                name.replace("_NOT", "").replace("UNI_", "").replace("LOC_", ""), [])
            if "NOT" in name:
                chars += ["a", "!", "-", " "]
    if negate:
        chars = [ch for ch in PROBES if ch not in chars][:6]
    return chars


def _first_chars(sub: list) -> list[str]:
    """Characters that can start (or be) one iteration of `sub`."""
    from re import _constants as c  # noqa: PLC0415

    out: list[str] = []
    for op, av in sub:
        if op is c.LITERAL:
            out.append(chr(av))
        elif op is c.NOT_LITERAL or op is c.ANY:
            out += [ch for ch in PROBES if op is c.ANY or ord(ch) != av][:8]
        elif op is c.IN:
            out += _class_chars(av)
        elif op is c.SUBPATTERN:
            out += _first_chars(av[3])
        elif op is c.BRANCH:
            for alt in av[1]:
                out += _first_chars(alt)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            out += _first_chars(av[2])
            if av[0] > 0:
                break
            continue
        elif op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            continue
        else:
            continue
        break
    return list(dict.fromkeys(out))


def _example(sub: list, once: bool = False) -> str:
    """A short string `sub` matches (repeats at their minimum, at least once if `once`)."""
    from re import _constants as c  # noqa: PLC0415

    text = ""
    for op, av in sub:
        if op is c.LITERAL:
            text += chr(av)
        elif op is c.NOT_LITERAL or op is c.ANY or op is c.IN:
            chars = _first_chars([(op, av)])
            text += chars[0] if chars else "a"
        elif op is c.SUBPATTERN:
            text += _example(av[3], once)
        elif op is c.BRANCH:
            text += _example(av[1][0], once)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            text += _example(av[2], once) * max(av[0], 1 if once else 0)
    return text


def _repeats(sub: list, prefix: str, out: list[tuple[str, list]]) -> None:
    """Every repeat in `sub` with the example text that leads to it."""
    from re import _constants as c  # noqa: PLC0415

    for op, av in sub:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            out.append((prefix, av[2]))
            _repeats(av[2], prefix, out)
        elif op is c.SUBPATTERN:
            _repeats(av[3], prefix, out)
        elif op is c.BRANCH:
            for alt in av[1]:
                _repeats(alt, prefix, out)
        elif op in (c.ASSERT, c.ASSERT_NOT):
            _repeats(av[1], prefix, out)
        prefix += _example([(op, av)], once=True)


def attack_inputs(pattern: str, flags: int) -> list[tuple[str, str, str, bool]]:
    """(prefix, pump, suffix, repeat_prefix): the text is prefix + pump * n + suffix, or
    (prefix + pump * k + suffix) repeated when repeat_prefix, n filling SIZE characters."""
    from re import _parser  # noqa: PLC0415

    tree = list(_parser.parse(pattern, flags))
    repeats: list[tuple[str, list]] = []
    _repeats(tree, "", repeats)
    all_chars: list[str] = []
    for _, body in repeats:
        all_chars += _first_chars(body)
    all_chars = list(dict.fromkeys(all_chars))[:12]
    literals = list(dict.fromkeys(ch for ch in pattern if not ch.isalnum()))[:8]
    suffixes = list(dict.fromkeys(["!", "\n", "a", *literals[:4]]))
    specs: set[tuple[str, str, str, bool]] = set()
    for prefix, body in repeats:
        singles = {*_first_chars(body), _example(body, once=True)} - {""}
        pairs = {a + b for a in _first_chars(body)[:6] for b in all_chars[:6]} - singles
        for pump in singles:
            for suffix in suffixes:
                specs.add((prefix, pump, suffix, False))
            specs.add(("", pump, "!", False))
            specs.add((prefix, pump, "!", True))
            specs.add((prefix, pump, "", True))
        for pump in pairs:
            specs.add((prefix, pump, "!", False))
            specs.add((prefix, pump, "\n", False))
            specs.add(("", pump, "!", False))
    whole = _example(tree, once=True)
    if whole:
        specs.add(("", whole, "", True))
        specs.add(("", whole, "!", True))
    return sorted(specs)


# The worker: compiles the pattern, builds each text, runs finditer to the end (what sub,
# split and findall do; search and match are its first steps) and fullmatch, and prints one
# line per input so that the parent knows which input hung.
WORKER = r"""
import json, re, sys, time
job = json.loads(sys.stdin.read())
pattern = job["pattern"].encode("latin-1") if job["bytes"] else job["pattern"]
compiled = re.compile(pattern, job["flags"])
for prefix, pump, suffix, repeat in job["inputs"]:
    if repeat:
        unit = prefix + pump * 50 + suffix
        text = unit * max(1, job["size"] // len(unit))
    else:
        text = prefix + pump * max(1, job["size"] // len(pump)) + suffix
    if job["bytes"]:
        text = text.encode("utf-8")
    started = time.perf_counter()
    for _ in compiled.finditer(text):
        pass
    compiled.fullmatch(text)
    print(json.dumps(time.perf_counter() - started), flush=True)
"""


def run_pattern(pattern: str | bytes, flags: int,
                inputs: list[tuple[str, str, str, bool]]) -> tuple[float, str | None]:
    """(slowest seconds, None) or (seconds, the input that exceeded BOUND)."""
    is_bytes = isinstance(pattern, bytes)
    job = {"pattern": pattern.decode("latin-1") if is_bytes else pattern,  # type: ignore
           "bytes": is_bytes, "flags": flags, "size": SIZE, "inputs": inputs}
    process = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(job))
    process.stdin.close()
    slowest = 0.0
    # A selector, not select.select: the suite may hold more than FD_SETSIZE descriptors.
    watch = selectors.DefaultSelector()
    watch.register(process.stdout, selectors.EVENT_READ)
    try:
        for index, spec in enumerate(inputs):
            # Startup gets extra time; then BOUND per input, plus building its text.
            started = time.monotonic()
            wait = BOUND * 3 + 2 if index == 0 else BOUND + 0.5
            line = process.stdout.readline() if watch.select(wait) else ""
            if not line:
                waited = time.monotonic() - started
                prefix, pump, suffix, repeat = spec
                shape = (f"({prefix!r} + {pump!r}*50 + {suffix!r}) repeated" if repeat
                         else f"{prefix!r} + {pump!r}*n + {suffix!r}")
                return waited, f"{shape}, {SIZE} chars: over {waited:.1f} s"
            slowest = max(slowest, json.loads(line))
    finally:
        watch.close()
        process.kill()
        process.wait()
        process.stdout.close()
    return slowest, None


@pytest.mark.parametrize("found", LITERAL, ids=[f.id for f in LITERAL])
def test_pattern_is_linear_on_hostile_text(found: Found) -> None:
    assert found.pattern is not None
    pattern = found.pattern
    text_pattern = pattern.decode("latin-1") if isinstance(pattern, bytes) else pattern
    inputs = attack_inputs(text_pattern, found.flags & ~re.LOCALE)
    slowest, failure = run_pattern(pattern, found.flags, inputs)
    assert failure is None, f"{found.id} {pattern!r} is super-linear: {failure}"
    assert slowest < BOUND, f"{found.id} {pattern!r}: {slowest:.2f} s on one input"


def test_every_run_time_pattern_is_reviewed() -> None:
    dynamic = {(f.path, f.function) for f in FOUND if f.pattern is None}
    assert dynamic <= set(DYNAMIC), (
        f"patterns built at run time, not derivable from the source: {dynamic - set(DYNAMIC)};"
        " make them literal, or list them in DYNAMIC with why they are linear and a test")


def test_discovery_sees_patterns_of_every_kind() -> None:
    """The walk finds module-level, inline and flagged patterns (guards the guard)."""
    by_id = {(f.path, f.pattern): f for f in FOUND}
    assert ("rag/chunking.py", r"\n\s*\n") in by_id
    assert by_id[("rag/evidence.py", _MARKER_PATTERN)].flags & re.MULTILINE
    assert any(f.function != "<module>" and f.pattern for f in FOUND)  # inline calls
    assert len(LITERAL) >= 25


_MARKER_PATTERN = r"^[ \t]*(?:[-*+>]|#{1,6}|\d{1,3}[.)])[ \t]+"


def test_the_generated_inputs_catch_known_bad_patterns() -> None:
    """The derivation finds the classic shapes: a pattern that passes here is linear on
    these inputs, not merely lucky."""
    for bad in (r"^(#{1,6})\s+(.+?)\s*#*\s*$", r"(a+)+$", r"\s*/?\s*x", r"(\w+\s?)*!"):
        _, failure = run_pattern(bad, 0, attack_inputs(bad, 0))
        assert failure is not None, bad


def test_heading_at_is_bounded() -> None:
    """Once a pattern per outline title (words joined by \\s+): a hostile title against a
    page of its near-matches, now a linear str.find."""
    from rag.loaders.pdf_structure import TITLE_CHARS, _heading_at

    title = ("a " * TITLE_CHARS)[:TITLE_CHARS - 1] + "b"
    text = "a " * (SIZE // 2)
    started = time.perf_counter()
    assert _heading_at(text, title, 0) == -1
    assert time.perf_counter() - started < BOUND
