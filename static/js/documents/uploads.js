// Adding files and URLs to a collection: the two forms (POST /documents/files and
// /documents/url), then each ingestion job's progress as the server pushes it (`ingest`),
// with a Cancel button while it has not ended. Server side: chatbot/documents/ingests.py.
import * as events from "../events.js";
import { t, tn } from "../i18n.js";

const $ = (selector) => document.querySelector(selector);
const jobs = $("#ingest-jobs");
const uploadForm = $("#upload-form");
const urlForm = $("#url-form");

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
  pending.textContent = t("documents.sending");
  try {
    const response = await fetch(url, { method: "POST", body, credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      pending.dataset.state = "failed";
      pending.textContent = data.error || t("documents.refused", { status: response.status });
      return;
    }
    pending.remove();
    form.reset();
    form.elements.collection.value = body.get("collection");
  } catch {
    pending.dataset.state = "failed";
    pending.textContent = t("documents.unreachable");
  } finally {
    button.disabled = false;
  }
}

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
      button.replaceWith(document.createTextNode(` ${data.error || t("documents.job.cancel_failed")}`));
    }
  } catch {
    button.disabled = false;
  }
}

// `ingested(collection)`: a job into that collection has ended.
export function initUploads(socket, ingested) {
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

  socket.on(events.INGEST, (data) => {
    const el = job(data.job);
    el.dataset.state = data.state;
    const what = `${data.names.join(", ")} → ${data.collection}`;
    const live = ["queued", "running", "progress"].includes(data.state);
    if (data.state === "queued") el.textContent = t("documents.job.queued", { what });
    else if (data.state === "running") el.textContent = t("documents.job.running", { what });
    else if (data.state === "progress") {
      el.textContent = t("documents.job.progress", {
        what,
        documents: tn("documents.count", data.documents_done),
        chunks: tn("documents.chunks", data.chunks_done),
        source: data.source,
        status: data.status,
      });
    } else {
      el.textContent = data.text;
      ingested(data.collection);
    }
    if (live) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "job-cancel";
      button.textContent = t("documents.job.cancel");
      button.addEventListener("click", () => cancelJob(data.job, button));
      el.append(" ", button);
    }
  });
}
