// The side panel a citation or a source opens: the passage the model was given, the
// sentences that support the answer marked, the text around it dimmed, and the original: a
// link to a web page, or for a PDF the cited page itself, drawn by PDF.js (loaded the first
// time one is shown) with the passage marked in its text layer.
import { isPdf, label, safeUrl } from "./citations.js";
import { markInto, markTextLayer, phrasesFor } from "./marks.js";
import { t } from "../i18n.js";

const $ = (selector) => document.querySelector(selector);
const panel = $("#source-panel");
const title = $("#source-panel-title");
const closeButton = $("#source-panel-close");
const headingPath = $("#source-heading");
const before = $("#source-before");
const passageView = $("#source-passage-view");
const passageBox = $("#source-passage");
const markedNote = $("#source-marked");
const after = $("#source-after");
const missing = $("#source-missing");
const original = $("#source-original");
const viewer = $("#pdf-viewer");
const pdfPage = $("#pdf-page");
const canvas = $("#pdf-canvas");
let textLayer = $("#pdf-text"); // replaced for each page drawn
const pageLabel = $("#pdf-page-label");
const previous = $("#pdf-previous");
const next = $("#pdf-next");
const pdfStatus = $("#pdf-status");

// PDFs kept open, so going back to a source shown a moment ago does not fetch it again.
const KEEP_DOCUMENTS = 4;

let pdfjs = null;
async function loadPdfjs() {
  if (!pdfjs) {
    pdfjs = await import("/vendor/pdf.min.mjs");
    pdfjs.GlobalWorkerOptions.workerSrc = "/vendor/pdf.worker.min.mjs";
  }
  return pdfjs;
}

const documents = new Map(); // URL (without its #fragment) -> Promise of a PDFDocumentProxy
function openDocument(url) {
  if (!documents.has(url)) {
    const loading = (async () => {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) {
        throw new Error(response.status === 404 ? t("sources.pdf.gone") : `HTTP ${response.status}`);
      }
      const data = new Uint8Array(await response.arrayBuffer());
      const lib = await loadPdfjs();
      return lib.getDocument({ data, isEvalSupported: false }).promise;
    })();
    loading.catch(() => documents.delete(url));
    documents.set(url, loading);
    while (documents.size > KEEP_DOCUMENTS) {
      const [oldest, pending] = documents.entries().next().value;
      documents.delete(oldest);
      pending.then((doc) => doc.destroy(), () => {});
    }
  }
  return documents.get(url);
}

