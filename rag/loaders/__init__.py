"""One loader per kind of source: web pages and sites (web, fetch, with guard deciding which
addresses a fetch may reach), PDFs (pdf), HTML (html), Markdown and text (markdown, text),
DOCX and PPTX (office), ODT (odt), XLSX and CSV (sheets), EPUB (epub), the zip and XML
limits those share (zipped), local files and folders (files)."""
