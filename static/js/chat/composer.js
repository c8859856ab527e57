// The composer: the message box (Enter sends, Shift+Enter starts a new line, it grows with its
// text), Send and Stop (Esc stops too), and the hint under it, which says why a message was
// not sent.
import * as events from "../events.js";
import { number, t } from "../i18n.js";
import { canSend } from "../connection.js";
import { initAttachments } from "./attach.js";
import { initMentions } from "./mentions.js";

const $ = (selector) => document.querySelector(selector);
const prompt = $("#prompt");
const stopButton = $("#stop");
const hint = $("#hint");

let maxChars = 16000; // the server's, from `history`

export function say(text) {
  hint.textContent = text || hint.dataset.default;
}

export function setMaxChars(limit) {
  maxChars = limit ?? maxChars;
}

// Whether the server would take `text` as a message; if not, the hint says why.
export function fits(text) {
  if (text.length <= maxChars) return true;
  say(t("composer.too_long", { length: number(text.length), limit: number(maxChars) }));
  return false;
}

// The server's test for "only a link" (chatbot/chat/grounding.py URL_ONLY): it answers such a
// message with a question, not with an answer.
const isBareUrl = (text) => /^<?https?:\/\/\S+?>?$/i.test(text.trim());

function autoGrow() {
  prompt.style.height = "auto";
  prompt.style.height = `${Math.min(prompt.scrollHeight, 240)}px`;
}

export function initComposer(socket, answers, sourcePanel) {
  const attachments = initAttachments(socket, say);

  function send() {
    const text = prompt.value.trim();
    if (!text) return;
    if (!fits(text)) return;
    if (answers.busy()) {
      say(t("composer.busy"));
      return;
    }
    if (!canSend()) {
      say(t("composer.offline"));
      return;
    }
    const attached = attachments.take();
    if (attached === null) return;
    say();
    prompt.value = "";
    autoGrow();
    if (attached.length) {
      answers.ask(text, attached);
      socket.emit(events.MESSAGE, { text, attachments: attached.map((file) => file.name) });
      return;
    }
    // Commands, and a message that is only a link (the server asks about it), start no answer.
    if (text.startsWith("/") || isBareUrl(text)) {
      socket.emit(events.MESSAGE, { text });
      return;
    }
    answers.ask(text);
    socket.emit(events.MESSAGE, { text });
  }

  const mentionKey = initMentions(socket);
  prompt.addEventListener("input", autoGrow);
  prompt.addEventListener("keydown", (event) => {
    if (mentionKey(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (answers.busy()) answers.stop();
    else sourcePanel.close();
  });
  $("#composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  stopButton.addEventListener("click", answers.stop);
}
