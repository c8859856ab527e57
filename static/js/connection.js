// The page's one Socket.IO connection: its state in the top bar (#connection), Send disabled
// while it is down, a reload when the server refuses this page's cookie, and the sign-in page
// once the session has ended.
import { io } from "/vendor/socket.io.esm.min.js";
import * as events from "./events.js";
import { t } from "./i18n.js";

const connection = document.querySelector("#connection");
const sendButton = document.querySelector("#send");

// Connected, with this connection's conversation shown: questions can be sent.
export const canSend = () => connection.dataset.state === "connected";

export function openSocket() {
  const socket = io({ transports: ["websocket", "polling"] });

  // Ready once connected and the server has shown this connection its conversation (the
  // `history` every connection gets, which Socket.IO may deliver before or after `connect`):
  // a question sent before would be wiped from the screen by it.
  let shown = false;
  const ready = () => {
    if (!shown || !socket.connected) return;
    connection.dataset.state = "connected";
    connection.textContent = t("status.connected");
    sendButton.disabled = false;
  };
  socket.on(events.CONNECT, () => {
    sessionStorage.removeItem("reloaded-for-cookie");
    ready();
  });
  socket.on(events.HISTORY, () => {
    shown = true;
    ready();
  });
  socket.on(events.DISCONNECT, () => {
    shown = false;
    connection.dataset.state = "reconnecting";
    connection.textContent = t("status.reconnecting");
    sendButton.disabled = true;
  });
  socket.on(events.CONNECT_ERROR, (error) => {
    // Refused: this page's cookie is no longer valid (e.g. the server's key changed, or with
    // accounts the session ended). A reload gets a fresh one, or the sign-in page; once per
    // connection, so a server that keeps refusing cannot cause a reload loop.
    if (/rejected/i.test(error.message) && !sessionStorage.getItem("reloaded-for-cookie")) {
      sessionStorage.setItem("reloaded-for-cookie", "1");
      location.reload();
      return;
    }
    connection.dataset.state = "offline";
    // Refused with a reason (too many tabs open from this address): the client does not
    // retry by itself, so say why instead of promising a retry.
    connection.textContent = socket.active ? t("status.offline") : error.message;
    sendButton.disabled = true;
  });
  // Accounts on: this browser signed out (here or in another tab), or its user was disabled.
  socket.on(events.SIGNED_OUT, () => window.location.assign("/login"));

  return socket;
}
