// The conversation as shown in #messages: user messages, answers (Markdown re-rendered at
// most once per frame while they stream, their citations linked, their sources and figures
// under them), notices and the context divider. No socket here: answers.js decides what to
// show, this module only shows it.
import { renderInto } from "../render.js";
import { linkCitations, normalizeSources, sourcesBox } from "./citations.js";
import { notCoveredNote, seenBox } from "./notes.js";
import { number, t, tn } from "../i18n.js";
import { drawReasoning, endReasoning, thinking } from "./reasoning.js";
import { treeButtons } from "./versions.js";
import { sizeText } from "./attach.js";

export const messages = document.querySelector("#messages");
const empty = document.querySelector("#empty");

// Each assistant message's view (its Markdown source is what its Copy button copies).
const views = new WeakMap();
export const viewOf = (el) => views.get(el);

// Rendering ---------------------------------------------------------------------------

// Markdown is re-rendered at most once per animation frame, however fast tokens arrive.
const dirty = new Set();
let frame = 0;
export function scheduleRender(view) {
  dirty.add(view);
  if (!frame) frame = requestAnimationFrame(flushRenders);
}
function flushRenders() {
  frame = 0;
  const stick = nearBottom();
  for (const view of dirty) draw(view);
  dirty.clear();
  if (stick) scrollToBottom();
}

// An answer's Markdown, its [n] markers linked to its sources. While a grounded answer
// streams its sources are not known yet (they come with `done`): its markers are only styled.
function draw(view) {
  drawReasoning(view);
  renderInto(view.body, view.text);
  linkCitations(view.body, view.byNumber, view.grounded && view.el.dataset.state === "streaming");
}

function nearBottom() {
  return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
}
export function scrollToBottom() {
  messages.scrollTop = messages.scrollHeight;
}

export function updateEmpty() {
  empty.hidden = messages.children.length > 0;
}

// Another conversation (or this one shortened) is about to be shown.
export function clear() {
  messages.replaceChildren();
  dirty.clear();
}

// Messages ----------------------------------------------------------------------------

export function actionButton(className, label, title) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = label;
  button.setAttribute("aria-label", title);
  button.title = title;
  return button;
}

export function actions(...buttons) {
  const bar = document.createElement("div");
  bar.className = "actions";
  bar.append(...buttons);
  return bar;
}

export function setId(el, id) {
  if (id !== undefined && id !== null) el.dataset.id = String(id);
}

export function addUser(text, id, attachments = []) {
  const el = document.createElement("article");
  el.className = "msg user";
  setId(el, id);
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.textContent = text; // the user's words are shown as typed: never parsed as HTML
  if (attachments.length) bubble.append(attachedList(attachments));
  // Offered once the message is stored (it has an id): the server edits it by id. Its label
  // comes from the stylesheet, so a user message's text is still only what the user wrote.
  const edit = actionButton("edit", "", t("chat.edit.title"));
  edit.dataset.label = t("chat.edit");
  el.append(bubble, actions(edit, ...treeButtons(false)));
  messages.append(el);
  updateEmpty();
  scrollToBottom();
  return el;
}

// A user message's files, as the server stored them (kinds and links known).
export function showAttachments(el, attachments) {
  const bubble = el.querySelector(".bubble");
  bubble.querySelector(".attached")?.remove();
  bubble.append(attachedList(attachments));
}

// The files a message carried: each a link to open it (when the server serves it), its kind
// and size.
function attachedList(attachments) {
  const list = document.createElement("ul");
  list.className = "attached";
  list.setAttribute("aria-label", t("attach.attached"));
  for (const file of attachments) {
    const li = document.createElement("li");
    const name = document.createElement(file.url ? "a" : "span");
    name.textContent = file.name;
    if (file.url) {
      name.href = file.url;
      name.target = "_blank";
      name.rel = "noopener noreferrer";
    }
    const about = [file.kind, sizeText(file.size)].filter(Boolean).join(", ");
    li.append(name, about ? ` (${about})` : "");
    list.append(li);
  }
  return list;
}

