"""One loader per kind of source: web pages and sites (web, fetch), PDFs (pdf), HTML (html),
Markdown and text (markdown, text), local files and folders (files)."""
