"""The zip files under DOCX, PPTX, XLSX, ODT and EPUB, opened only within limits, and the
XML inside them parsed safely.

A 50 KB zip can unpack to gigabytes (a zip bomb), and the parsers we hand these files to
read whole parts into memory. zipfile never gives more bytes of a member than the size its
central directory declares (a member that lies fails its CRC check instead), so checking the
declared sizes before any library opens the file bounds what it can unpack."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lxml.etree

from rag.errors import FormatError

# Unpacked bytes of one file, all members: what the parsers may hold in memory. Pictures
# barely compress, so an honest deck or book unpacks to about its own size.
MAX_UNPACKED = 256 * 1024 * 1024
# Unpacked bytes of one markup member (XML, XHTML), parsed whole into a tree of ~10x its size:
# a 300-page novel's longest chapter or a 100,000-row sheet is a few MB.
MAX_MARKUP = 32 * 1024 * 1024
MAX_MEMBERS = 10_000
_MARKUP = (".xml", ".rels", ".xhtml", ".html", ".htm", ".opf", ".ncx")

# No DTD loaded, no entity expanded (billion laughs), nothing fetched, no huge-tree mode.
SAFE_XML = lxml.etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                huge_tree=False, remove_comments=True, remove_pis=True)


def check_zip(path: Path, kind: str) -> None:
    """FormatError unless `path` is a zip whose declared contents are within the limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as e:
        raise FormatError(f"not a valid {kind} file (not a zip archive: {e})") from None
    if len(members) > MAX_MEMBERS:
        raise FormatError(f"{kind} holds {len(members):,} parts, over {MAX_MEMBERS:,}")
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED:
        raise FormatError(f"{kind} unpacks to {total:,} bytes, over {MAX_UNPACKED:,} "
                          "(a zip bomb?)")
    for m in members:
        if m.filename.lower().endswith(_MARKUP) and m.file_size > MAX_MARKUP:
            raise FormatError(f"{kind} part {m.filename} unpacks to {m.file_size:,} bytes, "
                              f"over {MAX_MARKUP:,} (a zip bomb?)")


def parse_xml(data: bytes) -> lxml.etree._Element:
    return lxml.etree.fromstring(data, parser=SAFE_XML)


@contextmanager
def reading(kind: str) -> Iterator[None]:
    """Whatever a parser raises on a broken or hostile file becomes this file's FormatError
    with a reason: the libraries raise KeyError, ValueError, lxml's and zipfile's errors and
    more on malformed files, and one bad file must stay one failure."""
    try:
        yield
    except FormatError:
        raise
    except zipfile.BadZipFile as e:
        raise FormatError(f"corrupt {kind} ({_line(e)})") from None
    except KeyError as e:
        raise FormatError(f"corrupt {kind} (missing part {_line(e)})") from None
    except lxml.etree.XMLSyntaxError as e:
        raise FormatError(f"malformed XML in {kind} ({_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - untrusted bytes in third-party parsers
        raise FormatError(f"unreadable {kind} ({type(e).__name__}: {_line(e)})") from None


def _line(error: BaseException) -> str:
    """An error's message on one line, as the summary shows reasons (openpyxl's run to
    three lines)."""
    return " ".join(str(error).split())[:500]
