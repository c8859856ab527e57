// The conversation list: newest first; switch, rename, export, delete; new chat; import an
// exported conversation; search across conversations; the sidebar shown or hidden.
import * as events from "./events.js";
import { renderSnippet } from "./render.js";

const list = document.querySelector("#conversations");
const sidebar = document.querySelector("#sidebar");
const scrim = document.querySelector("#scrim");
const search = document.querySelector("#search");
const results = document.querySelector("#search-results");
const importFile = document.querySelector("#import-file");
const status = document.querySelector("#sidebar-status");
// Below this width the sidebar is a drawer over the page; above it, a column that can be
// hidden (shortcuts.js).
const narrow = window.matchMedia("(max-width: 760px)");
// Typing pauses this long before a search is sent, so each keystroke is not one.
const SEARCH_DELAY_MS = 200;

// `reveal(messageId)` scrolls to and highlights a message of the conversation shown.
export function initSidebar(socket, reveal) {
  let activeId = null;
  let items = [];
  let pending = null; // the search result to reveal once its conversation is shown

  // A message in a version not shown is chosen first; the `history` that follows reveals it.
  function revealOrChoose() {
    if (reveal(pending.message) || pending.message === null || pending.chose) {
      pending = null;
      return;
    }
    pending.chose = true;
    socket.emit(events.CHOOSE_VERSION, { id: pending.message });
  }

  const open = (yes) => {
    sidebar.classList.toggle("open", yes);
    scrim.hidden = !yes;
  };
  const collapse = (yes) => sidebar.classList.toggle("collapsed", yes);
  const shown = () => (narrow.matches ? sidebar.classList.contains("open") : !sidebar.classList.contains("collapsed"));
  const show = (yes) => (narrow.matches ? open(yes) : collapse(!yes));
  // On a wide screen the button is there only while the column is hidden.
  document.querySelector("#open-sidebar").addEventListener("click", () => show(true));
  document.querySelector("#close-sidebar").addEventListener("click", () => open(false));
  scrim.addEventListener("click", () => open(false));
  document.querySelector("#new-chat").addEventListener("click", () => {
    socket.emit(events.RESET, {});
    open(false);
    document.querySelector("#prompt").focus();
  });

  function action(label, handler, extra = {}) {
    const el = document.createElement(extra.href ? "a" : "button");
    el.textContent = label;
    if (extra.href) {
      el.href = extra.href;
      el.setAttribute("download", "");
    } else {
      el.type = "button";
      el.addEventListener("click", handler);
    }
    if (extra.danger) el.className = "danger";
    return el;
  }

  function render() {
    list.replaceChildren();
    for (const conversation of items) {
      const li = document.createElement("li");
      li.dataset.id = conversation.id;
      if (conversation.id === activeId) li.classList.add("active");
      const title = document.createElement("button");
      title.type = "button";
      title.className = "conv-title";
      title.textContent = conversation.title;
      title.title = conversation.title;
      if (conversation.id === activeId) title.setAttribute("aria-current", "true");
      title.addEventListener("click", () => {
        if (conversation.id !== activeId) socket.emit(events.SWITCH, { id: conversation.id });
        open(false);
      });
      const menu = document.createElement("details");
      menu.className = "conv-actions";
      const summary = document.createElement("summary");
      summary.textContent = "⋯";
      summary.setAttribute("aria-label", `Actions for ${conversation.title}`);
      const box = document.createElement("div");
      box.className = "menu";
      const base = `/conversations/${encodeURIComponent(conversation.id)}/export`;
      box.append(
        action("Rename", () => {
          menu.open = false;
          const name = window.prompt("Rename conversation", conversation.title);
          if (name && name.trim()) socket.emit(events.RENAME, { id: conversation.id, title: name.trim() });
        }),
        action("Export Markdown", null, { href: `${base}.md` }),
        action("Export JSON", null, { href: `${base}.json` }),
        action("Delete", () => {
          menu.open = false;
          if (window.confirm(`Delete “${conversation.title}”? This cannot be undone.`)) {
            socket.emit(events.DELETE, { id: conversation.id });
          }
        }, { danger: true }),
      );
      menu.append(summary, box);
      li.append(title, menu);
      list.append(li);
    }
  }

  // Search ------------------------------------------------------------------------------

  let timer = 0;
  const query = () => search.value.trim();
  function showResults(hits) {
    results.hidden = hits === null;
    list.hidden = hits !== null;
    results.replaceChildren();
    if (hits === null) return;
    if (!hits.length) {
      const none = document.createElement("li");
      none.className = "none";
      none.textContent = "No matches";
      results.append(none);
    }
    for (const hit of hits) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "result";
      button.dataset.conversation = hit.conversation;
      if (hit.message !== null) button.dataset.message = String(hit.message);
      const title = document.createElement("strong");
      title.textContent = hit.title;
      const snippet = document.createElement("span");
      snippet.className = "snippet";
      renderSnippet(snippet, hit.snippet);
      button.append(title, snippet);
      button.addEventListener("click", () => {
        pending = { conversation: hit.conversation, message: hit.message, chose: false };
        if (hit.conversation === activeId) {
          revealOrChoose();
        } else {
          socket.emit(events.SWITCH, { id: hit.conversation });
        }
        open(false);
      });
      li.append(button);
      results.append(li);
    }
  }
  search.addEventListener("input", () => {
    clearTimeout(timer);
    if (!query()) {
      showResults(null);
      return;
    }
    timer = setTimeout(() => socket.emit(events.SEARCH, { q: query() }), SEARCH_DELAY_MS);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      search.value = "";
      showResults(null);
    }
  });
  socket.on(events.SEARCH_RESULTS, ({ q, results: hits }) => {
    if (q === query()) showResults(hits); // an older query's answer is stale
  });

  // Import --------------------------------------------------------------------------------

  document.querySelector("#import").addEventListener("click", () => importFile.click());
  importFile.addEventListener("change", async () => {
    const file = importFile.files[0];
    if (!file) return;
    const body = new FormData();
    body.append("file", file);
    status.textContent = `Importing ${file.name}…`;
    try {
      const response = await fetch("/conversations/import", { method: "POST", body });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        status.textContent = `Imported “${data.title}”.`;
        socket.emit(events.SWITCH, { id: data.id });
        open(false);
      } else {
        status.textContent = data.error || `Import failed (HTTP ${response.status}).`;
      }
    } catch {
      status.textContent = "Import failed: the server could not be reached.";
    } finally {
      importFile.value = "";
    }
  });

  return {
    revealPending(conversationId) {
      if (pending?.conversation !== conversationId) return;
      revealOrChoose();
    },
    show(conversations) {
      items = conversations;
      render();
    },
    activeId: () => activeId,
    toggle() {
      const hide = shown();
      // The focus does not stay on a control that is no longer shown.
      if (hide && sidebar.contains(document.activeElement)) document.querySelector("#prompt").focus();
      show(!hide);
    },
    focusSearch() {
      show(true);
      search.focus();
      search.select();
    },
    setActive(conversation) {
      activeId = conversation.id;
      render();
    },
  };
}