export function addAssistant({ text = "", state = "streaming", id } = {}) {
  const el = document.createElement("article");
  el.className = "msg assistant";
  setId(el, id);
  el.dataset.state = state;
  el.setAttribute("aria-busy", state === "streaming" ? "true" : "false");
  const body = document.createElement("div");
  body.className = "body";
  const status = document.createElement("p");
  status.className = "status";
  const meta = document.createElement("footer");
  meta.className = "meta";
  el.append(body, status, meta, actions(
    actionButton("copy copy-answer", t("chat.copy"), t("chat.copy.label")),
    actionButton("regenerate", t("chat.regenerate"), t("chat.regenerate.label")),
    ...treeButtons(true),
  ));
  messages.append(el);
  updateEmpty();
  // grounded: the answer searched documents; byNumber: its sources by citation number.
  const view = { el, body, status, meta, text, pieces: text ? null : 0, grounded: false, byNumber: new Map() };
  views.set(el, view);
  if (text) draw(view);
  if (state === "streaming") status.textContent = t("status.thinking");
  scrollToBottom();
  return view;
}

export function addNotice(text, level = "info") {
  const el = document.createElement("aside");
  el.className = `notice ${level}`;
  el.setAttribute("role", level === "error" ? "alert" : "note");
  renderInto(el, text);
  messages.append(el);
  updateEmpty();
  scrollToBottom();
  return el;
}

// Buttons under a notice that ask something ("Summarize it"): each sends its command.
export function addActions(element, commands, send) {
  if (!commands || !commands.length) return;
  const row = document.createElement("div");
  row.className = "actions";
  for (const { label, text } of commands) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.addEventListener("click", () => {
      row.remove();
      send(text);
    });
    row.append(button);
  }
  element.append(row);
}

export function addContextDivider() {
  const el = document.createElement("div");
  el.className = "divider";
  el.textContent = t("chat.context_divider");
  messages.append(el);
}

// Answer details ------------------------------------------------------------------------

export function showMeta(view, { usage, tokens_per_s: rate, stopped, finish_reason: reason, state }) {
  const parts = [];
  if (usage && usage.completion_tokens) parts.push(tn("chat.meta.tokens", usage.completion_tokens));
  if (rate) parts.push(t("chat.meta.rate", { rate: number(rate, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) }));
  if (usage && usage.prompt_tokens) parts.push(tn("chat.meta.prompt", usage.prompt_tokens));
  if (stopped || state === "stopped") parts.push(t("chat.meta.stopped"));
  if (reason === "length") parts.push(t("chat.meta.length"));
  view.meta.textContent = parts.join(" · ");
  view.el.dataset.stopped = stopped || state === "stopped" ? "true" : "false";
  // Continue goes on from a stopped or cut answer's last word.
  view.el.dataset.continuable = stopped || state === "stopped" || reason === "length" ? "true" : "false";
}

// What grounds an answer (from `done`, or a `history` message): its sources under it, or the
// note that the documents do not cover the question (then no sources), and "What the model
// saw"; then its citations linked.
export function showGrounding(view, { sources, seen, not_covered: notCovered }) {
  for (const old of view.el.querySelectorAll(":scope > .sources, :scope > .seen, :scope > .not-covered")) {
    old.remove();
  }
  const uncovered = Boolean(notCovered) && typeof notCovered === "object";
  const list = uncovered ? [] : normalizeSources(sources);
  view.byNumber = new Map(list.map((source) => [source.n, source]));
  // The answer's text says the same as the note (it is what the terminal and an export
  // show): the note replaces it here.
  view.body.hidden = uncovered;
  if (uncovered) view.el.insertBefore(notCoveredNote(notCovered), view.meta);
  if (list.length) view.el.insertBefore(sourcesBox(list), view.meta);
  const box = seen && typeof seen === "object" ? seenBox(seen) : null;
  if (box) view.el.insertBefore(box, view.meta);
  draw(view);
}

export function showError(view, message) {
  view.el.dataset.state = "error";
  view.el.setAttribute("aria-busy", "false");
  view.status.textContent = message;
  view.status.setAttribute("role", "alert");
}

// The answer is no longer being written: drawn one last time, whatever is pending.
export function settle(view) {
  view.el.setAttribute("aria-busy", "false");
  if (thinking(view)) endReasoning(view);
  if (view.el.dataset.state === "streaming") view.el.dataset.state = "done";
  dirty.delete(view);
  draw(view);
}
