// A message's place in the conversation's tree: its versions (‹ 2 / 3 ›, each arrow choosing
// the version beside it), Continue under a stopped or cut answer, and "New chat from here".
// The server answers each with `history` (docs/protocol.md, "Versions of a turn"). Their
// labels are drawn by the stylesheet from `data-label`, so that a user message's text is
// still only what the user wrote.
import * as events from "../events.js";
import { t } from "../i18n.js";
import { actionButton } from "./view.js";

// Under a message of a `history`: its versions, when it has others.
export function showVersions(el, { id, siblings }) {
  if (!Array.isArray(siblings) || siblings.length < 2) return;
  const index = siblings.indexOf(id);
  if (index < 0) return;
  const bar = document.createElement("div");
  bar.className = "versions";
  const previous = labelled(actionButton("previous-version", "", t("tree.previous_version")), "‹");
  const next = labelled(actionButton("next-version", "", t("tree.next_version")), "›");
  const label = labelled(document.createElement("span"), t("tree.version_label", { n: index + 1, count: siblings.length }));
  label.className = "version-label";
  label.title = t("tree.version_of", { n: index + 1, count: siblings.length });
  previous.disabled = index === 0;
  next.disabled = index === siblings.length - 1;
  if (index > 0) previous.dataset.version = String(siblings[index - 1]);
  if (index < siblings.length - 1) next.dataset.version = String(siblings[index + 1]);
  bar.append(previous, label, next);
  const actions = el.querySelector(":scope > .actions");
  if (actions) actions.prepend(bar);
  else el.append(bar);
}

// The buttons every message gets: Continue (shown by the stylesheet only for an answer that
// can go on) and New chat from here (once the message is stored).
export function treeButtons(assistant) {
  const branch = labelled(actionButton("branch", "", t("tree.branch_title")), t("tree.branch"));
  if (!assistant) return [branch];
  return [labelled(actionButton("continue", "", t("tree.continue_title")), t("tree.continue")), branch];
}

function labelled(element, label) {
  element.dataset.label = label;
  return element;
}

// A click on one of these buttons, sent as its event; false when it was not one of them.
export function clicked(button, socket, ready) {
  const el = button.closest(".msg");
  const id = Number(el?.dataset.id);
  let event = null;
  let payload = null;
  if (button.dataset.version) {
    event = events.CHOOSE_VERSION;
    payload = { id: Number(button.dataset.version) };
  } else if (button.classList.contains("continue")) {
    event = events.CONTINUE;
    payload = { id };
  } else if (button.classList.contains("branch")) {
    event = events.BRANCH;
    payload = { id };
  }
  if (!event) return false;
  if (Number.isInteger(payload.id) && ready()) socket.emit(event, payload);
  return true;
}
