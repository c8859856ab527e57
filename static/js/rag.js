// Documents: which collection this conversation answers from (RAG on/off), adding files and
// URLs (ingested in the background, progress pushed as `ingest` events), and the collections
// themselves (listed, deleted). Server side: chatbot/uploads.py and chatbot/grounding.py.
const $ = (selector) => document.querySelector(selector);
const dialog = $("#documents-dialog");
const picker = $("#rag-collection");
const chip = $("#open-documents");
const jobs = $("#ingest-jobs");
const table = $("#collections-list");
const targets = $("#collection-names");
const uploadForm = $("#upload-form");
const urlForm = $("#url-form");

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
      row.insertCell().textContent = c.name;
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
        share.addEventListener("click", () => socket.emit("share_collection", { name: c.name, shared: !c.shared }));
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
          socket.emit("delete_collection", { name: c.name });
        }
      });
      actions.append(remove);
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
    socket.emit("settings", name ? { rag: true, rag_collection: name } : { rag: false });
  });
  chip.addEventListener("click", () => {
    socket.emit("collections", {});
    dialog.showModal();
  });

  socket.on("collections", (data) => {
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
  socket.on("ingest", (data) => {
    const el = job(data.job);
    el.dataset.state = data.state;
    const what = `${data.names.join(", ")} → ${data.collection}`;
    if (data.state === "queued") el.textContent = `Waiting: ${what}`;
    else if (data.state === "running") el.textContent = `Reading: ${what}`;
    else if (data.state === "progress") {
      el.textContent = `Ingesting ${what}: ${plural(data.documents_done, "document")}, ${plural(data.chunks_done, "chunk")} so far (${data.source}: ${data.status})`;
    } else el.textContent = data.text;
  });
  socket.on("connect", () => socket.emit("collections", {}));
  // Someone's collections changed; the listing is per user, so ask for ours.
  socket.on("collections_changed", () => socket.emit("collections", {}));

  return {
    // The conversation's settings (on `history` and `settings`).
    show(values) {
      chat = values;
      showState();
    },
  };
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
