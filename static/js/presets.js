// Presets ("assistants"): the dialog that lists, creates, edits and deletes them, the empty
// conversation's picker that starts a conversation from one, and the top bar's chip naming
// the conversation's preset. The rules are the server's (chatbot/chat/presets.py): a refusal
// comes back as `error` and is shown in the dialog.
import * as events from "./events.js";
import { t } from "./i18n.js";
import { button } from "./dom.js";

const $ = (selector) => document.querySelector(selector);
const dialog = $("#presets-dialog");
const list = $("#presets-list");
const status = $("#presets-status");
const form = $("#preset-form");
const formTitle = $("#preset-form-title");
const modelSelect = $("#preset-model");
const collectionSelect = $("#preset-collection");
const sharedLabel = $("#preset-shared-label");
const picker = $("#preset-picker");
const pickerRow = $("#preset-start");
const chip = $("#preset-chip");
const NUMBERS = ["temperature", "top_p", "max_tokens"];

export function initPresets(socket) {
  let presets = [];
  let canShare = false;
  let editing = null; // the preset in the form; null: a new one
  let waiting = false; // a change asked from the dialog, until `presets` or `error` answers
  let conversation = {}; // the conversation's settings, which a new preset starts from
  let models = [];
  let serverDefault = "";
  let collections = [];

  function say(text, state = "") {
    status.textContent = text;
    status.dataset.state = state;
  }

  function ask(event, payload) {
    waiting = true;
    say(t("presets.saving"));
    socket.emit(event, payload);
  }

  function showList() {
    if (!presets.length) {
      const item = document.createElement("li");
      item.className = "muted";
      item.textContent = t("presets.none_yet");
      list.replaceChildren(item);
      return;
    }
    list.replaceChildren(...presets.map((preset) => {
      const item = document.createElement("li");
      item.dataset.id = preset.id;
      const name = document.createElement("span");
      name.className = "preset-name";
      name.textContent = preset.name;
      item.append(name);
      if (preset.shared) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = t("presets.shared_badge");
        item.append(badge);
      }
      item.append(button(t("presets.use"), "use-preset", t("presets.use_label", { name: preset.name }), () => {
        dialog.close();
        socket.emit(events.START_PRESET, { id: preset.id });
      }));
      if (preset.can_edit) {
        item.append(
          button(t("presets.edit"), "edit-preset", t("presets.edit_label", { name: preset.name }), () => openForm(preset)),
          button(t("presets.delete"), "delete-preset", t("presets.delete_label", { name: preset.name }), () => {
            if (confirm(t("presets.delete_confirm", { name: preset.name }))) ask(events.DELETE_PRESET, { id: preset.id });
          }),
        );
      }
      return item;
    }));
  }

  function showPicker() {
    picker.replaceChildren(new Option(t("presets.choose"), ""),
      ...presets.map((preset) => new Option(preset.name, preset.id)));
    pickerRow.dataset.presets = presets.length ? "some" : "none";
  }

  function options(select, first, values, chosen) {
    const all = chosen && !values.includes(chosen) ? [...values, chosen] : values;
    select.replaceChildren(new Option(first, ""), ...all.map((v) => new Option(v, v)));
    select.value = chosen || "";
  }

  function showChoices(values) {
    const label = serverDefault ? t("presets.server_default_named", { name: serverDefault }) : t("presets.server_default");
    options(modelSelect, label, models, values.model);
    options(collectionSelect, t("presets.no_documents"), collections, values.collection);
  }

  function openForm(preset) {
    editing = preset;
    const values = preset || { ...conversation, name: "", collection: conversation.rag ? conversation.rag_collection : null, shared: false };
    formTitle.textContent = preset ? t("presets.edit_title", { name: preset.name }) : t("presets.new_title");
    form.elements.name.value = values.name;
    form.elements.system_prompt.value = values.system_prompt || "";
    for (const name of NUMBERS) form.elements[name].value = values[name];
    form.elements.shared.checked = Boolean(values.shared);
    sharedLabel.hidden = !canShare;
    showChoices(values);
    form.dataset.model = values.model || "";
    form.dataset.collection = values.collection || "";
    say("");
    form.hidden = false;
    socket.emit(events.MODELS, {});
    form.elements.name.focus();
  }

  function open() {
    form.hidden = true;
    say("");
    socket.emit(events.PRESETS, {});
    if (!dialog.open) dialog.showModal();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const payload = {
      name: data.get("name"),
      system_prompt: data.get("system_prompt"),
      model: data.get("model") || null,
      collection: data.get("collection") || null,
    };
    for (const name of NUMBERS) payload[name] = Number(data.get(name));
    if (canShare) payload.shared = form.elements.shared.checked;
    if (editing) ask(events.UPDATE_PRESET, { id: editing.id, ...payload });
    else ask(events.CREATE_PRESET, payload);
  });
  $("#preset-cancel").addEventListener("click", () => {
    form.hidden = true;
    say("");
  });
  $("#new-preset").addEventListener("click", () => openForm(null));
  $("#manage-presets").addEventListener("click", open);
  chip.addEventListener("click", open);
  $("#open-presets").addEventListener("click", () => {
    $("#settings-dialog").close();
    open();
  });
  $("#start-preset").addEventListener("click", () => {
    if (picker.value) socket.emit(events.START_PRESET, { id: picker.value });
  });

  socket.on(events.CONNECT, () => socket.emit(events.PRESETS, {}));
  socket.on(events.PRESETS, (listing) => {
    presets = listing.presets;
    canShare = listing.can_share;
    if (waiting) {
      waiting = false;
      form.hidden = true;
      say(t("presets.saved"), "done");
    }
    showList();
    showPicker();
  });
  socket.on(events.PRESETS_CHANGED, () => socket.emit(events.PRESETS, {}));
  socket.on(events.ERROR, ({ message }) => {
    if (!waiting) return;
    waiting = false;
    say(message, "failed");
  });
  socket.on(events.MODELS, (listing) => {
    models = listing.models.map((m) => m.id);
    serverDefault = listing.current;
    if (!form.hidden) showChoices({ model: form.dataset.model, collection: form.dataset.collection });
  });
  socket.on(events.COLLECTIONS, (listing) => {
    collections = (listing.collections || []).map((c) => c.name);
  });
  socket.on(events.HISTORY, (data) => {
    conversation = data.settings;
    chip.hidden = !data.preset;
    if (data.preset) {
      chip.textContent = data.preset.name;
      chip.title = t("presets.chip_title", { name: data.preset.name });
      chip.setAttribute("aria-label", t("presets.chip_title", { name: data.preset.name }));
    }
  });
  socket.on(events.SETTINGS, (values) => {
    conversation = values;
  });
}
