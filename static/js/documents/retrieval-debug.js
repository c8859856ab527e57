// The retrieval debug view: under each grounded answer, the passages retrieved with their
// lexical and vector rank and fused score. A setting of this browser (localStorage), told to
// the server on each connect and applied like the other settings when the settings dialog is
// saved. Server side: chatbot/chat/grounding.py.
import * as events from "../events.js";
import { number, t, tn } from "../i18n.js";

const debugBox = document.querySelector("#retrieval-debug");
const settingsDialog = document.querySelector("#settings-dialog");
const DEBUG_KEY = "retrieval-debug";

export function initRetrievalDebug(socket) {
  debugBox.checked = localStorage.getItem(DEBUG_KEY) === "on";
  socket.on(events.CONNECT, () => socket.emit(events.RETRIEVAL_DEBUG, { on: debugBox.checked }));
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
}

// The passages retrieved for an answer, best first, with why each ranked where it did.
function explanation({ collection, passages }) {
  const box = document.createElement("details");
  box.className = "retrieval-debug";
  const summary = document.createElement("summary");
  summary.textContent = tn("documents.debug.summary", passages.length, { collection });
  box.append(summary);
  const list = document.createElement("ol");
  for (const p of passages) {
    const item = document.createElement("li");
    item.dataset.used = p.used ? "true" : "false";
    const ranks = document.createElement("span");
    ranks.className = "ranks";
    const moved = p.fused_rank && p.fused_rank !== passages.indexOf(p) + 1
      ? ` ${t("documents.debug.moved", { rank: p.fused_rank })}` : "";
    const ranking = t("documents.debug.ranks", {
      lexical: p.lexical_rank ?? "-",
      vector: p.vector_rank ?? "-",
      score: number(p.score, { minimumFractionDigits: 4, maximumFractionDigits: 4 }),
    });
    ranks.textContent = `${ranking}${moved}${p.used ? "" : ` ${t("documents.debug.unused")}`}`;
    const title = document.createElement("strong");
    const where = (p.headings || []).length ? ` › ${p.headings.join(" › ")}` : "";
    title.textContent = (p.page ? t("documents.debug.page", { title: p.title, page: p.page }) : p.title) + where;
    const excerpt = document.createElement("span");
    excerpt.className = "excerpt";
    excerpt.textContent = p.excerpt;
    item.append(title, ranks, excerpt);
    list.append(item);
  }
  box.append(list);
  return box;
}
