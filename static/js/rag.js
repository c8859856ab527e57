// Documents: which collection this conversation answers from (RAG on/off), adding files and
// URLs (ingested in the background, progress pushed as `ingest` events), the collections
// themselves (listed, deleted) and each one's documents (listed, removed, URLs fetched
// again); and the retrieval debug view under answers. Server side: chatbot/uploads.py,
// chatbot/ingests.py and chatbot/grounding.py.
import * as events from "./events.js";
const $ = (selector) => document.querySelector(selector);
const dialog = $("#documents-dialog");
const picker = $("#rag-collection");
const chip = $("#open-documents");
const jobs = $("#ingest-jobs");
const table = $("#collections-list");
const targets = $("#collection-names");
const uploadForm = $("#upload-form");
const urlForm = $("#url-form");
const panel = $("#documents-panel");
const panelTitle = $("#documents-of");
const panelStatus = $("#documents-status");
const documentsTable = $("#documents-list");
const debugBox = $("#retrieval-debug");
const settingsDialog = $("#settings-dialog");
const DEBUG_KEY = "retrieval-debug";

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function initRag(socket) {
  let chat = { rag: false, rag_collection: null };
  let known = [];
  let fallback = "default";
  let accounts = false; // collections have owners
  let canShare = false; // an admin, with accounts on

  const current = () => chat.rag_collection || fallback;

  function showState() {
    chip.textContent = chat.rag ? `Documents: ${current()}` : "Documents: off";
    chip.dataset.on = chat.rag ? "true" : "false";
    chip.title = chat.rag ? `Answers use collection “${current()}”` : "Answers do not use your documents";
    const names = [...new Set([...known.map((c) => c.name), ...(chat.rag ? [current()] : [])])];
    picker.replaceChildren(new Option("Off: answer without documents", ""),
      ...names.map((n) => new Option(n, n)));
    picker.value = chat.rag ? current() : "";
    targets.replaceChildren(...names.map((n) => new Option(n)));
    if (!uploadForm.elements.collection.value) uploadForm.elements.collection.value = current();
  }

  function showCollections() {
    table.replaceChildren();
    if (!known.length) {
      const row = table.insertRow();
      row.insertCell().textContent = "No collections yet: add a document below.";
      return;
    }
    for (const c of known) {
      const row = table.insertRow();
      row.dataset.name = c.name;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link open-collection";
      open.textContent = c.name;
      open.setAttribute("aria-label", `Show the documents of collection ${c.name}`);
      open.addEventListener("click", () => {
        shown = c.name;
        panel.hidden = false;
        panelTitle.textContent = `Documents in “${c.name}”`;
        panelStatus.textContent = "Loading…";
        documentsTable.replaceChildren();
        socket.emit(events.DOCUMENTS, { collection: c.name });
      });
      row.insertCell().append(open);
      row.insertCell().textContent = `${plural(c.documents, "document")}, ${plural(c.chunks, "chunk")}`;
      const access = row.insertCell();
      access.className = "access";
      if (accounts) access.textContent = c.shared ? `shared by ${c.owner || "an admin"}` : "private";
      const actions = row.insertCell();
      if (canShare) {
        const share = document.createElement("button");
        share.type = "button";
        share.className = "share";
        share.textContent = c.shared ? "Unshare" : "Share";
        share.setAttribute("aria-label", `${share.textContent} collection ${c.name}`);
        share.addEventListener("click", () => socket.emit(events.SHARE_COLLECTION, { name: c.name, shared: !c.shared }));
        actions.append(share);
      }
      if (c.yours === false) continue;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = "Delete";
      remove.setAttribute("aria-label", `Delete collection ${c.name}`);
      remove.addEventListener("click", () => {
        if (confirm(`Delete collection “${c.name}” and all its chunks?`)) {
          socket.emit(events.DELETE_COLLECTION, { name: c.name });
        }
      });
      actions.append(remove);
    }
  }

  let shown = null; // the collection whose documents the panel lists

  function button(label, className, aria, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = label;
    b.setAttribute("aria-label", aria);
    b.addEventListener("click", onClick);
    return b;
  }

  function showDocuments(data) {
    if (data.collection !== shown) return;
    documentsTable.replaceChildren();
    const docs = data.documents || [];
    panelStatus.textContent = data.error || (docs.length ? `${plural(docs.length, "document")}` : "No documents.");
    for (const d of docs) {
      const row = documentsTable.insertRow();
      row.dataset.id = d.id;
      row.dataset.kind = d.kind;
      const name = row.insertCell();
      name.className = "document";
      const label = d.title && d.title !== d.name ? `${d.title} (${d.name})` : d.name;
      if (d.url) {
        const a = document.createElement("a");
        a.href = d.url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        a.textContent = label;
        name.append(a);
      } else {
        name.textContent = label;
      }
      row.insertCell().textContent = d.kind;
      const details = row.insertCell();
      const ocr = d.ocr_pages.length ? `, OCR: page${d.ocr_pages.length === 1 ? "" : "s"} ${d.ocr_pages.join(", ")}` : "";
      details.textContent = `${plural(d.chunks, "chunk")}${ocr}`;
      const added = row.insertCell();
      const when = new Date(d.added);
      added.textContent = Number.isNaN(when.getTime()) ? "" : when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
      added.title = d.added;
      const actions = row.insertCell();
      if (!data.can_change) continue;
      if (d.kind === "url") {
        actions.append(button("Re-fetch", "refetch", `Fetch ${d.name} again`,
          () => socket.emit(events.REFETCH_DOCUMENT, { collection: data.collection, id: d.id })));
      }
      actions.append(button("Remove", "danger remove-document", `Remove ${d.name}`, () => {
        if (confirm(`Remove “${d.name}” and its chunks from “${data.collection}”?`)) {
          socket.emit(events.REMOVE_DOCUMENT, { collection: data.collection, id: d.id });
        }
      }));
    }
  }

  function job(id) {
    let el = jobs.querySelector(`[data-job="${CSS.escape(id)}"]`);
    if (!el) {
      el = document.createElement("li");
      el.className = "job";
      el.dataset.job = id;
      jobs.prepend(el);
    }
    return el;
  }

  async function post(url, body, form) {
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const pending = job(`pending-${Date.now()}`);
    pending.dataset.state = "sending";
    pending.textContent = "Sending…";
    try {
      const response = await fetch(url, { method: "POST", body, credentials: "same-origin" });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        pending.dataset.state = "failed";
        pending.textContent = data.error || `The server refused it (HTTP ${response.status}).`;
        return;
      }
      pending.remove();
      form.reset();
      form.elements.collection.value = body.get("collection");
    } catch {
      pending.dataset.state = "failed";
      pending.textContent = "Could not reach the server.";
    } finally {
      button.disabled = false;
    }
  }

  uploadForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = new FormData(uploadForm);
    if (!uploadForm.elements.files.files.length) return;
    post("/documents/files", body, uploadForm);
  });
  urlForm.addEventListener("submit", (event) => {
    event.preventDefault();
    urlForm.elements.collection.value = uploadForm.elements.collection.value;
    post("/documents/url", new FormData(urlForm), urlForm);
  });
  picker.addEventListener("change", () => {
    const name = picker.value;
    socket.emit(events.SETTINGS, name ? { rag: true, rag_collection: name } : { rag: false });
  });
  chip.addEventListener("click", () => {
    socket.emit(events.COLLECTIONS, {});
    dialog.showModal();
  });

  socket.on(events.COLLECTIONS, (data) => {
    known = data.collections || [];
    fallback = data.default || fallback;
    accounts = Boolean(data.accounts);
    canShare = Boolean(data.can_share);
    showState();
    showCollections();
    if (data.error) {
      const row = table.insertRow();
      row.insertCell().textContent = `Could not list collections: ${data.error}`;
    }
  });
  // A job not yet ended can be cancelled by its owner (POST /documents/cancel; the server
  // refuses anyone else's); it then ends with state "cancelled" like any other outcome.
  async function cancelJob(id, button) {
    button.disabled = true;
    const body = new FormData();
    body.set("job", id);
    try {
      const response = await fetch("/documents/cancel", { method: "POST", body, credentials: "same-origin" });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        button.replaceWith(document.createTextNode(` ${data.error || "Could not cancel."}`));
      }
    } catch {
      button.disabled = false;
    }
  }

  socket.on(events.INGEST, (data) => {
    const el = job(data.job);
    el.dataset.state = data.state;
    const what = `${data.names.join(", ")} → ${data.collection}`;
    const live = ["queued", "running", "progress"].includes(data.state);
    if (data.state === "queued") el.textContent = `Waiting: ${what}`;
    else if (data.state === "running") el.textContent = `Reading: ${what}`;
    else if (data.state === "progress") {
      el.textContent = `Ingesting ${what}: ${plural(data.documents_done, "document")}, ${plural(data.chunks_done, "chunk")} so far (${data.source}: ${data.status})`;
    } else {
      el.textContent = data.text;
      if (data.collection === shown && !panel.hidden) socket.emit(events.DOCUMENTS, { collection: shown });
    }
    if (live) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "job-cancel";
      button.textContent = "Cancel";
      button.addEventListener("click", () => cancelJob(data.job, button));
      el.append(" ", button);
    }
  });
  socket.on(events.DOCUMENTS, showDocuments);
  socket.on(events.CONNECT, () => {
    socket.emit(events.COLLECTIONS, {});
    socket.emit(events.RETRIEVAL_DEBUG, { on: debugBox.checked });
  });
  // Someone's collections changed; the listing is per user, so ask for ours.
  socket.on(events.COLLECTIONS_CHANGED, () => socket.emit(events.COLLECTIONS, {}));

  // Retrieval debug view: a setting of this browser (the server is told on each connect),
  // applied like the other settings when the settings dialog is saved.
  debugBox.checked = localStorage.getItem(DEBUG_KEY) === "on";
  settingsDialog.addEventListener("close", () => {
    const on = localStorage.getItem(DEBUG_KEY) === "on";
    if (settingsDialog.returnValue !== "save") {
      debugBox.checked = on;
      return;
    }
    if (debugBox.checked === on) return;
    localStorage.setItem(DEBUG_KEY, debugBox.checked ? "on" : "off");
    socket.emit(events.RETRIEVAL_DEBUG, { on: debugBox.checked });
  });
  let explained = null; // the `retrieval` event of the answer being written
  socket.on(events.RETRIEVAL, (data) => {
    explained = data;
  });
  socket.on(events.DONE, () => {
    const data = explained;
    explained = null;
    if (!data || !debugBox.checked) return;
    const answers = document.querySelectorAll("#messages .msg.assistant");
    if (answers.length) answers[answers.length - 1].append(explanation(data));
  });

  return {
    // The conversation's settings (on `history` and `settings`).
    show(values) {
      chat = values;
      showState();
    },
  };
}

