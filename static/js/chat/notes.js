// The notes under a grounded answer besides its sources: "What the model saw" (the prompt's
// parts, what was left out, how long each step took), and the note shown instead of sources
// when the documents do not cover the question. Payload: docs/protocol.md. Built with the
// DOM API: no field is ever parsed as HTML.
import { safeUrl } from "./citations.js";
import { number, t, tn } from "../i18n.js";

const text = (value) => (typeof value === "string" ? value : "");

function titledLinks(items) {
  const list = document.createElement("ul");
  for (const item of Array.isArray(items) ? items : []) {
    if (!item || typeof item !== "object") continue;
    const entry = document.createElement("li");
    const name = text(item.title) || text(item.url) || t("sources.untitled");
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
  lead.textContent = t("sources.not_covered");
  note.append(lead);
  const unknown = Array.isArray(info.unknown) ? info.unknown.map(text).filter(Boolean) : [];
  if (unknown.length) {
    const never = document.createElement("p");
    never.className = "unknown";
    never.textContent = t("sources.not_covered.unknown", { words: unknown.map((word) => t("sources.quoted", { text: word })).join(", ") });
    note.append(never);
  }
  const collection = text(info.collection);
  const query = text(info.query);
  if (collection || query) {
    const searched = document.createElement("p");
    searched.className = "searched";
    searched.textContent = !query ? t("sources.not_covered.searched_in", { collection })
      : collection ? t("sources.not_covered.searched_in_for", { collection, query })
        : t("sources.not_covered.searched_for", { query });
    note.append(searched);
  }
  const closest = titledLinks(info.closest);
  if (closest.children.length) {
    const heading = document.createElement("p");
    heading.textContent = t("sources.not_covered.closest");
    note.append(heading, closest);
  }
  return note;
}

const PARTS = [
  ["system", t("sources.seen.system")],
  ["history", t("sources.seen.history")],
  ["passages", t("sources.seen.passages")],
  ["question", t("sources.seen.question")],
  ["answer_room", t("sources.seen.answer_room")],
];
const TIMES = [
  ["queued_s", (seconds) => t("sources.seen.queued_s", { seconds })],
  ["retrieving_s", (seconds) => t("sources.seen.retrieving_s", { seconds })],
  ["reading_s", (seconds) => t("sources.seen.reading_s", { seconds })],
];

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
  summary.textContent = t("sources.seen");
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
      value.textContent = tn("chat.meta.tokens", count(key));
      list.append(term, value);
    }
    if (total !== null) {
      const term = document.createElement("dt");
      term.textContent = t("sources.seen.total");
      const value = document.createElement("dd");
      value.textContent = tn("chat.meta.tokens", total);
      list.append(term, value);
    }
    box.append(bar, list);
  }
  if (leftOut.children.length) {
    const heading = document.createElement("p");
    heading.textContent = t("sources.seen.left_out", { count: number(leftOut.children.length) });
    leftOut.className = "left-out";
    box.append(heading, leftOut);
  }
  if (times.length) {
    const line = document.createElement("p");
    line.className = "seen-times";
    const seconds = (key) => number(seen[key], { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    const said = times.map(([key, say]) => say(seconds(key))).join(" · ");
    line.textContent = said[0].toUpperCase() + said.slice(1);
    box.append(line);
  }
  return box;
}
