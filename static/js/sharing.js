// Shared links: Share (a conversation's ⋯ menu) makes a read-only link to a copy of it as it
// is now, shown in #shares-dialog to copy; the same dialog lists this owner's links, each
// with Revoke. The copy is the server's (docs/protocol.md, "Sharing a conversation").
import * as events from "./events.js";
import { t } from "./i18n.js";

const dialog = document.querySelector("#shares-dialog");
const created = document.querySelector("#share-new");
const link = document.querySelector("#share-link");
const copy = document.querySelector("#share-copy");
const listing = document.querySelector("#shares-list");
const none = document.querySelector("#shares-empty");

const absolute = (url) => new URL(url, window.location.origin).href;

export function initSharing(socket) {
  const show = () => {
    if (!dialog.open) dialog.showModal();
  };

  socket.on(events.SHARE_CREATED, (share) => {
    created.hidden = false;
    link.value = absolute(share.url);
    show();
    link.focus();
    link.select();
  });

  socket.on(events.SHARES, ({ shares }) => {
    none.hidden = shares.length > 0;
    listing.replaceChildren(...shares.map((share) => {
      const li = document.createElement("li");
      li.dataset.token = share.token;
      const a = document.createElement("a");
      a.href = share.url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = share.title;
      const when = document.createElement("span");
      when.className = "muted";
      when.textContent = t("share.when", { date: new Date(share.created * 1000).toLocaleString() });
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "revoke danger";
      revoke.textContent = t("share.revoke");
      revoke.setAttribute("aria-label", t("share.revoke_label", { title: share.title }));
      revoke.addEventListener("click", () => {
        if (link.value === absolute(share.url)) created.hidden = true;
        socket.emit(events.REVOKE_SHARE, { token: share.token });
      });
      li.append(a, when, revoke);
      return li;
    }));
  });

  // A deleted conversation takes its links with it: an open list asks again.
  socket.on(events.CONVERSATIONS, () => {
    if (dialog.open) socket.emit(events.SHARES, {});
  });

  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(link.value);
      copy.textContent = t("share.copied");
    } catch {
      link.select();
      copy.textContent = t("share.copy_failed");
    }
    setTimeout(() => (copy.textContent = t("share.copy")), 1500);
  });

  return {
    share(conversation) {
      socket.emit(events.SHARE, { id: conversation });
    },
    open() {
      created.hidden = true;
      socket.emit(events.SHARES, {});
      show();
    },
  };
}
