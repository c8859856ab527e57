// Keyboard shortcuts, the ones ChatGPT and Open WebUI users know where the browser leaves the
// key free, and the dialog that lists them (`?` outside a text field, or Ctrl+/). On a Mac
// Cmd stands where Ctrl does elsewhere. Esc (stop the answer, close the source panel) and
// Enter stay with the composer, which owns them; they are only listed here.
import { say } from "./chat/composer.js";
import { messages, viewOf } from "./chat/view.js";
import { t } from "./i18n.js";

const platform = navigator.userAgentData?.platform || navigator.platform || "";
const mac = /mac|iphone|ipad/i.test(platform);
const MOD = mac ? "Cmd" : t("shortcuts.key.ctrl");
const SHIFT = t("shortcuts.key.shift");

// Whether a key typed here is text (then `?` is a question mark, not a shortcut).
function typing(target) {
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  if (target.tagName !== "INPUT") return false;
  return !["button", "checkbox", "radio", "submit", "reset", "file", "range", "color"].includes(target.type);
}

// Mod+key (Ctrl, or Cmd on a Mac), with Shift as `shift` says; no other modifier.
function chord(event, key, shift) {
  const mod = mac ? event.metaKey && !event.ctrlKey : event.ctrlKey && !event.metaKey;
  return mod && !event.altKey && event.shiftKey === shift && event.key.toLowerCase() === key;
}

export function initShortcuts(sidebar) {
  async function copyLastAnswer() {
    const answers = messages.querySelectorAll('.msg.assistant:not([data-state="streaming"])');
    const view = answers.length ? viewOf(answers[answers.length - 1]) : null;
    if (!view) {
      say(t("shortcuts.copy.none"));
      return;
    }
    try {
      await navigator.clipboard.writeText(view.text);
      say(t("shortcuts.copy.done"));
    } catch {
      say(t("shortcuts.copy.failed"));
    }
  }

  // Through the answer's own button, so the same checks apply (not while answering).
  function regenerate() {
    const last = messages.querySelector(":scope > article:last-of-type");
    const button = last?.matches(".msg.assistant") ? last.querySelector("button.regenerate") : null;
    if (button) button.click();
    else say(t("shortcuts.regenerate.none"));
  }

  // keys: what the dialog shows; matches(event): whether the event is this shortcut. Ctrl+N,
  // Ctrl+T and Ctrl+W never reach a page, and Ctrl+Shift+R reloads it: regenerate is
  // Ctrl+Shift+Enter ("send again"), free in Chromium, Firefox and Safari.
  const SHORTCUTS = [
    { label: t("shortcuts.new_chat"), keys: [MOD, SHIFT, "O"], matches: (e) => chord(e, "o", true),
      run: () => document.querySelector("#new-chat").click() },
    { label: t("shortcuts.search"), keys: [MOD, "K"], matches: (e) => chord(e, "k", false),
      run: () => sidebar.focusSearch() },
    { label: t("shortcuts.sidebar"), keys: [MOD, SHIFT, "S"], matches: (e) => chord(e, "s", true),
      run: () => sidebar.toggle() },
    { label: t("shortcuts.copy"), keys: [MOD, SHIFT, "C"], matches: (e) => chord(e, "c", true),
      run: copyLastAnswer },
    { label: t("shortcuts.regenerate"), keys: [MOD, SHIFT, t("shortcuts.key.enter")], matches: (e) => chord(e, "enter", true),
      run: regenerate },
    { label: t("shortcuts.send"), keys: [t("shortcuts.key.enter")] },
    { label: t("shortcuts.new_line"), keys: [SHIFT, t("shortcuts.key.enter")] },
    { label: t("shortcuts.stop"), keys: [t("shortcuts.key.esc")] },
    { label: t("shortcuts.show"), keys: [MOD, "/"], alternative: ["?"],
      // "/" is Shift+7 on some layouts, so Shift may be down.
      matches: (e) => chord(e, "/", e.shiftKey) || (e.key === "?" && !e.ctrlKey && !e.metaKey && !e.altKey && !typing(e.target)),
      run: () => openDialog() },
  ];

  const dialog = buildDialog(SHORTCUTS);
  let opener = null; // where the focus goes back to when the dialog closes
  function openDialog() {
    opener = document.activeElement;
    dialog.showModal();
  }
  dialog.addEventListener("close", () => opener?.focus());
  // Esc here only closes the dialog: it must not also stop the answer (composer.js).
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Escape") event.stopPropagation();
  });

  document.addEventListener("keydown", (event) => {
    // A modal dialog (settings, documents, this list) has the keyboard to itself.
    if (event.defaultPrevented || event.isComposing || document.querySelector("dialog[open]")) return;
    const shortcut = SHORTCUTS.find((s) => s.matches?.(event));
    if (!shortcut) return;
    event.preventDefault();
    shortcut.run();
  });
}

function keysOf(keys) {
  const span = document.createElement("span");
  keys.forEach((key, i) => {
    if (i) span.append("+");
    const kbd = document.createElement("kbd");
    kbd.textContent = key;
    span.append(kbd);
  });
  return span;
}

function buildDialog(shortcuts) {
  const dialog = document.createElement("dialog");
  dialog.id = "shortcuts-dialog";
  dialog.setAttribute("aria-labelledby", "shortcuts-title");
  const title = document.createElement("h2");
  title.id = "shortcuts-title";
  title.textContent = t("shortcuts.title");
  const table = document.createElement("table");
  table.className = "shortcuts";
  for (const { label, keys, alternative } of shortcuts) {
    const row = table.insertRow();
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = label;
    const cell = row.insertCell();
    cell.append(keysOf(keys));
    if (alternative) cell.append(` ${t("shortcuts.or")} `, keysOf(alternative));
    row.prepend(name);
  }
  const actions = document.createElement("form");
  actions.method = "dialog";
  actions.className = "dialog-actions";
  const close = document.createElement("button");
  close.type = "submit";
  close.textContent = t("shortcuts.close");
  actions.append(close);
  dialog.append(title, table, actions);
  document.body.append(dialog);
  return dialog;
}