// The passages retrieved for an answer, best first, with why each ranked where it did.
function explanation({ collection, passages }) {
  const box = document.createElement("details");
  box.className = "retrieval-debug";
  const summary = document.createElement("summary");
  summary.textContent = `Retrieval: ${plural(passages.length, "passage")} from “${collection}”`;
  box.append(summary);
  const list = document.createElement("ol");
  for (const p of passages) {
    const item = document.createElement("li");
    item.dataset.used = p.used ? "true" : "false";
    const ranks = document.createElement("span");
    ranks.className = "ranks";
    const moved = p.fused_rank && p.fused_rank !== passages.indexOf(p) + 1
      ? ` (fused rank ${p.fused_rank}, moved up by one passage per page)` : "";
    ranks.textContent = `lexical rank ${p.lexical_rank ?? "-"}, vector rank ${p.vector_rank ?? "-"}, fused score ${p.score.toFixed(4)}${moved}${p.used ? "" : " (did not fit the prompt)"}`;
    const title = document.createElement("strong");
    const where = (p.headings || []).length ? ` › ${p.headings.join(" › ")}` : "";
    title.textContent = (p.page ? `${p.title}, page ${p.page}` : p.title) + where;
    const excerpt = document.createElement("span");
    excerpt.className = "excerpt";
    excerpt.textContent = p.excerpt;
    item.append(title, ranks, excerpt);
    list.append(item);
  }
  box.append(list);
  return box;
}

// The server's test for "only a link" (chatbot/grounding.py URL_ONLY): it answers such a
// message with a question, not with an answer.
export const isBareUrl = (text) => /^<?https?:\/\/\S+?>?$/i.test(text.trim());

// Buttons under a notice that ask something ("Summarize it"): each sends its command.
export function addActions(element, actions, send) {
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
