// Grounded answers made checkable: the [n] markers of an answer linked to its sources, and
// the sources under it (those the answer cites first, the others folded under "Also
// searched"). The other notes under an answer are in notes.js.
// Payload (`done`, `history`): docs/protocol.md. Everything here is built with the DOM API:
// no field of a source is ever parsed as HTML.
import { number, t } from "../i18n.js";

// [1], [12], [1, 2]: a group of up to three-digit numbers in brackets.
const MARKER = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;
// Text inside these is shown as written: a `[1]` in code is code, in a formula it is math.
const VERBATIM = "code, pre, a, kbd, samp, .math";

const text = (value) => (typeof value === "string" ? value : "");
const positive = (value) => (Number.isInteger(value) && value > 0 ? value : null);

// Only the web and our own uploaded files are linked: anything else (a `javascript:` URL, a
// path on the server's disk) is shown as text.
export const safeUrl = (url) => (typeof url === "string" && /^(https?:\/\/|\/files\/)/i.test(url) ? url : null);

// An uploaded PDF (or one on the web) at a page: the panel can show that page.
export function isPdf(source) {
  const url = safeUrl(source.url);
  if (!url || !source.page) return false;
  const path = url.split(/[?#]/)[0];
  return path.startsWith("/files/") || path.toLowerCase().endsWith(".pdf");
}

export function label(source) {
  const name = source.title || source.url || t("sources.untitled");
  return source.page ? t("sources.label.page", { name, page: source.page }) : name;
}

// The sources as the page uses them, whatever was stored: numbered (an older answer's
// sources carry no `n`: they are 1..N in order), every field of the expected type.
export function normalizeSources(list) {
  if (!Array.isArray(list)) return [];
  return list.filter((s) => s && typeof s === "object").map((s, index) => ({
    n: positive(s.n) ?? index + 1,
    title: text(s.title),
    url: text(s.url),
    page: positive(s.page),
    cited: typeof s.cited === "boolean" ? s.cited : null, // null: an older answer's source
    heading: text(s.heading),
    passage: text(s.passage),
    before: text(s.before),
    after: text(s.after),
    highlights: Array.isArray(s.highlights) ? s.highlights.filter((h) => typeof h === "string" && h.trim()) : [],
  }));
}

function citation(source, content) {
  const link = document.createElement("a");
  link.className = "cite";
  link.dataset.n = String(source.n);
  // A plain click opens the side panel; a middle or modified click opens the original.
  link.href = safeUrl(source.url) || `#source-${source.n}`;
  link.rel = "noopener noreferrer";
  link.textContent = content;
  link.title = t("sources.cite", { n: source.n, label: label(source) });
  link.setAttribute("aria-label", link.title);
  return link;
}

function pendingMarker(content) {
  const span = document.createElement("span");
  span.className = "cite-pending";
  span.textContent = content;
  return span;
}

// Turn the [n] markers in `root` (rendered, sanitized Markdown) into citation links to the
// sources in `byNumber`. A number with no such source stays text. `pending`: the answer is
// grounded but still streaming, its sources not known yet: markers are only styled.
export function linkCitations(root, byNumber, pending = false) {
  if (!byNumber.size && !pending) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    MARKER.lastIndex = 0;
    if (MARKER.test(node.data) && !node.parentElement.closest(VERBATIM)) found.push(node);
  }
  for (const node of found) {
    const pieces = document.createDocumentFragment();
    let last = 0;
    for (const match of node.data.matchAll(MARKER)) {
      const numbers = match[1].split(/\s*,\s*/).map(Number);
      const marker = (n, content) => {
        if (byNumber.has(n)) return citation(byNumber.get(n), content);
        return pending ? pendingMarker(content) : document.createTextNode(content);
      };
      if (!pending && !numbers.some((n) => byNumber.has(n))) continue;
      pieces.append(node.data.slice(last, match.index));
      if (numbers.length === 1) {
        pieces.append(marker(numbers[0], match[0]));
      } else {
        pieces.append("[");
        numbers.forEach((n, i) => pieces.append(...(i ? [", "] : []), marker(n, String(n))));
        pieces.append("]");
      }
      last = match.index + match[0].length;
    }
    if (!last) continue;
    pieces.append(node.data.slice(last));
    node.replaceWith(pieces);
  }
}

function sourceItem(source, panel) {
  const item = document.createElement("li");
  item.value = source.n;
  const url = safeUrl(source.url);
  let control;
  if (url) {
    control = document.createElement("a");
    control.href = url;
    control.target = "_blank"; // a middle or modified click: the original in a new tab
    control.rel = "noopener noreferrer";
  } else if (panel) {
    control = document.createElement("button");
    control.type = "button";
    control.className = "link";
  } else {
    control = document.createElement("span");
  }
  control.textContent = label(source);
  if (panel) {
    control.classList.add("source");
    control.dataset.n = String(source.n);
    control.title = t("sources.show_passage");
  }
  item.append(control);
  if (panel && source.heading) {
    const heading = document.createElement("span");
    heading.className = "heading-path";
    heading.textContent = source.heading;
    item.append(" ", heading);
  }
  return item;
}

// The sources under an answer. An older answer's (no `cited`) are listed as they always were,
// links to the originals; a newer one's open the side panel, those the answer cites first and
// the others folded under "Also searched".
export function sourcesBox(sources) {
  const box = document.createElement("nav");
  box.className = "sources";
  box.setAttribute("aria-label", t("sources.label"));
  const older = sources.every((s) => s.cited === null);
  const cited = older ? sources : sources.filter((s) => s.cited);
  const others = older ? [] : sources.filter((s) => !s.cited);
  if (cited.length) {
    const list = document.createElement("ol");
    list.className = "cited";
    list.append(...cited.map((s) => sourceItem(s, !older)));
    box.append(list);
  }
  if (others.length) {
    const more = document.createElement("details");
    more.className = "also-searched";
    const summary = document.createElement("summary");
    summary.textContent = t("sources.also_searched", { count: number(others.length) });
    summary.title = t("sources.also_searched.title");
    const list = document.createElement("ol");
    list.append(...others.map((s) => sourceItem(s, true)));
    more.append(summary, list);
    box.append(more);
  }
  return box;
}
