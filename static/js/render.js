// Markdown to safe HTML: marked renders, highlight.js colours code, DOMPurify sanitizes last,
// so nothing the model (or anyone) writes can run script in the page. Math is typeset by
// KaTeX after that, in the page, from the text of the placeholders the sanitized HTML kept.
import { Marked } from "/vendor/marked.esm.js";
import DOMPurify from "/vendor/purify.es.mjs";
import hljs from "/vendor/highlight.min.js";
import { t } from "./i18n.js";

const escapeHtml = (text) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// Math: $…$ and \(…\) inline, $$…$$ and \[…\] displayed, each left as a placeholder whose text
// is its TeX. Inline $…$ follows Pandoc's rule so that prices stay prose ("$5 and $10"): a
// non-space right after the opening $ and right before the closing one, and no digit after it.
// Code is never math: marked takes code blocks before these see their text, and an inline
// formula holds no backtick, so it cannot swallow the start of a code span. A formula not
// closed yet (an answer still streaming) stays text until its closing delimiter arrives.
const INLINE_MATH = [
  [/^\$\$((?:\\[^`]|[^\\$`]|\$(?!\$))+?)\$\$/, true],
  [/^\\\[([^`]+?)\\\]/, true],
  [/^\\\(([^`]+?)\\\)/, false],
  [/^\$(?=[^\s$])((?:\\[^`]|[^\\$`])*?(?:\\[^`]|[^\s\\$`]))\$(?!\d)/, false],
];
const BLOCK_MATH = /^ {0,3}(?:\$\$((?:\\[\s\S]|[^\\$]|\$(?!\$))+?)\$\$|\\\[((?:(?!\\\])[\s\S])+?)\\\])[ \t]*(?:\n+|$)/;

const mathExtensions = [
  {
    name: "blockMath",
    level: "block",
    // Where a paragraph gives way to a formula: at a line that opens one. (marked passes the
    // text after a paragraph's first character, so a line start is the one after a newline.)
    start(src) {
      const line = src.match(/\n {0,3}(?:\$\$|\\\[)/);
      return line ? line.index + 1 : undefined;
    },
    tokenizer(src) {
      const match = BLOCK_MATH.exec(src);
      if (match) return { type: "blockMath", raw: match[0], tex: (match[1] ?? match[2]).trim() };
    },
    renderer: ({ tex }) => `<div class="math display">${escapeHtml(tex)}</div>`,
  },
  {
    name: "inlineMath",
    level: "inline",
    start: (src) => src.match(/\$|\\[([]/)?.index,
    tokenizer(src) {
      for (const [pattern, display] of INLINE_MATH) {
        const match = pattern.exec(src);
        if (match) return { type: "inlineMath", raw: match[0], tex: match[1].trim(), display };
      }
    },
    renderer: ({ tex, display }) => `<span class="math${display ? " display" : ""}">${escapeHtml(tex)}</span>`,
  },
];

const marked = new Marked({
  extensions: mathExtensions,
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

// KaTeX, fetched with the first formula: most answers have none.
let katex = null;
let loading = null;

// Typeset the math placeholders under `root`. KaTeX works here, after DOMPurify, on text only:
// its markup needs style attributes, which the CSP refuses in parsed HTML but not when set
// through the DOM, as katex.render does; with `trust: false` no formula can make a link, a
// class, an id or a style of its own. A formula KaTeX cannot read shows as its source, in red.
function typeset(root) {
  const formulas = root.querySelectorAll(".math:not(.typeset)");
  if (!formulas.length) return;
  if (!katex) {
    loading ??= import("/vendor/katex.mjs").then((module) => (katex = module.default));
    // Without KaTeX a formula stays its source.
    loading.then(() => typeset(root), () => {});
    return;
  }
  for (const formula of formulas) {
    formula.classList.add("typeset");
    const tex = formula.textContent;
    const displayMode = formula.classList.contains("display");
    try {
      // throwOnError: KaTeX's own error span is coloured by a style attribute, which the
      // CSP blocks (and reports); the error is shown here instead, coloured by style.css.
      katex.render(tex, formula, { displayMode, throwOnError: true, trust: false, strict: "ignore" });
    } catch (error) {
      formula.textContent = tex; // katex.render empties the element before it parses
      formula.classList.add("math-error");
      formula.title = String(error.message || error);
    }
  }
}

// Fill `element` with the rendered answer, typeset its math and give each code block a copy
// button.
export function renderInto(element, text) {
  element.innerHTML = renderMarkdown(text);
  typeset(element);
  for (const head of element.querySelectorAll(".code-head")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = t("chat.copy");
    button.setAttribute("aria-label", t("chat.copy_code.label"));
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
      button.textContent = t("chat.copied");
    } catch {
      button.textContent = t("chat.copy_failed");
    }
    setTimeout(() => (button.textContent = button.dataset.label), 1500);
  });
}
