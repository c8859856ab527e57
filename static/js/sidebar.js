// The sidebar: new chat, new folder, the conversation list (organise/list.js: pinned,
// folders, date groups), import an exported conversation, search across conversations, the
// shared links (sharing.js); the sidebar shown or hidden.
import * as events from "./events.js";
import { renderSnippet } from "./render.js";
import { conversationTitle, t } from "./i18n.js";
import { initConversationList } from "./organise/list.js";

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

// `reveal(messageId)` scrolls to and highlights a message of the conversation shown;
// `sharing` makes and lists shared links (sharing.js).
export function initSidebar(socket, reveal, sharing) {
  let activeId = null;
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
  const conversations = initConversationList(socket, {
    open(id) {
      if (id !== activeId) socket.emit(events.SWITCH, { id });
      open(false);
    },
    share: (id) => sharing.share(id),
  });
  document.querySelector("#new-folder").addEventListener("click", () => conversations.createFolder(null));
  document.querySelector("#open-shares").addEventListener("click", () => sharing.open());

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
      none.textContent = t("sidebar.search.none");
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
      title.textContent = conversationTitle(hit.title);
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
    status.textContent = t("sidebar.import.running", { name: file.name });
    try {
      const response = await fetch("/conversations/import", { method: "POST", body });
      const data = await response.json().catch(() => ({}));
      if (response.ok) {
        status.textContent = t("sidebar.import.done", { title: data.title });
        socket.emit(events.SWITCH, { id: data.id });
        open(false);
      } else {
        status.textContent = data.error || t("sidebar.import.failed", { status: response.status });
      }
    } catch {
      status.textContent = t("sidebar.import.unreachable");
    } finally {
      importFile.value = "";
    }
  });

  return {
    revealPending(conversationId) {
      if (pending?.conversation !== conversationId) return;
      revealOrChoose();
    },
    show(listing) {
      conversations.show(listing.conversations, listing.folders ?? []);
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
      conversations.setActive(activeId);
    },
  };
}
