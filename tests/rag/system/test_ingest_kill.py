"""`rag ingest` killed with SIGKILL in the middle of a folder, then run again: the collection
ends exactly as after an uninterrupted run (the same chunk ids, texts and count, in Chroma and
in the lexical index), and a query sees no half-written source in between."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.uploads import rag_data_dir
from rag import Rag, RagSettings

DOCUMENTS = 40


def write_folder(folder: Path) -> None:
    folder.mkdir()
    for i in range(DOCUMENTS):
        paragraphs = [f"Document {i} paragraph {p}: the {i}th harbour keeps {p * 7 + i} "
                      f"boats and a lighthouse painted colour number {i}." * 4
                      for p in range(12)]
        (folder / f"doc{i:02d}.md").write_text(f"# Harbour {i}\n\n" + "\n\n".join(paragraphs))


def ingest(data_dir: Path, folder: Path) -> subprocess.Popen:
    env = {**os.environ, "DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}  # each document's line as it is written
    return subprocess.Popen([sys.executable, "-m", "rag", "ingest", str(folder), "--collection",
                             "harbours"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # per-document lines: stderr


def state(data_dir: Path) -> tuple[list[tuple[str, str, str]], int, int]:
    """(chunk id, source, text) of every live chunk Chroma holds, and the collection's
    chunk and document counts (the latter from the lexical index)."""
    rag = Rag(RagSettings(data_dir=data_dir))
    opened = rag.store.open("harbours", rag.embedder.name, rag.embedder.dim, create=False)
    got = opened.chroma.get(where={"live": True}, include=["metadatas"])
    chunks = sorted((i, str(m["source"]), str(m.get("text")))
                    for i, m in zip(got["ids"], got["metadatas"] or [], strict=True))
    info = rag.collection("harbours")
    rag.store.close()
    return chunks, info.chunks, info.documents


def test_a_killed_ingest_run_again_ends_as_an_uninterrupted_one(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path / "harbours"
    write_folder(folder)
    whole, interrupted = (rag_data_dir(tmp_path_factory, n) for n in ("whole", "killed"))
    assert ingest(whole, folder).wait(timeout=600) == 0

    proc = ingest(interrupted, folder)
    assert proc.stderr is not None
    done = 0
    for line in proc.stderr:
        done += line.startswith("added")
        if done == 1:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # Between the kill and the re-run: only whole sources are visible, each as in the end.
    partial, _, documents = state(interrupted)
    assert 1 <= documents < DOCUMENTS
    expected = state(whole)[0]
    for source in {s for _, s, _ in partial}:
        assert [c for c in partial if c[1] == source] == [c for c in expected if c[1] == source]

    rerun = ingest(interrupted, folder)
    assert rerun.wait(timeout=600) == 0
    assert state(interrupted) == state(whole)
