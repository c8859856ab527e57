"""What `chatbot chat` prints besides answers: its help, and the page's Markdown replies and
sources turned into plain lines."""

from __future__ import annotations

import re
from typing import Any

HELP = """\
/reset                   start a new conversation (settings are kept)
/set [NAME VALUE]        show or change a setting: system, temperature, top_p, max_tokens;
                         /set reset restores the defaults
/rag on|off|COLLECTION   answer every question from a collection of documents (or stop);
                         the sources are printed after the answer
/rag list                the collections
/rag QUESTION            answer one question (of several words) from the collection
/model [NAME]            list the server's models, or switch to one
/version                 versions, model and context size
/help                    this list
/quit                    leave (also Ctrl-D, or Ctrl-C at the prompt)
Ctrl-C while an answer is written stops it."""

RAG_WITHOUT_USER = ("Accounts are on (AUTH=on): collections are read as a user sees them. "
                    "Start with chatbot chat --user NAME to use /rag.")

_TABLE_RULE = re.compile(r"^\|(\s*:?-+:?\s*\|)+$")


def markdown_to_text(markdown: str) -> str:
    """The Markdown of command replies as plain terminal text: no emphasis or code marks,
    hard line breaks as newlines, tables as aligned columns."""
    text = markdown.replace("**", "").replace("`", "")
    out: list[str] = []
    table: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            if not _TABLE_RULE.match(line):
                table.append([cell.strip() for cell in line.strip("|").split("|")])
            continue
        if table:
            widths = [max(len(row[i]) for row in table if i < len(row))
                      for i in range(len(table[0]))]
            out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                    .rstrip() for row in table]
            table = []
        out.append(line.rstrip())
    return "\n".join(out).strip()


def sources_text(sources: list[dict[str, Any]]) -> str:
    """`[n] title — url`, one line per source the answer cites, numbered as it cites them;
    the passages it was given but did not cite on one "also searched" line. Sources stored
    before answers recorded citations are all listed."""
    def line(number: object, source: dict[str, Any]) -> str:
        where = f", page {source['page']}" if source.get("page") else ""
        return f"[{number}] {source['title']}{where} — {source['url']}"

    numbered = [(source.get("n", number), source) for number, source in enumerate(sources, 1)]
    if not any("cited" in source for source in sources):
        return "\n".join(line(number, source) for number, source in numbered)
    lines = [line(number, source) for number, source in numbered if source.get("cited")]
    others = [f"[{number}] {source['title']}" for number, source in numbered
              if not source.get("cited")]
    if others:
        lines.append("also searched: " + "; ".join(others))
    return "\n".join(lines)
