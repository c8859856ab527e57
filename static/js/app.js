// The chat page: one Socket.IO connection, the message list with its per-message actions
// (copy, regenerate, edit and resend), the composer.
// Protocol and page hooks: docs/protocol.md (#messages, .msg.user, .msg.assistant with
// data-state, #prompt, #send, #stop, .sources, a.cite, #source-panel).
import * as events from "./events.js";
import { io } from "/vendor/socket.io.esm.min.js";
import { enableCopyButtons, renderInto } from "./render.js";
import { linkCitations, normalizeSources, notCoveredNote, seenBox, sourcesBox } from "./citations.js";
import { initCollections } from "./documents/collections.js";
import { initRetrievalDebug } from "./documents/retrieval-debug.js";
import { initUploads } from "./documents/uploads.js";
import { initSettings } from "./settings.js";
import { initSidebar } from "./sidebar.js";
import { initSourcePanel } from "./sourcepanel.js";

const $ = (selector) => document.querySelector(selector);
const messages = $("#messages");
const prompt = $("#prompt");
const sendButton = $("#send");
const stopButton = $("#stop");
const connection = $("#connection");
const hint = $("#hint");
const empty = $("#empty");

let maxChars = 16000;
let current = null; // the assistant answer being written in this conversation, if any
let stopped = null; // an answer stopped here whose `done` (with its figures) is still due
// The answer about to be shown searched documents: its search can start before the page
// learns of the answer itself (a regenerated answer, one asked in another tab).
let searchedAhead = false;

const socket = io({ transports: ["websocket", "polling"] });
const sidebar = initSidebar(socket, reveal);
const settings = initSettings(socket);
const collections = initCollections(socket);
initUploads(socket, collections.ingested);
initRetrievalDebug(socket);
const sourcePanel = initSourcePanel();
let shownConversation = null; // the conversation on screen, whose sources the panel shows
// Each assistant message's view (its Markdown source is what its Copy button copies).
const views = new WeakMap();
enableCopyButtons(messages, (button) => views.get(button.closest(".msg"))?.text ?? "");

// The server's test for "only a link" (chatbot/grounding.py URL_ONLY): it answers such a
// message with a question, not with an answer.
const isBareUrl = (text) => /^<?https?:\/\/\S+?>?$/i.test(text.trim());

// Buttons under a notice that ask something ("Summarize it"): each sends its command.
function addActions(element, actions, send) {
  if (!actions || !actions.length) return;
  const row = document.createElement("div");
  row.className = "actions";
  for (const { label, text } of actions) {
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

// Rendering ---------------------------------------------------------------------------

// Markdown is re-rendered at most once per animation frame, however fast tokens arrive.
const dirty = new Set();
let frame = 0;
function scheduleRender(view) {
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
  renderInto(view.body, view.text);
  linkCitations(view.body, view.byNumber, view.grounded && view.el.dataset.state === "streaming");
}

function nearBottom() {
  return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
}
function scrollToBottom() {
  messages.scrollTop = messages.scrollHeight;
}

function showTitle(title) {
  $("#title").textContent = title;
  document.title = `${title} · Local Chat`;
}

function say(text) {
  hint.textContent = text || hint.dataset.default;
}

function updateEmpty() {
  empty.hidden = messages.children.length > 0;
}

function actionButton(className, label, title) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = label;
  button.setAttribute("aria-label", title);
  button.title = title;
  return button;
}

function actions(...buttons) {
  const bar = document.createElement("div");
  bar.className = "actions";
  bar.append(...buttons);
  return bar;
}

function setId(el, id) {
  if (id !== undefined && id !== null) el.dataset.id = String(id);
}

function addUser(text, id) {
  const el = document.createElement("article");
  el.className = "msg user";
  setId(el, id);
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.textContent = text; // the user's words are shown as typed: never parsed as HTML
  // Offered once the message is stored (it has an id): the server edits it by id. Its label
  // comes from the stylesheet, so a user message's text is still only what the user wrote.
  el.append(bubble, actions(actionButton("edit", "", "Edit and resend")));
  messages.append(el);
  updateEmpty();
  scrollToBottom();
  return el;
}

// The answer being written, shown from its first sign (the question from another tab, a
// token): grounded if its search was already announced.
function startAnswer() {
  current = addAssistant();
  current.grounded = searchedAhead;
  searchedAhead = false;
  setBusy(true);
}

function addAssistant({ text = "", state = "streaming", id } = {}) {
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
    actionButton("copy copy-answer", "Copy", "Copy answer (Markdown)"),
    actionButton("regenerate", "Regenerate", "Regenerate this answer"),
  ));
  messages.append(el);
  updateEmpty();
  // grounded: the answer searched documents; byNumber: its sources by citation number.
  const view = { el, body, status, meta, text, pieces: text ? null : 0, grounded: false, byNumber: new Map() };
  views.set(el, view);
  if (text) draw(view);
  if (state === "streaming") status.textContent = "Thinking…";
  scrollToBottom();
  return view;
}

