"""Print the installed distributions that only the embedding model's ONNX export needs.

The image's build stage installs every dependency in pyproject.toml, exports the model, then
uninstalls what this prints, so that the runtime image carries no torch: the packages named
in EXPORT_ONLY and every dependency of theirs that nothing else installed still requires.
Reading the metadata, not a hand-kept list, keeps it right as the dependencies change."""

from __future__ import annotations

import importlib.metadata as metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXPORT_ONLY = {"torch", "sentence-transformers", "optimum-onnx"}
# The environment's own tooling stays: the runtime stage installs the project with it.
TOOLING = {"pip", "setuptools", "wheel"}


def closure(roots: list[str], skip: set[str]) -> set[str]:
    """Distributions the requirements `roots` pull in, not following those in `skip`."""
    seen: set[str] = set()
    stack = [Requirement(root) for root in roots]
    while stack:
        requirement = stack.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or name in skip:
            continue
        seen.add(name)
        extras = requirement.extras or {""}
        for line in metadata.distribution(name).requires or []:
            needed = Requirement(line)
            if needed.marker is None or any(
                    needed.marker.evaluate({"extra": extra}) for extra in extras):
                stack.append(needed)
    return seen


def main() -> None:
    project = tomllib.loads(Path(sys.argv[1]).read_text())["project"]["dependencies"]
    everything = closure(project, set())
    runtime = closure(project, EXPORT_ONLY)
    print("\n".join(sorted(everything - runtime - TOOLING)))


if __name__ == "__main__":
    main()
