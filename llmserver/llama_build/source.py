"""llama.cpp's source, as the pinned llama-cpp-python release vendors it: fetched from the
package index, unpacked safely, and its CPU variant list replaced with ours."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from llmserver.llama_build import BuildError
from llmserver.llama_build.flags import PACKAGE, X86_VARIANTS
from llmserver.names import UnsafeName, inside


def fetch_source(version: str, work: Path) -> Path:
    """llama.cpp's source as vendored by the pinned llama-cpp-python sdist (from PyPI)."""
    source = work / f"llama.cpp-{version}"
    if (source / "CMakeLists.txt").exists():
        return source
    downloads = work / "sdist"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / f"llama_cpp_python-{version}.tar.gz"
    if not archive.exists():
        print(f"llama.cpp: fetching the {PACKAGE} {version} source from the package index.")
        subprocess.run(
            # Only this package from source: with `:all:`, pip also compiled the tools its
            # metadata step needs (CMake among them), for minutes.
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             PACKAGE, f"{PACKAGE}=={version}", "-d", str(downloads)],
            check=True,
        )
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    partial = Path(tempfile.mkdtemp(prefix=".llama.cpp-", dir=work))
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            if member.name.startswith(prefix):
                member.name = member.name[len(prefix):]
                _check_member(partial, member)
                members.append(member)
        # Extraction filters came with Python 3.11.4; Debian 12's python3 is 3.11.2.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(partial, members=members, **safe)
    partial.rename(source)
    return source


def _check_member(root: Path, member: tarfile.TarInfo) -> None:
    """Refuse an archive member that would land, or link, outside `root`: the data filter
    does this from Python 3.11.4 on, and Debian 12's 3.11.2 has none."""
    try:
        target = inside(root, member.name)
        if member.issym():
            inside(root, target.parent / member.linkname)
        elif member.islnk():
            inside(root, member.linkname)
    except UnsafeName as exc:
        raise SystemExit(f"llama.cpp: the source archive is unsafe: {member.name}: {exc}"
                         ) from None


def limit_variants(source: Path) -> None:
    """Replace upstream's x86 variant list with `X86_VARIANTS` (idempotent)."""
    cmake = source / "ggml" / "src" / "CMakeLists.txt"
    text = cmake.read_text()
    # Linear (tests/test_regexes.py): the text may hold no second x86 header before the
    # "elseif", and only spaces or tabs between its newline and "elseif"; (.*?) and \n\s*
    # would run over all the white space that follows every newline after every x86 header.
    pattern = re.compile(
        r'(if \(GGML_SYSTEM_ARCH STREQUAL "x86"\)\n)'
        r'((?:(?!if \(GGML_SYSTEM_ARCH STREQUAL "x86"\)\n).)*?)'
        r'(\n[ \t]*elseif ?\(GGML_SYSTEM_ARCH STREQUAL "ARM"\))',
        re.S,
    )
    matches = [m for m in pattern.finditer(text) if "ggml_add_cpu_backend_variant(x64)" in m[2]]
    if len(matches) != 1:
        raise BuildError(
            f"llama.cpp: the CPU variant list in {cmake} is not where "
            "llmserver/llama_build/source.py expects it; update X86_VARIANTS' patch for this "
            "llama.cpp version."
        )
    ours = "\n".join(
        f"        ggml_add_cpu_backend_variant({' '.join((name, *features))})"
        for name, features in X86_VARIANTS.items()
    )
    match = matches[0]
    cmake.write_text(text[: match.start(2)] + ours + text[match.end(2):])