function addNotice(text, level = "info") {
  const el = document.createElement("aside");
  el.className = `notice ${level}`;
  el.setAttribute("role", level === "error" ? "alert" : "note");
  renderInto(el, text);
  messages.append(el);
  updateEmpty();
  scrollToBottom();
  return el;
}

function addContextDivider() {
  const el = document.createElement("div");
  el.className = "divider";
  el.textContent = "Messages above are no longer in the model's context";
  messages.append(el);
}

function showMeta(view, { usage, tokens_per_s: rate, stopped, finish_reason: reason, state }) {
  const parts = [];
  if (usage && usage.completion_tokens) parts.push(`${usage.completion_tokens} tokens`);
  if (rate) parts.push(`${rate.toFixed(1)} tok/s`);
  if (usage && usage.prompt_tokens) parts.push(`prompt ${usage.prompt_tokens} tokens`);
  if (stopped || state === "stopped") parts.push("stopped");
  if (reason === "length") parts.push("cut at the answer length limit");
  view.meta.textContent = parts.join(" · ");
  view.el.dataset.stopped = stopped || state === "stopped" ? "true" : "false";
}

// What grounds an answer (from `done`, or a `history` message): its sources under it, or the
// note that the documents do not cover the question (then no sources), and "What the model
// saw"; then its citations linked.
function showGrounding(view, { sources, seen, not_covered: notCovered }) {
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

function showError(view, message) {
  view.el.dataset.state = "error";
  view.el.setAttribute("aria-busy", "false");
  view.status.textContent = message;
  view.status.setAttribute("role", "alert");
}

// Answer lifecycle --------------------------------------------------------------------

function setBusy(busy) {
  stopButton.hidden = !busy;
  sendButton.hidden = busy;
}

function finish(view) {
  view.el.setAttribute("aria-busy", "false");
  if (view.el.dataset.state === "streaming") view.el.dataset.state = "done";
  dirty.delete(view);
  draw(view);
  if (current === view) current = null;
  setBusy(current !== null);
}

function stop() {
  if (!current) return;
  // What this page showed is what is kept (unknown for an answer joined mid-stream).
  socket.emit(events.STOP, current.pieces === null ? {} : { shown: current.pieces });
  // The answer ends on screen now; tokens already on their way are dropped, and the
  // server's `done` adds the figures.
  stopped = current;
  stopped.status.textContent = "";
  stopped.el.dataset.stopped = "true";
  finish(stopped);
}

function send() {
  const text = prompt.value.trim();
  if (!text) return;
  if (text.length > maxChars) {
    say(`That message is ${text.length.toLocaleString()} characters; the limit is ${maxChars.toLocaleString()}.`);
    return;
  }
  if (current) {
    say("Wait for the answer to finish, or stop it (Esc).");
    return;
  }
  if (!socket.connected) {
    say("Not connected yet: send again once the dot turns green.");
    return;
  }
  say();
  prompt.value = "";
  autoGrow();
  // Commands, and a message that is only a link (the server asks about it), start no answer.
  if (text.startsWith("/") || isBareUrl(text)) {
    socket.emit(events.MESSAGE, { text });
    return;
  }
  addUser(text);
  current = addAssistant();
  setBusy(true);
  socket.emit(events.MESSAGE, { text });
}

// Socket events -----------------------------------------------------------------------

socket.on(events.CONNECT, () => {
  sessionStorage.removeItem("reloaded-for-cookie");
  connection.dataset.state = "connected";
  connection.textContent = "Connected";
  sendButton.disabled = false;
});
socket.on(events.DISCONNECT, () => {
  connection.dataset.state = "reconnecting";
  connection.textContent = "Reconnecting…";
  sendButton.disabled = true;
});
socket.on(events.CONNECT_ERROR, (error) => {
  // Refused: this page's cookie is no longer valid (e.g. the server's key changed, or with
  // accounts the session ended). A reload gets a fresh one, or the sign-in page; once per
  // connection, so a server that keeps refusing cannot cause a reload loop.
  if (/rejected/i.test(error.message) && !sessionStorage.getItem("reloaded-for-cookie")) {
    sessionStorage.setItem("reloaded-for-cookie", "1");
    location.reload();
    return;
  }
  connection.dataset.state = "offline";
  // Refused with a reason (too many tabs open from this address): the client does not
  // retry by itself, so say why instead of promising a retry.
  connection.textContent = socket.active ? "Offline, retrying…" : error.message;
  sendButton.disabled = true;
});

socket.on(events.HISTORY, (data) => {
  messages.replaceChildren();
  current = null;
  stopped = null;
  searchedAhead = false;
  dirty.clear();
  setBusy(false);
  maxChars = data.limits?.max_message_chars ?? maxChars;
  sidebar.setActive(data.conversation);
  if (data.conversation.id !== shownConversation) sourcePanel.close();
  shownConversation = data.conversation.id;
  showTitle(data.conversation.title);
  settings.show(data.settings);
  collections.show(data.settings);
  for (const m of data.messages) {
    if (data.context_from && m.id === data.context_from && messages.children.length) addContextDivider();
    if (m.role === "user") {
      addUser(m.content, m.id);
    } else if (m.role === "assistant") {
      const view = addAssistant({ text: m.content, state: m.state === "error" ? "error" : "done", id: m.id });
      showGrounding(view, m);
      showMeta(view, m);
      if (m.state === "error") showError(view, m.error || "This answer failed.");
    }
  }
  if (data.streaming) {
    current = addAssistant({ text: data.streaming.text });
    setBusy(true);
  }
  updateEmpty();
  scrollToBottom();
  sidebar.revealPending(data.conversation.id);
});

socket.on(events.USER_MESSAGE, ({ text }) => {
  addUser(text);
  startAnswer();
});

// The question being answered was stored: it can be edited from now on.
socket.on(events.USER_STORED, ({ id }) => {
  const questions = messages.querySelectorAll(".msg.user");
  if (questions.length) setId(questions[questions.length - 1], id);
});

socket.on(events.TOKEN, ({ text }) => {
  if (stopped) return;
  if (!current) startAnswer();
  if (!current.text) current.status.textContent = "";
  current.text += text;
  if (current.pieces !== null) current.pieces += 1;
  scheduleRender(current);
});

socket.on(events.DONE, (data) => {
  const view = data.stopped && stopped ? stopped : current;
  if (data.stopped) stopped = null;
  if (!view) return;
  setId(view.el, data.id);
  showGrounding(view, data);
  showMeta(view, data);
  finish(view);
});

// Accounts on: this browser signed out (here or in another tab), or its user was disabled.
socket.on(events.SIGNED_OUT, () => window.location.assign("/login"));

socket.on(events.ERROR, ({ message }) => {
  if (current) {
    const view = current;
    finish(view);
    showError(view, message);
  } else {
    addNotice(message, "error");
  }
});

socket.on(events.STATUS, ({ state, position }) => {
  if (!current) {
    searchedAhead = state === "retrieving" || (searchedAhead && state !== "idle");
    return;
  }
  if (state === "queued") {
    current.status.textContent = `Waiting for the model: ${position} ${position === 1 ? "answer" : "answers"} ahead…`;
  } else if (state === "retrieving") {
    current.grounded = true;
    current.status.textContent = "Searching your documents…";
  } else if (state === "generating" && !current.text) {
    current.status.textContent = "Thinking…";
  }
});

socket.on(events.NOTICE, ({ text, level, context_from: from, actions }) => {
  if (from && !current?.text) addContextDivider();
  addActions(addNotice(text, level), actions, (command) => socket.emit(events.MESSAGE, { text: command }));
});

socket.on(events.CONVERSATIONS, ({ conversations }) => {
  sidebar.show(conversations);
  const active = conversations.find((c) => c.id === sidebar.activeId());
  if (active) showTitle(active.title);
});
socket.on(events.SETTINGS, (values) => {
  settings.show(values);
  collections.show(values);
});

// Message actions: regenerate, edit and resend; a search result revealed -----------------

function ready() {
  if (current) {
    say("Wait for the answer to finish, or stop it (Esc).");
    return false;
  }
  if (!socket.connected) {
    say("Not connected yet: try again once the dot turns green.");
    return false;
  }
  say();
  return true;
}

// The server answers both by showing every tab the shortened conversation (`history`),
// then the question again (`user_message`) and the new answer.
function regenerate() {
  if (ready()) socket.emit(events.REGENERATE, {});
}

function startEdit(el) {
  if (el.querySelector(".editor")) return;
  const bubble = el.querySelector(".bubble");
  const form = document.createElement("form");
  form.className = "editor";
  const area = document.createElement("textarea");
  area.value = bubble.textContent;
  area.rows = Math.min(10, area.value.split("\n").length + 1);
  area.setAttribute("aria-label", "Edited message");
  const save = actionButton("primary save", "Send", "Send the edited message");
  save.type = "submit";
  const cancel = actionButton("cancel", "Cancel", "Cancel editing");
  form.append(area, actions(cancel, save));
  const close = () => {
    form.remove();
    el.classList.remove("editing");
  };
  cancel.addEventListener("click", close);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = area.value.trim();
    if (!text) return;
    if (text.length > maxChars) {
      say(`That message is ${text.length.toLocaleString()} characters; the limit is ${maxChars.toLocaleString()}.`);
      return;
    }
    if (!ready()) return;
    socket.emit(events.EDIT, { id: Number(el.dataset.id), text });
    close();
  });
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  });
  el.classList.add("editing");
  el.append(form);
  area.focus();
}

