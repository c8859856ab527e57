// The Documents panel's "test retrieval" box: a question, and the passages it would retrieve
// from the collection listed, with their rank, their lexical and vector ranks and their fused
// score (the page's twin of `rag query --explain`). Server side: on_test_retrieval in
// chatbot/sockets/document_events.py.
import * as events from "../events.js";
import { number, t } from "../i18n.js";

const form = document.querySelector("#test-retrieval");
const query = document.querySelector("#test-query");
const status = document.querySelector("#test-status");
const results = document.querySelector("#test-results");

const rank = (value) => (value == null ? "–" : String(value));

export function initTestRetrieval(socket, shownCollection) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const collection = shownCollection();
    const text = query.value.trim();
    if (!collection || !text) return;
    status.textContent = t("documents.test.running");
    results.replaceChildren();
    socket.emit(events.TEST_RETRIEVAL, { collection, query: text });
  });

  socket.on(events.TEST_RETRIEVAL, (data) => {
    if (data.collection !== shownCollection()) return;
    status.textContent = data.passages.length ? t("documents.test.found", { query: data.query }) : t("documents.test.none");
    results.replaceChildren(...data.passages.map((p) => {
      const li = document.createElement("li");
      const head = document.createElement("p");
      const title = document.createElement(p.url ? "a" : "strong");
      title.textContent = p.page ? t("documents.test.title_page", { title: p.title, page: p.page }) : p.title;
      if (p.url) {
        title.href = p.url;
        title.target = "_blank";
        title.rel = "noopener noreferrer";
      }
      const ranks = document.createElement("span");
      ranks.className = "muted ranks";
      ranks.textContent = t("documents.test.ranks", {
        lexical: rank(p.lexical_rank), vector: rank(p.vector_rank), score: number(p.score, { maximumFractionDigits: 4 }),
      });
      head.append(title, " ", ranks);
      const excerpt = document.createElement("p");
      excerpt.className = "excerpt";
      excerpt.textContent = p.headings.length ? `${p.headings.join(" › ")}: ${p.excerpt}` : p.excerpt;
      li.append(head, excerpt);
      return li;
    }));
  });

  // A refused test (a limit, a collection gone) is answered with `error`: the status says it.
  socket.on(events.ERROR, ({ message }) => {
    if (status.textContent === t("documents.test.running")) status.textContent = message;
  });
}
