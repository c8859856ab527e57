// Files attached to the next message: the paperclip, a drop onto the page, or a paste. Each
// is uploaded at once into the conversation's own collection (`chat-<conversation id>`, as
// the Documents dialog uploads: POST /documents/files) and shown above the message box while
// it is read; the message then names them (`message {"text", "attachments"}`) and its answer
// is grounded in them (server side: chatbot/chat/attachments.py).
import * as events from "../events.js";
import { number, t } from "../i18n.js";

const list = document.querySelector("#attachments");
const input = document.querySelector("#attach-files");
const prompt = document.querySelector("#prompt");

export function sizeText(bytes) {
  if (bytes == null) return "";
  if (bytes < 1024) return t("attach.bytes", { size: number(bytes) });
  if (bytes < 1024 * 1024) return t("attach.kb", { size: number(bytes / 1024, { maximumFractionDigits: 0 }) });
  return t("attach.mb", { size: number(bytes / (1024 * 1024), { maximumFractionDigits: 1 }) });
}

export function initAttachments(socket, say) {
  let conversation = null;
  let files = []; // {name, size, state: "reading" | "ready" | "failed", job, reason}

  function render() {
    list.hidden = !files.length;
    list.replaceChildren(...files.map((file, index) => {
      const li = document.createElement("li");
      li.dataset.state = file.state;
      const label = document.createElement("span");
      const state = file.state === "reading" ? t("attach.reading") : file.state === "failed" ? file.reason : sizeText(file.size);
      label.textContent = `${file.name} · ${state}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "icon remove-attachment";
      remove.textContent = "✕";
      remove.setAttribute("aria-label", t("attach.remove", { name: file.name }));
      remove.addEventListener("click", () => {
        files.splice(index, 1);
        render();
        prompt.focus();
      });
      li.append(label, remove);
      return li;
    }));
  }

  async function upload(chosen) {
    if (!chosen.length || !conversation) return;
    const batch = chosen.map((file) => ({ name: file.name, size: file.size, state: "reading", job: null, reason: "" }));
    files.push(...batch);
    render();
    const form = new FormData();
    for (const file of chosen) form.append("files", file);
    form.append("collection", `chat-${conversation}`);
    let answer = {};
    let ok = false;
    try {
      const response = await fetch("/documents/files", { method: "POST", body: form });
      ok = response.status === 202;
      answer = await response.json().catch(() => ({}));
    } catch {
      answer = { error: t("attach.unreachable") };
    }
    for (const file of batch) {
      if (ok) file.job = answer.job;
      else Object.assign(file, { state: "failed", reason: answer.error || t("attach.failed") });
    }
    render();
  }

  socket.on(events.HISTORY, (data) => {
    if (data.conversation.id !== conversation) {
      files = [];
      render();
    }
    conversation = data.conversation.id;
  });

  socket.on(events.INGEST, (data) => {
    const mine = files.filter((file) => file.job && file.job === data.job);
    if (!mine.length || !["done", "failed"].includes(data.state)) return;
    const failed = new Map([...(data.summary?.failed || []), ...(data.summary?.skipped || [])]
      .map((f) => [f.source, f.reason]).concat((data.skipped || []).map((f) => [f.name, f.reason])));
    for (const file of mine) {
      // A file added in part (a PDF's unread pages) is attached all the same.
      const partly = (failed.get(file.name) || "").startsWith("added");
      const reason = data.state === "failed" ? data.text || t("attach.failed") : partly ? "" : failed.get(file.name);
      Object.assign(file, reason ? { state: "failed", reason } : { state: "ready" });
    }
    render();
  });

  document.querySelector("#attach").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    upload([...input.files]);
    input.value = "";
  });
  const main = document.querySelector("main");
  main.addEventListener("dragover", (event) => {
    if ([...event.dataTransfer.types].includes("Files")) event.preventDefault();
  });
  main.addEventListener("drop", (event) => {
    if (!event.dataTransfer.files.length) return;
    event.preventDefault();
    upload([...event.dataTransfer.files]);
  });
  prompt.addEventListener("paste", (event) => {
    const pasted = [...(event.clipboardData?.files || [])];
    if (!pasted.length) return;
    event.preventDefault();
    upload(pasted);
  });

  return {
    // The files the next message carries, or null (with the reason said) while one is read.
    take() {
      if (files.some((file) => file.state === "reading")) {
        say(t("attach.wait"));
        return null;
      }
      const ready = files.filter((file) => file.state === "ready");
      files = [];
      render();
      return ready.map(({ name, size }) => ({ name, size }));
    },
  };
}
