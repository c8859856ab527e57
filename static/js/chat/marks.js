// A passage found in a text and marked: the sentences that support an answer in the passage
// shown, and the passage itself on a PDF page (in PDF.js's text layer), where the page's
// text items split and join words as its layout did.

// A passage whose supporting sentences are unknown is found on its page by its first words.
const LEAD_WORDS = [12, 6];
// Shorter than this (letters and digits), a phrase would match anywhere on a page.
const MIN_MATCH = 12;

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// Where `phrase` is in `text`: as written, else with any run of whitespace standing for any
// other (a sentence may have been re-wrapped).
function locate(text, phrase) {
  const exact = text.indexOf(phrase);
  if (exact >= 0) return [exact, exact + phrase.length];
  const words = phrase.trim().split(/\s+/).map(escapeRegExp);
  const match = new RegExp(words.join("\\s+")).exec(text);
  return match ? [match.index, match.index + match[0].length] : null;
}

// `element` holds `text`, the parts found in `phrases` wrapped in <mark>.
export function markInto(element, text, phrases) {
  const ranges = phrases.map((p) => locate(text, p)).filter(Boolean).sort((a, b) => a[0] - b[0]);
  const pieces = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (end <= at) continue;
    const from = Math.max(start, at);
    pieces.push(text.slice(at, from));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(from, end);
    pieces.push(mark);
    at = end;
  }
  pieces.push(text.slice(at));
  element.replaceChildren(...pieces);
}

// The text as compared on a PDF page: compatibility forms (ligatures apart), lower case, no
// whitespace at all, since a page's text items split and join words as the layout did.
const squash = (s) => s.normalize("NFKC").toLowerCase().replace(/\s+/g, "");

// Mark in a rendered text layer the first of `phrases` found on the page; the first mark, or
// null when none was found.
export function markTextLayer(layer, phrases) {
  const spans = [...layer.querySelectorAll("span")].filter(
    (s) => s.childNodes.length === 1 && s.firstChild.nodeType === Node.TEXT_NODE);
  let flat = "";
  const origin = []; // for each character of `flat`: [span index, start, end] in that span
  spans.forEach((span, index) => {
    let offset = 0;
    for (const char of span.textContent) {
      for (const c of squash(char)) {
        flat += c;
        origin.push([index, offset, offset + char.length]);
      }
      offset += char.length;
    }
  });
  for (const phrase of phrases) {
    const key = squash(phrase);
    if (key.length < MIN_MATCH) continue;
    const at = flat.indexOf(key);
    if (at < 0) continue;
    const covered = new Map(); // span index -> [start, end]
    for (const [index, start, end] of origin.slice(at, at + key.length)) {
      const range = covered.get(index);
      covered.set(index, range ? [range[0], end] : [start, end]);
    }
    let first = null;
    for (const [index, [start, end]] of covered) {
      const span = spans[index];
      const whole = span.textContent;
      const mark = document.createElement("mark");
      mark.textContent = whole.slice(start, end);
      span.replaceChildren(whole.slice(0, start), mark, whole.slice(end));
      first ??= mark;
    }
    return first;
  }
  return null;
}

// What to look for on a source's PDF page: its supporting sentences, else its first words.
export function phrasesFor(source) {
  const words = source.passage.trim().split(/\s+/).filter(Boolean);
  const leads = LEAD_WORDS.map((n) => words.slice(0, n).join(" ")).filter(Boolean);
  return [...source.highlights, ...leads];
}
