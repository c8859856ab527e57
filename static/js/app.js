// The chat page's entry point: opens the connection, starts each part of the page and
// shows what a conversation is made of when the server sends it (`history`): its messages,
// title, settings and documents. The parts: chat/ (the conversation, the composer, the
// source panel), documents/ (collections, uploads, retrieval debug), the sidebar, the
// settings dialog and the presets; the keyboard shortcuts; every event name is in events.js.
// Protocol and page hooks: docs/protocol.md (#messages, .msg.user, .msg.assistant with
// data-state, #prompt, #send, #stop, .sources, a.cite, #source-panel).
import * as events from "./events.js";
import { openSocket } from "./connection.js";
import { initSidebar } from "./sidebar.js";
import { initSharing } from "./sharing.js";
import { initSettings } from "./settings.js";
import { initPresets } from "./presets.js";
import { initCollections } from "./documents/collections.js";
import { initUploads } from "./documents/uploads.js";
import { initRetrievalDebug } from "./documents/retrieval-debug.js";
import { initTestRetrieval } from "./documents/test-retrieval.js";
import { initSourcePanel } from "./chat/sourcepanel.js";
import { initAnswers } from "./chat/answers.js";
import { initMessageActions, reveal } from "./chat/actions.js";
import { initComposer, say, setMaxChars } from "./chat/composer.js";
import { updateEmpty } from "./chat/view.js";
import { initShortcuts } from "./shortcuts.js";
import { conversationTitle, t } from "./i18n.js";

// Started in this order on purpose: for an event several parts handle, the earlier handles
// it first (the retrieval debug box is under an answer before `done` finishes it).
const socket = openSocket();
const sidebar = initSidebar(socket, reveal, initSharing(socket));
const settings = initSettings(socket);
initPresets(socket);
const collections = initCollections(socket);
initUploads(socket, collections.ingested);
initRetrievalDebug(socket);
initTestRetrieval(socket, collections.shown);
const sourcePanel = initSourcePanel();
const answers = initAnswers(socket);
initMessageActions(socket, answers, sourcePanel);
initComposer(socket, answers, sourcePanel);
initShortcuts(sidebar);

let shownConversation = null; // the conversation on screen, whose sources the panel shows

function showTitle(title) {
  const shown = conversationTitle(title);
  document.querySelector("#title").textContent = shown;
  document.title = `${shown} · ${t("app.name")}`;
}

socket.on(events.HISTORY, (data) => {
  answers.clear();
  setMaxChars(data.limits?.max_message_chars);
  sidebar.setActive(data.conversation);
  if (data.conversation.id !== shownConversation) sourcePanel.close();
  shownConversation = data.conversation.id;
  showTitle(data.conversation.title);
  settings.show(data.settings);
  collections.show(data.settings);
  answers.showHistory(data);
  sidebar.revealPending(data.conversation.id);
});

socket.on(events.CONVERSATIONS, (listing) => {
  sidebar.show(listing);
  const active = listing.conversations.find((c) => c.id === sidebar.activeId());
  if (active) showTitle(active.title);
});
socket.on(events.SETTINGS, (values) => {
  settings.show(values);
  collections.show(values);
});

updateEmpty();
say();
