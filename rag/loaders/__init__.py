"""One loader per kind of source: web pages and sites (web, fetch, with guard deciding which
addresses a fetch may reach), PDFs (pdf), HTML (html), Markdown and text (markdown, text),
local files and folders (files)."""
