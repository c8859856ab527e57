// The conversation list in groups: Pinned, then each folder (collapsible, its state kept in
// this browser), then the rest by the day of their last activity (dates.js). Each
// conversation's ⋯ menu renames, pins, moves to a folder, shares, exports and deletes; a
// conversation can also be dragged onto a folder (into it), onto Pinned, or anywhere else in
// the list (out of its folder). A conversation shows once: pinned ones under Pinned.
import * as events from "../events.js";
import { conversationTitle, t } from "../i18n.js";
import { DATE_GROUPS, dateGroup } from "./dates.js";

const list = document.querySelector("#conversations");
const COLLAPSED_KEY = "localchat.collapsedFolders";
const NEW_FOLDER = "\u0000new"; // the move menu's "New folder…": no folder id looks like it

function collapsedFolders() {
  try {
    return new Set(JSON.parse(localStorage.getItem(COLLAPSED_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

function button(className, label, handler) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = label;
  el.addEventListener("click", handler);
  return el;
}

// A ⋯ menu (a <details>, so it opens from the keyboard too) holding `items`.
function menu(className, label, items) {
  const details = document.createElement("details");
  details.className = className;
  const summary = document.createElement("summary");
  summary.textContent = "⋯";
  summary.setAttribute("aria-label", label);
  const box = document.createElement("div");
  box.className = "menu";
  box.append(...items);
  details.append(summary, box);
  return details;
}

// `open(id)` shows a conversation; `share(id)` makes a link to it (sharing.js).
export function initConversationList(socket, { open, share }) {
  let items = [];
  let folders = [];
  let activeId = null;
  let dragged = null; // the id of the conversation being dragged
  const collapsed = collapsedFolders();

  const emit = (event, payload) => socket.emit(event, payload);
  const createFolder = (conversation) => {
    const name = window.prompt(t("organise.folder_name_prompt"), "");
    if (name && name.trim()) {
      emit(events.CREATE_FOLDER, conversation ? { name: name.trim(), conversation } : { name: name.trim() });
    }
  };
  // Into a folder (null: out of any); a pinned conversation is unpinned, to show there.
  const moveTo = (conversation, folder) => {
    if (folder && conversation.pinned) emit(events.PIN, { id: conversation.id, pinned: false });
    if (folder !== (conversation.folder ?? null)) emit(events.MOVE_TO_FOLDER, { id: conversation.id, folder });
  };

  function moveSelect(conversation) {
    const label = document.createElement("label");
    label.className = "move-to-label";
    label.textContent = t("organise.move_to");
    const select = document.createElement("select");
    select.className = "move-to";
    const option = (value, text) => {
      const el = document.createElement("option");
      el.value = value;
      el.textContent = text;
      return el;
    };
    select.append(option("", t("organise.no_folder")), ...folders.map((f) => option(f.id, f.name)),
      option(NEW_FOLDER, t("organise.new_folder_ellipsis")));
    select.value = conversation.folder ?? "";
    select.addEventListener("change", () => {
      if (select.value === NEW_FOLDER) {
        select.value = conversation.folder ?? "";
        createFolder(conversation.id);
      } else {
        moveTo(conversation, select.value || null);
      }
    });
    label.append(select);
    return label;
  }

  function row(conversation) {
    const li = document.createElement("li");
    li.dataset.id = conversation.id;
    li.draggable = true;
    if (conversation.pinned) li.dataset.pinned = "true";
    if (conversation.id === activeId) li.classList.add("active");
    const name = conversationTitle(conversation.title);
    const title = button("conv-title", name, () => open(conversation.id));
    title.title = name;
    if (conversation.id === activeId) title.setAttribute("aria-current", "true");
    const base = `/conversations/${encodeURIComponent(conversation.id)}/export`;
    const download = (label, href) => {
      const a = document.createElement("a");
      a.textContent = label;
      a.href = href;
      a.setAttribute("download", "");
      return a;
    };
    let details = null;
    const close = (handler) => () => {
      details.open = false;
      handler();
    };
    details = menu("conv-actions", t("organise.actions_for", { title: name }), [
      button("rename", t("organise.rename"), close(() => {
        const renamed = window.prompt(t("organise.rename_prompt"), name);
        if (renamed && renamed.trim()) emit(events.RENAME, { id: conversation.id, title: renamed.trim() });
      })),
      button("pin", conversation.pinned ? t("organise.unpin") : t("organise.pin"),
        close(() => emit(events.PIN, { id: conversation.id, pinned: !conversation.pinned }))),
      moveSelect(conversation),
      button("share", t("share.action"), close(() => share(conversation.id))),
      download(t("organise.export_markdown"), `${base}.md`),
      download(t("organise.export_json"), `${base}.json`),
      button("delete danger", t("organise.delete"), close(() => {
        if (window.confirm(t("organise.delete_confirm", { title: name }))) {
          emit(events.DELETE, { id: conversation.id });
        }
      })),
    ]);
    li.append(title, details);
    return li;
  }

  function section(key, heading, conversations) {
    const el = document.createElement("section");
    el.className = "group";
    el.dataset.group = key;
    const ul = document.createElement("ul");
    ul.append(...conversations.map(row));
    el.append(heading, ul);
    return el;
  }

  function plainHeading(text) {
    const h = document.createElement("h2");
    h.className = "group-head";
    h.textContent = text;
    return h;
  }

  function folderSection(folder, conversations) {
    const shut = collapsed.has(folder.id);
    const head = document.createElement("div");
    head.className = "group-head folder-head";
    const toggle = button("folder-toggle", folder.name, () => {
      if (collapsed.has(folder.id)) collapsed.delete(folder.id);
      else collapsed.add(folder.id);
      localStorage.setItem(COLLAPSED_KEY, JSON.stringify([...collapsed]));
      render();
    });
    toggle.setAttribute("aria-expanded", String(!shut));
    toggle.title = folder.name;
    let details = null;
    details = menu("folder-actions", t("organise.folder_actions_for", { name: folder.name }), [
      button("rename-folder", t("organise.rename_folder"), () => {
        details.open = false;
        const name = window.prompt(t("organise.rename_folder_prompt"), folder.name);
        if (name && name.trim()) emit(events.RENAME_FOLDER, { id: folder.id, name: name.trim() });
      }),
      button("delete-folder danger", t("organise.delete_folder"), () => {
        details.open = false;
        if (window.confirm(t("organise.delete_folder_confirm", { name: folder.name }))) {
          emit(events.DELETE_FOLDER, { id: folder.id });
        }
      }),
    ]);
    head.append(toggle, details);
    const el = section("folder", head, shut ? [] : conversations);
    el.classList.add("folder");
    el.dataset.folder = folder.id;
    if (shut) el.dataset.collapsed = "true";
    const count = document.createElement("span");
    count.className = "folder-count";
    count.textContent = String(conversations.length);
    toggle.append(count);
    if (!conversations.length && !shut) {
      const empty = document.createElement("p");
      empty.className = "folder-empty";
      empty.textContent = t("organise.folder_empty");
      el.append(empty);
    }
    return el;
  }

  function render() {
    const now = new Date();
    const pinned = [];
    const filed = new Map(folders.map((f) => [f.id, []]));
    const dated = new Map(DATE_GROUPS.map((g) => [g, []]));
    for (const conversation of items) {
      if (conversation.pinned) pinned.push(conversation);
      else if (filed.has(conversation.folder)) filed.get(conversation.folder).push(conversation);
      else dated.get(dateGroup(conversation.updated, now)).push(conversation);
    }
    const groups = [];
    if (pinned.length) groups.push(section("pinned", plainHeading(t("organise.pinned")), pinned));
    for (const folder of folders) groups.push(folderSection(folder, filed.get(folder.id)));
    for (const [key, conversations] of dated) {
      if (conversations.length) groups.push(section(key, plainHeading(t(`organise.${key}`)), conversations));
    }
    list.replaceChildren(...groups);
  }

  // Drag and drop -------------------------------------------------------------------------

  // Where a drop at `target` puts the dragged conversation: a folder, Pinned, or out.
  const dropZone = (target) => target.closest("section.group") ?? list;
  const clearMarks = () => {
    for (const el of list.querySelectorAll(".drop-target")) el.classList.remove("drop-target");
    list.classList.remove("drop-target");
  };
  list.addEventListener("dragstart", (event) => {
    const li = event.target.closest?.("li[data-id]");
    if (!li) return;
    dragged = li.dataset.id;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", li.querySelector(".conv-title").textContent);
  });
  list.addEventListener("dragend", () => {
    dragged = null;
    clearMarks();
  });
  list.addEventListener("dragover", (event) => {
    if (!dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    const zone = dropZone(event.target);
    if (!zone.classList.contains("drop-target")) {
      clearMarks();
      zone.classList.add("drop-target");
    }
  });
  list.addEventListener("drop", (event) => {
    if (!dragged) return;
    event.preventDefault();
    const conversation = items.find((c) => c.id === dragged);
    const zone = dropZone(event.target);
    dragged = null;
    clearMarks();
    if (!conversation) return;
    if (zone.dataset.folder) moveTo(conversation, zone.dataset.folder);
    else if (zone.dataset.group === "pinned") {
      if (!conversation.pinned) emit(events.PIN, { id: conversation.id, pinned: true });
    } else {
      if (conversation.pinned) emit(events.PIN, { id: conversation.id, pinned: false });
      moveTo(conversation, null);
    }
  });

  // Past midnight today's conversations are yesterday's: the groups are drawn again then.
  (function redrawAtMidnight() {
    const now = new Date();
    const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1);
    setTimeout(() => {
      render();
      redrawAtMidnight();
    }, midnight - now + 1000);
  })();

  return {
    createFolder,
    show(conversations, newFolders) {
      items = conversations;
      folders = newFolders;
      render();
    },
    setActive(id) {
      activeId = id;
      render();
    },
  };
}
