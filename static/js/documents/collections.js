// Which collection this conversation answers from (RAG on/off, the Documents chip and the
// dialog's picker), the collections themselves (listed, shared, deleted) and each one's
// documents (listed, removed, URLs fetched again). Server side: chatbot/web/uploads.py.
import * as events from "../events.js";
import { date, t, tn } from "../i18n.js";
import { button } from "../dom.js";

const $ = (selector) => document.querySelector(selector);
const dialog = $("#documents-dialog");
const picker = $("#rag-collection");
const chip = $("#open-documents");
const table = $("#collections-list");
const targets = $("#collection-names");
const uploadForm = $("#upload-form");
const panel = $("#documents-panel");
const panelTitle = $("#documents-of");
const panelStatus = $("#documents-status");
const documentsTable = $("#documents-list");
const failedBox = $("#documents-failed");
const failedList = failedBox.querySelector("ul");

// An ISO 8601 time from the server in this page's language ("" when there is none).
function when(iso) {
  const moment = new Date(iso);
  return iso && !Number.isNaN(moment.getTime()) ? date(moment, { dateStyle: "medium", timeStyle: "short" }) : "";
}

export function initCollections(socket) {
  let chat = { rag: false, rag_collection: null };
  let known = [];
  let fallback = "default";
  let accounts = false; // collections have owners
  let canShare = false; // an admin, with accounts on
  let shown = null; // the collection whose documents the panel lists

  const current = () => chat.rag_collection || fallback;

  function showState() {
    chip.textContent = chat.rag ? t("documents.chip.on", { collection: current() }) : t("documents.chip.off");
    chip.dataset.on = chat.rag ? "true" : "false";
    chip.title = chat.rag ? t("documents.chip.on.title", { collection: current() }) : t("documents.chip.off.title");
    const names = [...new Set([...known.map((c) => c.name), ...(chat.rag ? [current()] : [])])];
    picker.replaceChildren(new Option(t("documents.picker.off"), ""),
      ...names.map((n) => new Option(n, n)));
    picker.value = chat.rag ? current() : "";
    // The names offered to the upload form, which adds into this collection unless told.
    targets.replaceChildren(...names.map((n) => new Option(n)));
    if (!uploadForm.elements.collection.value) uploadForm.elements.collection.value = current();
  }

  function showCollections() {
    table.replaceChildren();
    if (!known.length) {
      const row = table.insertRow();
      row.insertCell().textContent = t("documents.collections.none");
      return;
    }
    for (const c of known) {
      const row = table.insertRow();
      row.dataset.name = c.name;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link open-collection";
      open.textContent = c.name;
      open.setAttribute("aria-label", t("documents.collection.show", { name: c.name }));
      open.addEventListener("click", () => {
        shown = c.name;
        panel.hidden = false;
        panelTitle.textContent = t("documents.in", { name: c.name });
        panelStatus.textContent = t("documents.loading");
        documentsTable.replaceChildren();
        socket.emit(events.DOCUMENTS, { collection: c.name });
      });
      row.insertCell().append(open);
      row.insertCell().textContent = `${tn("documents.count", c.documents)}, ${tn("documents.chunks", c.chunks)}`;
      const access = row.insertCell();
      access.className = "access";
      if (accounts) access.textContent = c.shared ? t("documents.shared_by", { owner: c.owner || t("documents.an_admin") }) : t("documents.private");
      const actions = row.insertCell();
      if (canShare) {
        const share = document.createElement("button");
        share.type = "button";
        share.className = "share";
        share.textContent = c.shared ? t("documents.unshare") : t("documents.share");
        share.setAttribute("aria-label", t(c.shared ? "documents.unshare.label" : "documents.share.label", { name: c.name }));
        share.addEventListener("click", () => socket.emit(events.SHARE_COLLECTION, { name: c.name, shared: !c.shared }));
        actions.append(share);
      }
      if (c.yours === false) continue;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = t("documents.delete");
      remove.setAttribute("aria-label", t("documents.delete.label", { name: c.name }));
      remove.addEventListener("click", () => {
        if (confirm(t("documents.delete.confirm", { name: c.name }))) {
          socket.emit(events.DELETE_COLLECTION, { name: c.name });
        }
      });
      actions.append(remove);
    }
  }

  function showFailed(failed) {
    failedBox.hidden = !failed.length;
    failedList.replaceChildren(...failed.map((f) => {
      const li = document.createElement("li");
      li.textContent = t("documents.failed.item", { name: f.name, reason: f.reason, date: when(f.checked) });
      return li;
    }));
  }

  function showDocuments(data) {
    if (data.collection !== shown) return;
    showFailed(data.failed || []);
    documentsTable.replaceChildren();
    const docs = data.documents || [];
    panelStatus.textContent = data.error || (docs.length ? tn("documents.count", docs.length) : t("documents.none"));
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
      const ocr = d.ocr_pages.length ? `, ${tn("documents.ocr", d.ocr_pages.length, { pages: d.ocr_pages.join(", ") })}` : "";
      details.textContent = `${tn("documents.chunks", d.chunks)}${ocr}`;
      if (d.problem) {
        const problem = document.createElement("p");
        problem.className = "problem";
        problem.textContent = t("documents.problem", { problem: d.problem });
        details.append(problem);
      }
      const added = row.insertCell();
      added.className = "health";
      added.textContent = when(d.added);
      const checked = document.createElement("span");
      checked.className = "muted";
      checked.textContent = t("documents.checked", { date: when(d.checked) });
      added.append(document.createElement("br"), checked);
      added.title = t("documents.health", { first: when(d.first_added), checked: when(d.checked), changed: when(d.added) });
      const actions = row.insertCell();
      if (!data.can_change) continue;
      if (d.kind === "url") {
        actions.append(button(t("documents.refetch"), "refetch", t("documents.refetch.label", { name: d.name }),
          () => socket.emit(events.REFETCH_DOCUMENT, { collection: data.collection, id: d.id })));
      }
      actions.append(button(t("documents.remove"), "danger remove-document", t("documents.remove.label", { name: d.name }), () => {
        if (confirm(t("documents.remove.confirm", { name: d.name, collection: data.collection }))) {
          socket.emit(events.REMOVE_DOCUMENT, { collection: data.collection, id: d.id });
        }
      }));
    }
  }

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
      row.insertCell().textContent = t("documents.collections.failed", { error: data.error });
    }
  });
  socket.on(events.DOCUMENTS, showDocuments);
  socket.on(events.CONNECT, () => socket.emit(events.COLLECTIONS, {}));
  // Someone's collections changed; the listing is per user, so ask for ours.
  socket.on(events.COLLECTIONS_CHANGED, () => socket.emit(events.COLLECTIONS, {}));

  return {
    // The conversation's settings (on `history` and `settings`).
    show(values) {
      chat = values;
      showState();
    },
    // A job into `collection` ended: the documents panel, if it lists that one, is stale.
    ingested(collection) {
      if (collection === shown && !panel.hidden) socket.emit(events.DOCUMENTS, { collection: shown });
    },
    // The collection whose documents the panel lists (null: none).
    shown: () => (panel.hidden ? null : shown),
  };
}
