// The colour theme: light, dark, or the system's (the default), chosen in the settings dialog
// and kept in this browser's localStorage. Loaded first in the <head> of every page with
// blocking="render" (Chromium waits for it before the first paint; other browsers run it
// before DOMContentLoaded), so a stored choice is applied before the page is seen. It sets
// <html data-theme>, which style.css follows, and points the media of every element with a
// data-scheme (highlight.js's stylesheets, the theme-color metas) at the chosen scheme.
const KEY = "theme";
export const THEMES = ["system", "light", "dark"];

export function storedTheme() {
  let theme = null;
  try {
    theme = localStorage.getItem(KEY);
  } catch {
    // Storage refused (a privacy setting): the system's theme.
  }
  return THEMES.includes(theme) ? theme : "system";
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  for (const element of document.querySelectorAll("[data-scheme]")) {
    const scheme = element.dataset.scheme;
    const media = theme === "system" ? `(prefers-color-scheme: ${scheme})` : scheme === theme ? "all" : "not all";
    element.setAttribute("media", media);
  }
}

export function chooseTheme(theme) {
  if (!THEMES.includes(theme)) return;
  try {
    localStorage.setItem(KEY, theme);
  } catch {
    // Not kept, but applied to this page all the same.
  }
  applyTheme(theme);
}

applyTheme(storedTheme());
