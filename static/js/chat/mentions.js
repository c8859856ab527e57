// `#` in the message box: a list of the user's collections and documents whose name holds
// what follows the `#`, to ground this one question in one of them (server side:
// chatbot/chat/mentions.py). Arrow keys move in the list, Enter or Tab chooses, Esc closes;
// a click chooses too. The list is a listbox the message box controls (a combobox).
import * as events from "../events.js";
import { t } from "../i18n.js";

const prompt = document.querySelector("#prompt");
const list = document.querySelector("#mention-list");
// A `#` at the start or after a space, then the name typed so far, up to the caret.
const TYPING = /(?:^|\s)#(\[[^\]\n]*|[^\s#[\]]*)$/;

export function initMentions(socket) {
  let items = [];
  let active = -1;
  let asked = null; // the query of the last request, to drop stale answers

  function typed() {
    const match = TYPING.exec(prompt.value.slice(0, prompt.selectionStart));
    return match ? { query: match[1].replace(/^\[/, ""), start: prompt.selectionStart - match[1].length - 1 } : null;
  }

  function close() {
    list.hidden = true;
    list.replaceChildren();
    items = [];
    active = -1;
    prompt.setAttribute("aria-expanded", "false");
    prompt.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    active = index;
    list.querySelectorAll("[role=option]").forEach((option, i) => option.setAttribute("aria-selected", String(i === index)));
    if (index >= 0) prompt.setAttribute("aria-activedescendant", `mention-${index}`);
  }

  function choose(index) {
    const at = typed();
    const item = items[index];
    if (!at || !item) return close();
    const before = prompt.value.slice(0, at.start);
    const after = prompt.value.slice(prompt.selectionStart);
    prompt.value = `${before}${item.insert} ${after}`;
    const caret = before.length + item.insert.length + 1;
    prompt.setSelectionRange(caret, caret);
    close();
    prompt.dispatchEvent(new Event("input"));
  }

  prompt.addEventListener("input", () => {
    const at = typed();
    if (!at) return close();
    asked = at.query;
    socket.emit(events.MENTIONS, { query: at.query });
  });

  socket.on(events.MENTIONS, (data) => {
    const at = typed();
    if (!at || data.query !== asked) return;
    items = data.items;
    if (!items.length) return close();
    list.replaceChildren(...items.map((item, i) => {
      const option = document.createElement("li");
      option.id = `mention-${i}`;
      option.setAttribute("role", "option");
      const what = item.kind === "collection" ? t("mentions.collection") : t("mentions.document", { collection: item.collection });
      const name = document.createElement("span");
      name.textContent = item.title && item.title !== item.name ? `${item.title} (${item.name})` : item.name;
      const kind = document.createElement("span");
      kind.className = "muted";
      kind.textContent = what;
      option.append(name, " ", kind);
      // mousedown, not click: the message box keeps its focus and caret.
      option.addEventListener("mousedown", (event) => {
        event.preventDefault();
        choose(i);
      });
      return option;
    }));
    list.hidden = false;
    prompt.setAttribute("aria-expanded", "true");
    highlight(0);
  });

  prompt.addEventListener("blur", close);

  // The composer asks this first for each key: true when the list used it.
  return function handleKey(event) {
    if (list.hidden) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + items.length) % items.length);
    } else if (event.key === "Enter" || event.key === "Tab") {
      choose(active);
    } else if (event.key === "Escape") {
      close();
    } else {
      return false;
    }
    event.preventDefault();
    event.stopPropagation();
    return true;
  };
}
