// The page's strings: the catalog of the chosen language, which the server embeds in the page
// as JSON (#catalog, from chatbot/web/catalog/<lang>.json). Every string the page shows comes
// from here: t("key") or t("key", { name: value }) for a "{name}" placeholder. A key missing
// from the catalog shows as itself, which a test catches.
const element = document.getElementById("catalog");
const catalog = element ? JSON.parse(element.textContent) : {};

export const language = document.documentElement.lang || "en";

export function t(key, vars) {
  const text = Object.hasOwn(catalog, key) ? catalog[key] : key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(vars, name) ? String(vars[name]) : whole));
}
