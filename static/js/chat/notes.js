// The notes under a grounded answer besides its sources: "What the model saw" (the prompt's
// parts, what was left out, how long each step took), and the note shown instead of sources
// when the documents do not cover the question. Payload: docs/protocol.md. Built with the
// DOM API: no field is ever parsed as HTML.
import { safeUrl } from "./citations.js";

const text = (value) => (typeof value === "string" ? value : "");
const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;

function titledLinks(items) {
  const list = document.createElement("ul");
  for (const item of Array.isArray(items) ? items : []) {
    if (!item || typeof item !== "object") continue;
    const entry = document.createElement("li");
    const name = text(item.title) || text(item.url) || "Untitled";
    const url = safeUrl(item.url);
    if (url) {
      const link = document.createElement("a");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = name;
      entry.append(link);
    } else {
      entry.textContent = name;
    }
    list.append(entry);
  }
  return list;
}

// The question was searched for and nothing relevant found: say so, what was searched and
// what came closest.
export function notCoveredNote(info) {
  const note = document.createElement("aside");
  note.className = "not-covered";
  note.setAttribute("role", "note");
  const lead = document.createElement("strong");
  lead.textContent = "Your documents do not seem to cover this.";
  note.append(lead);
  const unknown = Array.isArray(info.unknown) ? info.unknown.map(text).filter(Boolean) : [];
  if (unknown.length) {
    const never = document.createElement("p");
    never.className = "unknown";
    never.textContent = `They never mention ${unknown.map((word) => `“${word}”`).join(", ")}.`;
    note.append(never);
  }
  const collection = text(info.collection);
  const query = text(info.query);
  if (collection || query) {
    const searched = document.createElement("p");
    searched.className = "searched";
    searched.textContent = `Searched ${collection ? `“${collection}”` : "your documents"}${query ? ` for “${query}”` : ""}.`;
    note.append(searched);
  }
  const closest = titledLinks(info.closest);
  if (closest.children.length) {
    const heading = document.createElement("p");
    heading.textContent = "Closest:";
    note.append(heading, closest);
  }
  return note;
}

const PARTS = [
  ["system", "System prompt"],
  ["history", "Earlier messages"],
  ["passages", "Passages from your documents"],
  ["question", "Your question"],
  ["answer_room", "Room left for the answer"],
];
const TIMES = [["queued_s", "queued"], ["retrieving_s", "searching the documents"], ["reading_s", "reading the prompt"]];

// "What the model saw": the prompt's parts in tokens (and a bar of their shares), the
// passages left out for lack of room, and how long the answer waited, searched and read.
export function seenBox(seen) {
  const count = (key) => (Number.isFinite(seen[key]) && seen[key] >= 0 ? Math.round(seen[key]) : null);
  const parts = PARTS.filter(([key]) => count(key) !== null);
  const times = TIMES.filter(([key]) => Number.isFinite(seen[key]) && seen[key] >= 0);
  const leftOut = titledLinks(seen.left_out);
  const total = count("prompt_tokens");
  if (!parts.length && !times.length && !leftOut.children.length && total === null) return null;

  const box = document.createElement("details");
  box.className = "seen";
  const summary = document.createElement("summary");
  summary.textContent = "What the model saw";
  box.append(summary);
  if (parts.length) {
    const bar = document.createElement("div");
    bar.className = "seen-bar";
    bar.setAttribute("aria-hidden", "true"); // the list below says the same in words
    for (const [key] of parts) {
      const share = document.createElement("span");
      share.dataset.part = key;
      share.style.flexGrow = String(count(key));
      bar.append(share);
    }
    const list = document.createElement("dl");
    list.className = "seen-counts";
    for (const [key, name] of parts) {
      const term = document.createElement("dt");
      term.dataset.part = key;
      term.textContent = name;
      const value = document.createElement("dd");
      value.textContent = plural(count(key), "token");
      list.append(term, value);
    }
    if (total !== null) {
      const term = document.createElement("dt");
      term.textContent = "The prompt in all";
      const value = document.createElement("dd");
      value.textContent = plural(total, "token");
      list.append(term, value);
    }
    box.append(bar, list);
  }
  if (leftOut.children.length) {
    const heading = document.createElement("p");
    heading.textContent = `Found but left out, for lack of room (${leftOut.children.length}):`;
    leftOut.className = "left-out";
    box.append(heading, leftOut);
  }
  if (times.length) {
    const line = document.createElement("p");
    line.className = "seen-times";
    const said = times.map(([key, name]) => `${name} ${seen[key].toFixed(1)} s`).join(" · ");
    line.textContent = said[0].toUpperCase() + said.slice(1);
    box.append(line);
  }
  return box;
}
