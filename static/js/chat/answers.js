// The answer being written: its life from its first sign (a token, the question asked in
// another tab) to `done`, `error` or Stop, driven by the server's events; and a
// conversation's stored messages shown on `history`. Only one answer is written at a time;
// while it is, Stop replaces Send. What appears is built by view.js.
import * as events from "../events.js";
import { t, tn } from "../i18n.js";
import {
  addActions, addAssistant, addContextDivider, addNotice, addUser, clear, messages, scheduleRender,
  scrollToBottom, setId, settle, showAttachments, showError, showGrounding, showMeta, updateEmpty,
} from "./view.js";
import { addReasoning, endReasoning, showReasoning, thinking } from "./reasoning.js";
import { showVersions } from "./versions.js";

const sendButton = document.querySelector("#send");
const stopButton = document.querySelector("#stop");

export function initAnswers(socket) {
  let current = null; // the assistant answer being written in this conversation, if any
  let stopped = null; // an answer stopped here whose `done` (with its figures) is still due
  // The answer about to be shown searched documents: its search can start before the page
  // learns of the answer itself (a regenerated answer, one asked in another tab).
  let searchedAhead = false;

  function setBusy(busy) {
    stopButton.hidden = !busy;
    sendButton.hidden = busy;
  }

  // The answer being written, shown from its first sign (the question from another tab, a
  // token): grounded if its search was already announced.
  function startAnswer() {
    current = addAssistant();
    current.grounded = searchedAhead;
    searchedAhead = false;
    setBusy(true);
  }

  function finish(view) {
    settle(view);
    if (current === view) current = null;
    setBusy(current !== null);
  }

  function stop() {
    if (!current) return;
    // What this page showed is what is kept (unknown for an answer joined mid-stream).
    socket.emit(events.STOP, current.pieces === null ? {} : { shown: current.pieces });
    // The answer ends on screen now; tokens already on their way are dropped, and the
    // server's `done` adds the figures.
    stopped = current;
    stopped.status.textContent = "";
    stopped.el.dataset.stopped = "true";
    finish(stopped);
  }

  socket.on(events.USER_MESSAGE, ({ text }) => {
    addUser(text);
    startAnswer();
  });

  // The question being answered was stored: it can be edited from now on, and its files
  // show their kinds and links.
  socket.on(events.USER_STORED, ({ id, attachments }) => {
    const questions = messages.querySelectorAll(".msg.user");
    if (!questions.length) return;
    const question = questions[questions.length - 1];
    setId(question, id);
    if (attachments?.length) showAttachments(question, attachments);
  });

  // A reasoning model's thoughts, before its answer.
  socket.on(events.REASONING, ({ text }) => {
    if (stopped) return;
    if (!current) startAnswer();
    current.status.textContent = "";
    addReasoning(current, text);
    scheduleRender(current);
  });

  socket.on(events.TOKEN, ({ text }) => {
    if (stopped) return;
    if (!current) startAnswer();
    if (!current.text) current.status.textContent = "";
    if (thinking(current)) endReasoning(current);
    current.text += text;
    if (current.pieces !== null) current.pieces += 1;
    scheduleRender(current);
  });

  socket.on(events.DONE, (data) => {
    const view = data.stopped && stopped ? stopped : current;
    if (data.stopped) stopped = null;
    if (!view) return;
    setId(view.el, data.id);
    showReasoning(view, data.reasoning, data.thought_s);
    showGrounding(view, data);
    showMeta(view, data);
    finish(view);
  });

  socket.on(events.ERROR, ({ message }) => {
    if (current) {
      const view = current;
      finish(view);
      showError(view, message);
    } else {
      addNotice(message, "error");
    }
  });

  socket.on(events.STATUS, ({ state, position, summarizing }) => {
    if (!current) {
      searchedAhead = state === "retrieving" || (searchedAhead && state !== "idle");
      return;
    }
    if (state === "queued") {
      current.status.textContent = tn("status.queued", position);
    } else if (state === "retrieving" && summarizing) {
      current.grounded = true;
      current.status.textContent = t("whole.reading", { ...summarizing, part: Math.min(summarizing.part + 1, summarizing.parts) });
    } else if (state === "retrieving") {
      current.grounded = true;
      current.status.textContent = t("status.retrieving");
    } else if (state === "generating" && !current.text && !current.thoughts) {
      current.status.textContent = t("status.thinking");
    }
  });

  socket.on(events.NOTICE, ({ text, level, context_from: from, actions }) => {
    if (from && !current?.text) addContextDivider();
    addActions(addNotice(text, level), actions, (command) => socket.emit(events.MESSAGE, { text: command }));
  });

  return {
    busy: () => current !== null,
    stop,
    // A question sent from this page: it and its answer's place are shown at once.
    ask(text, attachments = []) {
      addUser(text, undefined, attachments);
      current = addAssistant();
      setBusy(true);
    },
    // Before another conversation, or this one changed, is shown: nothing is being written.
    clear() {
      clear();
      current = null;
      stopped = null;
      searchedAhead = false;
      setBusy(false);
    },
    // The messages of a `history`, and the answer being written, if any.
    showHistory(data) {
      for (const m of data.messages) {
        if (data.context_from && m.id === data.context_from && messages.children.length) addContextDivider();
        if (m.role === "user") {
          showVersions(addUser(m.content, m.id, m.attachments), m);
        } else if (m.role === "assistant") {
          const view = addAssistant({ text: m.content, state: m.state === "error" ? "error" : "done", id: m.id });
          showReasoning(view, m.reasoning, m.thought_s);
          showGrounding(view, m);
          showMeta(view, m);
          if (m.state === "error") showError(view, m.error || t("chat.answer_failed"));
          showVersions(view.el, m);
        }
      }
      if (data.streaming) {
        current = addAssistant({ text: data.streaming.text });
        if (data.streaming.reasoning) {
          current.status.textContent = "";
          addReasoning(current, data.streaming.reasoning);
          if (data.streaming.text) endReasoning(current);
          scheduleRender(current);
        }
        setBusy(true);
      }
      updateEmpty();
      scrollToBottom();
    },
  };
}
