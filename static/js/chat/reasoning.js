// A reasoning model's thoughts above its answer (the `reasoning` event, and `reasoning` with
// `thought_s` in `done` and `history`): a <details class="reasoning"> that is open and reads
// "Thinking…" while they stream, then folds and reads "Thought for N s". Their Markdown is
// rendered like an answer's, through render.js (sanitized): never as raw HTML.
import { t } from "../i18n.js";
import { renderInto } from "../render.js";

function seconds(value) {
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
}

// The block of the answer `view`, made with its first thoughts.
function block(view) {
  if (view.thoughts) return view.thoughts;
  const details = document.createElement("details");
  details.className = "reasoning";
  const summary = document.createElement("summary");
  const body = document.createElement("div");
  body.className = "reasoning-body";
  details.append(summary, body);
  view.el.insertBefore(details, view.body);
  view.thoughts = { details, summary, body, text: "", dirty: false, since: performance.now() };
  return view.thoughts;
}

// More of the thoughts, while the model thinks; drawn with the answer (drawReasoning).
export function addReasoning(view, text) {
  const thoughts = block(view);
  if (!thoughts.text) {
    thoughts.details.dataset.state = "thinking";
    thoughts.details.open = true;
    thoughts.summary.textContent = t("reasoning.thinking");
  }
  thoughts.text += text;
  thoughts.dirty = true;
}

// The thinking is over (the answer began, or ended): the block folds and says for how long,
// `thought` seconds from the server, or as timed here until it says.
export function endReasoning(view, thought) {
  const thoughts = view.thoughts;
  if (!thoughts) return;
  if (thoughts.details.dataset.state === "thinking") thoughts.details.open = false;
  thoughts.details.dataset.state = "done";
  const took = typeof thought === "number" ? thought : (performance.now() - thoughts.since) / 1000;
  thoughts.summary.textContent = t("reasoning.thought_for", { seconds: seconds(took) });
}

// A finished answer's thoughts, as stored (a `history` message, a `done`).
export function showReasoning(view, text, thought) {
  if (typeof text !== "string" || !text) return;
  const thoughts = block(view);
  if (thoughts.text !== text) {
    thoughts.text = text;
    thoughts.dirty = true;
  }
  if (typeof thought === "number") {
    endReasoning(view, thought);
  } else {
    thoughts.details.dataset.state = "done";
    thoughts.summary.textContent = t("reasoning.thoughts");
  }
}

export function thinking(view) {
  return view.thoughts?.details.dataset.state === "thinking";
}

export function drawReasoning(view) {
  const thoughts = view.thoughts;
  if (!thoughts || !thoughts.dirty) return;
  thoughts.dirty = false;
  renderInto(thoughts.body, thoughts.text);
}
