// A shared conversation's read-only page (/shared/<token>): the server sent each answer as
// text; here it becomes Markdown rendered exactly as the chat page renders it (render.js:
// sanitized by DOMPurify, math by KaTeX), with the code blocks' copy buttons. No socket.
import { enableCopyButtons, renderInto } from "./render.js";

const root = document.querySelector("#messages");
for (const body of root.querySelectorAll(".msg.assistant .body.plain")) {
  renderInto(body, body.textContent);
  body.classList.remove("plain");
}
enableCopyButtons(root, () => "");

const when = document.querySelector("#shared-at");
const date = new Date(when.dateTime);
if (!Number.isNaN(date.getTime())) when.textContent = date.toLocaleString();