// A citation or a source of an answer: a plain click shows it in the side panel; a modified
// click is left to the browser (the original, in a new tab).
function openSource(event, control) {
  if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  const source = views.get(control.closest(".msg"))?.byNumber.get(Number(control.dataset.n));
  if (!source) return;
  event.preventDefault();
  sourcePanel.open(source, control);
}

messages.addEventListener("click", (event) => {
  const cited = event.target.closest("a.cite, .sources .source");
  if (cited) {
    openSource(event, cited);
    return;
  }
  const button = event.target.closest("button");
  if (!button) return;
  if (button.classList.contains("regenerate")) regenerate();
  else if (button.classList.contains("edit")) startEdit(button.closest(".msg"));
});

// A search result chosen in the sidebar: its message, scrolled to and highlighted.
function reveal(id) {
  for (const el of messages.querySelectorAll(".msg.found")) el.classList.remove("found");
  const el = id === null || id === undefined ? null : messages.querySelector(`.msg[data-id="${CSS.escape(String(id))}"]`);
  if (!el) return;
  el.classList.add("found");
  el.scrollIntoView({ block: "center" });
}

// Composer ----------------------------------------------------------------------------

function autoGrow() {
  prompt.style.height = "auto";
  prompt.style.height = `${Math.min(prompt.scrollHeight, 240)}px`;
}

prompt.addEventListener("input", autoGrow);
prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (current) stop();
  else sourcePanel.close();
});
$("#composer").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
stopButton.addEventListener("click", stop);
updateEmpty();
say();