export function initSourcePanel() {
  let opener = null; // what to give focus back to
  let shown = null; // {source, doc, page}: the PDF shown
  let turn = 0; // a newer page to draw makes an older drawing stop
  let task = null; // the PDF.js render task under way
  let layer = null; // and its text layer's

  function stopDrawing() {
    turn += 1;
    task?.cancel();
    layer?.cancel();
  }

  // An empty text layer: one that an earlier drawing, still finishing, cannot write into.
  function freshTextLayer() {
    const fresh = document.createElement("div");
    fresh.id = textLayer.id;
    fresh.className = textLayer.className;
    textLayer.replaceWith(fresh);
    textLayer = fresh;
  }

  async function drawPage(doc, number, phrases) {
    stopDrawing();
    const mine = turn;
    shown.page = number;
    pageLabel.textContent = t("sources.pdf.page_of", { page: number, pages: doc.numPages });
    previous.disabled = number <= 1;
    next.disabled = number >= doc.numPages;
    pdfPage.dataset.page = String(number);
    canvas.setAttribute("aria-label", t("sources.pdf.page_of_title", { page: number, title: shown.source.title || t("sources.pdf.the_pdf") }));
    pdfPage.dataset.highlighted = "false";
    pdfStatus.textContent = t("sources.pdf.loading", { page: number });
    try {
      const page = await doc.getPage(number);
      if (mine !== turn) return;
      const width = Math.max(200, viewer.clientWidth - 2);
      const viewport = page.getViewport({ scale: width / page.getViewport({ scale: 1 }).width });
      const ratio = window.devicePixelRatio || 1;
      canvas.width = Math.floor(viewport.width * ratio);
      canvas.height = Math.floor(viewport.height * ratio);
      canvas.style.width = `${Math.floor(viewport.width)}px`;
      canvas.style.height = `${Math.floor(viewport.height)}px`;
      pdfPage.style.setProperty("--total-scale-factor", String(viewport.scale));
      freshTextLayer();
      task = page.render({ canvas, viewport, transform: ratio === 1 ? null : [ratio, 0, 0, ratio, 0, 0] });
      layer = new pdfjs.TextLayer({ textContentSource: page.streamTextContent(), container: textLayer, viewport });
      await Promise.all([task.promise, layer.render()]);
    } catch (error) {
      if (mine === turn) pdfStatus.textContent = t("sources.pdf.draw_failed", { page: number, error: error.message });
      return;
    }
    if (mine !== turn) return;
    const mark = phrases.length ? markTextLayer(textLayer, phrases) : null;
    pdfPage.dataset.highlighted = mark ? "true" : "false";
    pdfStatus.textContent = phrases.length && !mark ? t("sources.pdf.not_found") : "";
    mark?.scrollIntoView({ block: "center" });
  }

  async function showPdf(source) {
    viewer.hidden = false;
    stopDrawing();
    freshTextLayer();
    canvas.width = 0;
    pdfPage.dataset.highlighted = "false";
    delete pdfPage.dataset.page;
    const url = safeUrl(source.url).split("#")[0];
    shown = { source, doc: null, page: source.page };
    const mine = turn;
    pageLabel.textContent = t("sources.pdf.page", { page: source.page });
    pdfStatus.textContent = t("sources.pdf.opening");
    try {
      const doc = await openDocument(url);
      if (mine !== turn) return;
      shown.doc = doc;
      await drawPage(doc, Math.min(source.page, doc.numPages), phrasesFor(source));
    } catch (error) {
      if (mine === turn) pdfStatus.textContent = t("sources.pdf.open_failed", { error: error.message });
    }
  }

  function turnPage(step) {
    if (!shown?.doc) return;
    const number = shown.page + step;
    if (number < 1 || number > shown.doc.numPages) return;
    drawPage(shown.doc, number, number === shown.source.page ? phrasesFor(shown.source) : []);
  }

  function open(source, from) {
    opener = from || document.activeElement;
    title.textContent = `[${source.n}] ${source.title || source.url || t("sources.untitled")}`;
    headingPath.textContent = source.heading;
    headingPath.hidden = !source.heading;
    before.textContent = source.before;
    after.textContent = source.after;
    before.hidden = !source.before;
    after.hidden = !source.after;
    markInto(passageBox, source.passage, source.highlights);
    markedNote.hidden = !passageBox.querySelector("mark");
    passageView.hidden = !source.passage;
    missing.hidden = Boolean(source.passage);
    const url = safeUrl(source.url);
    const pdf = isPdf(source);
    original.hidden = !url;
    if (url) {
      original.href = url;
      original.textContent = pdf ? t("sources.open_pdf", { page: source.page }) : t("sources.open", { label: label(source) });
    }
    panel.dataset.n = String(source.n);
    panel.hidden = false;
    if (pdf) {
      showPdf(source);
    } else {
      stopDrawing();
      shown = null;
      viewer.hidden = true;
    }
    panel.focus();
    passageBox.querySelector("mark")?.scrollIntoView({ block: "nearest" });
  }

  function close() {
    if (panel.hidden) return;
    stopDrawing();
    shown = null;
    panel.hidden = true;
    const back = opener && opener.isConnected ? opener : $("#prompt");
    opener = null;
    back.focus();
  }

  closeButton.addEventListener("click", close);
  previous.addEventListener("click", () => turnPage(-1));
  next.addEventListener("click", () => turnPage(1));
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    event.stopPropagation(); // this Esc closes the panel, it does not stop an answer
    close();
  });

  return { open, close, isOpen: () => !panel.hidden };
}
