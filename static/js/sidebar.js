// The conversation list: newest first; switch, rename, export, delete; new chat.
const list = document.querySelector("#conversations");
const sidebar = document.querySelector("#sidebar");
const scrim = document.querySelector("#scrim");

export function initSidebar(socket) {
  let activeId = null;
  let items = [];

  const open = (yes) => {
    sidebar.classList.toggle("open", yes);
    scrim.hidden = !yes;
  };
  document.querySelector("#open-sidebar").addEventListener("click", () => open(true));
  document.querySelector("#close-sidebar").addEventListener("click", () => open(false));
  scrim.addEventListener("click", () => open(false));
  document.querySelector("#new-chat").addEventListener("click", () => {
    socket.emit("reset", {});
    open(false);
    document.querySelector("#prompt").focus();
  });

  function action(label, handler, extra = {}) {
    const el = document.createElement(extra.href ? "a" : "button");
    el.textContent = label;
    if (extra.href) {
      el.href = extra.href;
      el.setAttribute("download", "");
    } else {
      el.type = "button";
      el.addEventListener("click", handler);
    }
    if (extra.danger) el.className = "danger";
    return el;
  }

  function render() {
    list.replaceChildren();
    for (const conversation of items) {
      const li = document.createElement("li");
      li.dataset.id = conversation.id;
      if (conversation.id === activeId) li.classList.add("active");
      const title = document.createElement("button");
      title.type = "button";
      title.className = "conv-title";
      title.textContent = conversation.title;
      title.title = conversation.title;
      if (conversation.id === activeId) title.setAttribute("aria-current", "true");
      title.addEventListener("click", () => {
        if (conversation.id !== activeId) socket.emit("switch", { id: conversation.id });
        open(false);
      });
      const menu = document.createElement("details");
      menu.className = "conv-actions";
      const summary = document.createElement("summary");
      summary.textContent = "⋯";
      summary.setAttribute("aria-label", `Actions for ${conversation.title}`);
      const box = document.createElement("div");
      box.className = "menu";
      const base = `/conversations/${encodeURIComponent(conversation.id)}/export`;
      box.append(
        action("Rename", () => {
          menu.open = false;
          const name = window.prompt("Rename conversation", conversation.title);
          if (name && name.trim()) socket.emit("rename", { id: conversation.id, title: name.trim() });
        }),
        action("Export Markdown", null, { href: `${base}.md` }),
        action("Export JSON", null, { href: `${base}.json` }),
        action("Delete", () => {
          menu.open = false;
          if (window.confirm(`Delete “${conversation.title}”? This cannot be undone.`)) {
            socket.emit("delete", { id: conversation.id });
          }
        }, { danger: true }),
      );
      menu.append(summary, box);
      li.append(title, menu);
      list.append(li);
    }
  }

  return {
    show(conversations) {
      items = conversations;
      render();
    },
    activeId: () => activeId,
    setActive(conversation) {
      activeId = conversation.id;
      render();
    },
  };
}
