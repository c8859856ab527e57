// Markdown to safe HTML: marked renders, highlight.js colours code, DOMPurify sanitizes last,
// so nothing the model (or anyone) writes can run script in the page.
import { Marked } from "/vendor/marked.esm.js";
import DOMPurify from "/vendor/purify.es.mjs";
import hljs from "/vendor/highlight.min.js";

const escapeHtml = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    // Raw HTML in an answer is shown as text, the way chat products show it.
    html({ text }) {
      return escapeHtml(text);
    },
    code({ text, lang }) {
      const language = (lang || "").trim().split(/\s+/)[0].toLowerCase();
      const known = language && hljs.getLanguage(language);
      const body = known ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
      const label = known ? language : "text";
      return `<pre><div class="code-head"><span>${escapeHtml(label)}</span></div><code class="hljs language-${escapeHtml(label)}">${body}</code></pre>`;
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  // Links from an answer open elsewhere and carry nothing of this page with them.
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

export function renderMarkdown(text) {
  return DOMPurify.sanitize(marked.parse(text), { USE_PROFILES: { html: true } });
}

// Fill `element` with the rendered answer and give each code block a copy button.
export function renderInto(element, text) {
  element.innerHTML = renderMarkdown(text);
  for (const head of element.querySelectorAll(".code-head")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy code");
    head.append(button);
  }
}

// A search result's snippet: the server escaped the text and marked the matches; only
// <mark> survives, whatever it sent.
export function renderSnippet(element, html) {
  element.innerHTML = DOMPurify.sanitize(html, { ALLOWED_TAGS: ["mark"], ALLOWED_ATTR: [] });
}

// One delegated handler for every copy button, present and future: a code block's copies its
// code, any other asks `sourceOf(button)` (an answer's copies its Markdown).
export function enableCopyButtons(root, sourceOf) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const pre = button.closest("pre");
    const text = pre ? pre.querySelector("code").textContent : sourceOf(button);
    // Kept aside: a second click while "Copied" shows must not make that the label.
    button.dataset.label ??= button.textContent;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => (button.textContent = button.dataset.label), 1500);
  });
}
