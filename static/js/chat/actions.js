// What can be done with a message: copy an answer or a code block, regenerate the last
// answer, edit and resend a question, open a cited source in the side panel; and a message
// found by a search revealed.
import * as events from "../events.js";
import { canSend } from "../connection.js";
import { enableCopyButtons } from "../render.js";
import { fits, say } from "./composer.js";
import { clicked } from "./versions.js";
import { actionButton, actions, messages, viewOf } from "./view.js";
import { t } from "../i18n.js";

// A search result chosen in the sidebar: its message, scrolled to and highlighted; false
// when it is not shown (it is in another version).
export function reveal(id) {
  for (const el of messages.querySelectorAll(".msg.found")) el.classList.remove("found");
  const el = id === null || id === undefined ? null : messages.querySelector(`.msg[data-id="${CSS.escape(String(id))}"]`);
  if (!el) return false;
  el.classList.add("found");
  el.scrollIntoView({ block: "center" });
  return true;
}

export function initMessageActions(socket, answers, sourcePanel) {
  enableCopyButtons(messages, (button) => viewOf(button.closest(".msg"))?.text ?? "");

  function ready() {
    if (answers.busy()) {
      say(t("composer.busy"));
      return false;
    }
    if (!canSend()) {
      say(t("composer.offline.retry"));
      return false;
    }
    say();
    return true;
  }

  // The server answers both by showing every tab the path up to the new version's place
  // (`history`), then the question again (`user_message`), the new answer, and the path
  // with its versions (`history`).
  function regenerate() {
    if (ready()) socket.emit(events.REGENERATE, {});
  }

  function startEdit(el) {
    if (el.querySelector(".editor")) return;
    const bubble = el.querySelector(".bubble");
    const form = document.createElement("form");
    form.className = "editor";
    const area = document.createElement("textarea");
    area.value = bubble.textContent;
    area.rows = Math.min(10, area.value.split("\n").length + 1);
    area.setAttribute("aria-label", t("chat.edit.label"));
    const save = actionButton("primary save", t("chat.edit.send"), t("chat.edit.send.label"));
    save.type = "submit";
    const cancel = actionButton("cancel", t("chat.edit.cancel"), t("chat.edit.cancel.label"));
    form.append(area, actions(cancel, save));
    const close = () => {
      form.remove();
      el.classList.remove("editing");
    };
    cancel.addEventListener("click", close);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = area.value.trim();
      if (!text) return;
      if (!fits(text)) return;
      if (!ready()) return;
      socket.emit(events.EDIT, { id: Number(el.dataset.id), text });
      close();
    });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape") {
        event.stopPropagation();
        close();
      }
    });
    el.classList.add("editing");
    el.append(form);
    area.focus();
  }

  // A citation or a source of an answer: a plain click shows it in the side panel; a
  // modified click is left to the browser (the original, in a new tab).
  function openSource(event, control) {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    const source = viewOf(control.closest(".msg"))?.byNumber.get(Number(control.dataset.n));
    if (!source) return;
    event.preventDefault();
    sourcePanel.open(source, control);
  }

  messages.addEventListener("click", (event) => {
    const cited = event.target.closest("a.cite, .sources .source");
    if (cited) {
      openSource(event, cited);
      return;
    }
    const button = event.target.closest("button");
    if (!button) return;
    if (button.classList.contains("regenerate")) regenerate();
    else if (button.classList.contains("edit")) startEdit(button.closest(".msg"));
    else clicked(button, socket, ready);
  });
}
