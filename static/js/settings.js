// The settings panel: per-conversation system prompt, temperature, top_p, answer length and
// model; and, for whoever may (the local user, or an admin with accounts), pulling a model.
// Its theme choice is this browser's, not the conversation's: kept by theme.js, not sent.
// So is its language: the `lang` cookie, which the server reads to choose the page's catalog
// (chatbot/web/i18n.py); none, the browser's preferred languages choose. A new one reloads.
import * as events from "./events.js";
import { chooseTheme, storedTheme } from "./theme.js";
import { number, t } from "./i18n.js";
const dialog = document.querySelector("#settings-dialog");
const form = document.querySelector("#settings-form");
const modelSelect = document.querySelector("#settings-model");
const modelDescription = document.querySelector("#model-description");
const pullSection = document.querySelector("#model-pull");
const catalogList = document.querySelector("#model-catalog");
const pullStatus = document.querySelector("#model-pull-status");
const themeSelect = document.querySelector("#theme");
const languageSelect = document.querySelector("#language");

const YEAR_S = 365 * 24 * 3600;
function storedLanguage() {
  return document.cookie.split("; ").find((c) => c.startsWith("lang="))?.slice(5) ?? "";
}
function chooseLanguage(code) {
  document.cookie = code ? `lang=${code}; path=/; max-age=${YEAR_S}; SameSite=Lax` : "lang=; path=/; max-age=0; SameSite=Lax";
}

// Whole megabytes, but tenths below 10 MB so that a small file does not read "0 of 0".
const megabytes = (bytes) => (bytes < 1e7
  ? number(bytes / 1e6, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) : number(Math.round(bytes / 1e6)));

export function initSettings(socket) {
  let chosen = null; // the conversation's model; null: the server's default
  let offered = []; // [{id, description}] from the last `models`
  let serverDefault = "";
  let catalog = []; // what may be pulled by name, from the last `models`
  let pulling = null; // the name asked for, until the server answers or refuses

  function showModels() {
    const ids = offered.map((m) => m.id);
    const label = serverDefault ? t("settings.model.default_named", { name: serverDefault }) : t("settings.model.default");
    const options = [new Option(label, ""), ...ids.map((id) => new Option(id, id))];
    // A model this conversation uses that the server no longer lists stays selected, so
    // that saving other settings does not change it.
    if (chosen && !ids.includes(chosen)) options.push(new Option(t("settings.model.not_offered", { name: chosen }), chosen));
    modelSelect.replaceChildren(...options);
    modelSelect.value = chosen || "";
    describe();
  }

  function describe() {
    const id = modelSelect.value || serverDefault;
    modelDescription.textContent = offered.find((m) => m.id === id)?.description || "";
  }

  function showCatalog() {
    const have = new Set(offered.map((m) => m.id));
    catalogList.replaceChildren(...catalog.map((model) => {
      const item = document.createElement("li");
      item.dataset.name = model.name;
      const about = document.createElement("span");
      about.textContent = `${model.name}: ${model.description}`;
      const size = document.createElement("span");
      size.className = "size";
      size.textContent = model.size;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "pull";
      button.textContent = have.has(model.name) ? t("settings.pull.pulled") : t("settings.pull.button");
      button.disabled = have.has(model.name);
      button.addEventListener("click", () => pull(model.name));
      item.append(about, size, button);
      return item;
    }));
  }

  function pull(name) {
    pulling = name;
    setStatus(t("settings.pull.asking", { name }), "running");
    for (const button of catalogList.querySelectorAll("button.pull")) button.disabled = true;
    socket.emit(events.PULL_MODEL, { model: name });
  }

  function setStatus(text, state) {
    pullStatus.textContent = text;
    pullStatus.dataset.state = state;
  }

  socket.on(events.MODELS, (listing) => {
    offered = listing.models;
    serverDefault = listing.current;
    catalog = listing.catalog;
    showModels();
    pullSection.hidden = !listing.can_pull;
    showCatalog();
  });

  socket.on(events.MODEL_PULL, ({ model, state, bytes, total, error, alias }) => {
    pulling = null;
    const name = model || t("settings.pull.the_model");
    if (state === "running") {
      const status = total
        ? t("settings.pull.running_of", { name, done: megabytes(bytes), total: megabytes(total) })
        : t("settings.pull.running", { name, done: megabytes(bytes) });
      setStatus(status, state);
    } else if (state === "done") {
      setStatus(t("settings.pull.done", { name, alias: alias || name }), state);
    } else if (state === "failed") {
      setStatus(t("settings.pull.failed", { name, error }), state);
    }
  });

  // A pull refused (not allowed, another under way, the server unreachable) is an `error`;
  // said here too, since the dialog covers the chat where errors are shown.
  socket.on(events.ERROR, ({ message }) => {
    if (pulling === null) return;
    pulling = null;
    setStatus(message, "failed");
    showCatalog();
  });

  modelSelect.addEventListener("change", describe);

  document.querySelector("#open-settings").addEventListener("click", () => {
    socket.emit(events.MODELS, {});
    themeSelect.value = storedTheme();
    languageSelect.value = storedLanguage();
    // A cookie naming a language no longer offered counts as none.
    if (languageSelect.selectedIndex < 0) languageSelect.value = "";
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue !== "save") return;
    const data = new FormData(form);
    chooseTheme(data.get("theme"));
    const values = {
      system_prompt: data.get("system_prompt"),
      temperature: Number(data.get("temperature")),
      top_p: Number(data.get("top_p")),
      max_tokens: Number(data.get("max_tokens")),
      model: data.get("model") || null,
    };
    if (data.get("language") === storedLanguage()) {
      socket.emit(events.SETTINGS, values);
      return;
    }
    chooseLanguage(data.get("language"));
    // The page comes back in the new language once the server has the settings (a reload
    // straight away could cut them off), or after a while without an answer.
    socket.timeout(3000).emit(events.SETTINGS, values, () => location.reload());
  });

  return {
    show(values) {
      for (const name of ["system_prompt", "temperature", "top_p", "max_tokens"]) {
        form.elements[name].value = values[name];
      }
      chosen = values.model || null;
      showModels();
    },
  };
}
