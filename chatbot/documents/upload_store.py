"""Uploaded files on disk, kept exactly as long as a document needs them.

A file is stored as uploads/<sha256 of the content>/<sanitized name>: the client's file name
is never used as a path, and the same file uploaded again under the same name is the same
source, so re-ingesting it replaces its chunks rather than duplicating them. The same bytes
under another name (another user's, typically) are a hard link in the same folder: stored
once on disk, yet each uploader's document keeps the uploader's own name (answering with the
first uploader's name told others what someone else had called the file).

A stored path is referenced by every collection holding a document of it and by every
queued or running job about to ingest it. When a document is removed, a collection deleted
or a job ends, the paths it referenced that nothing references any more are deleted; the
bytes go with the last link (the file system counts the links), the folder with its last
file. So upload, delete, repeat does not fill the disk, and /files/ stops serving a file
once no document has it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from chatbot.errors import Refused
from rag import SUPPORTED_EXTENSIONS, Rag, RagError

log = logging.getLogger("chatbot.documents.upload_store")

COPY_CHUNK = 1024 * 1024
# The kinds of file rag reads, in words, for the refusal of others (SUPPORTED_EXTENSIONS).
KINDS = "PDF, HTML, Markdown, text, Word, OpenDocument, PowerPoint, spreadsheet and EPUB"



def uploads_folder(data_dir: Path) -> Path:
    return (data_dir / "uploads").resolve()


class UploadStore:
    @classmethod
    def of(cls, data_dir: Path, rag: Rag) -> UploadStore:
        """DATA_DIR's uploads, for releasing files outside the server (`chatbot users
        remove`): nothing is stored through it."""
        return cls(uploads_folder(data_dir), rag, max_files=0, max_bytes=0, max_mb=0)

    def __init__(self, folder: Path, rag: Rag, *, max_files: int, max_bytes: int,
                 max_mb: float):
        self.folder = folder
        self.rag = rag
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.max_mb = max_mb
        # Paths stored for a job that has not ended yet: never removed under it.
        self._pending: Counter[str] = Counter()
        # Storing (linking to a folder) and removing (unlinking its last file) exclude each
        # other, so a new link is never made to a file being removed.
        self._lock = threading.Lock()

    def store(self, files: list[FileStorage], held: AbstractSet[str] = frozenset()
              ) -> tuple[list[str], list[dict[str, str]]]:
        """Store the files that can be added; the others (a kind rag does not read, no
        bytes, over the size limit) are not stored but returned as `{"name", "reason"}`, for
        the job to name, so one wrong file does not refuse the rest. An upload of which no
        file can be stored is refused, each file's reason in the message. The paths count
        as referenced until `finished` is called with them. held: the sources of the
        collection they go to; the same bytes already there under another name are that
        document again (re-ingested, not duplicated), whoever named it (all who may write
        a collection may read its listing, so no name is shown to a stranger)."""
        if not files:
            raise Refused("Choose at least one file.")
        if len(files) > self.max_files:
            raise Refused(f"{len(files)} files at once; at most {self.max_files} per upload.")
        stored: list[str] = []
        skipped: list[_NotStored] = []
        try:
            for f in files:
                suffix = Path(f.filename or "").suffix.lower()
                if suffix not in SUPPORTED_EXTENSIONS:
                    skipped.append(_NotStored(
                        _shown(f), f"unsupported kind {suffix or '(no extension)'!r}",
                        f"{_shown(f)}: only {KINDS} files "
                        f"({', '.join(sorted(SUPPORTED_EXTENSIONS))}) can be added."))
                    continue
                kept = self._store(f, held)
                if isinstance(kept, _NotStored):
                    skipped.append(kept)
                else:
                    stored.append(str(kept))
        except BaseException:
            self.finished(stored)  # what was stored before the error is not kept
            raise
        if not stored:
            raise Refused(" ".join(s.message for s in skipped),
                          max(s.status for s in skipped))
        return stored, [{"name": s.name, "reason": s.reason} for s in skipped]

    def finished(self, paths: Iterable[str]) -> None:
        """A job about `paths` ended (or never started): remove those nothing needs now."""
        paths = list(paths)
        with self._lock:
            for p in paths:
                self._pending[p] -= 1
                if self._pending[p] <= 0:
                    del self._pending[p]
        self.release(paths)

    def release(self, sources: Iterable[str]) -> list[str]:
        """Delete those of `sources` that are uploads no collection or job references any
        more (a document removed, a collection deleted); the paths deleted."""
        candidates = [s for s in dict.fromkeys(sources) if self._is_upload(s)]
        if not candidates:
            return []
        removed: list[str] = []
        with self._lock:
            unused = [s for s in candidates if s not in self._pending]
            try:
                held = self.rag.held(unused) if unused else set()
            except RagError as exc:  # the store cannot say: keep the files, never guess
                log.warning("kept uploads that may be unused: %s", exc)
                return []
            for source in unused:
                if source in held:
                    continue
                path = Path(source)
                path.unlink(missing_ok=True)
                removed.append(source)
                with contextlib.suppress(OSError):  # not empty: other names remain
                    path.parent.rmdir()
        return removed

    def _is_upload(self, source: str) -> bool:
        path = Path(source)
        return path.is_absolute() and path.parent.parent == self.folder

    def _store(self, upload: FileStorage, held: AbstractSet[str]) -> Path | _NotStored:
        self.folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(dir=self.folder, prefix=".part-",
                                         delete=False) as out:
            try:
                while piece := upload.stream.read(COPY_CHUNK):
                    size += len(piece)
                    if size > self.max_bytes:
                        break
                    digest.update(piece)
                    out.write(piece)
            except BaseException:
                Path(out.name).unlink(missing_ok=True)
                raise
        if size > self.max_bytes:
            Path(out.name).unlink(missing_ok=True)
            limit = f"larger than the {self.max_mb:g} MB limit"
            return _NotStored(_shown(upload), limit, f"{_shown(upload)} is {limit}.", 413)
        if size == 0:
            Path(out.name).unlink(missing_ok=True)
            return _NotStored(_shown(upload), "empty file",
                              f"{_shown(upload)} is empty.")
        folder = self.folder / digest.hexdigest()[:32]
        suffix = Path(upload.filename or "").suffix.lower()
        target = folder / ((secure_filename(Path(upload.filename or "").stem)[:80]
                            or "upload") + suffix)
        with self._lock:
            folder.mkdir(exist_ok=True)
            existing = sorted(p for p in folder.iterdir() if p.is_file())
            target = next((p for p in existing if str(p) in held), target)
            self._pending[str(target)] += 1
            if target.exists():  # the same bytes under the same name: the same source
                Path(out.name).unlink(missing_ok=True)
            elif existing:  # the same bytes under this uploader's own name: one copy
                try:
                    os.link(existing[0], target)
                    Path(out.name).unlink(missing_ok=True)
                except OSError:  # a file system without hard links: a copy, still correct
                    shutil.move(out.name, target)
            else:
                shutil.move(out.name, target)
        return target


@dataclass(frozen=True)
class _NotStored:
    """A file of an upload not stored: `reason` for the job's `skipped`, `message` for a
    refusal when no file of the upload is stored, with its HTTP status."""

    name: str
    reason: str
    message: str
    status: int = 400


def _shown(upload: FileStorage) -> str:
    """The client's file name, for messages only (never a path)."""
    return Path((upload.filename or "file").replace("\\", "/")).name[:100] or "file"
