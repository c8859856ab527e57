// The page's strings: the catalog of the chosen language, which the server embeds in the page
// as JSON (#catalog, from chatbot/web/catalog/<lang>.json). Every string the page shows comes
// from here: t("key") or t("key", { name: value }) for a "{name}" placeholder; tn("key", n)
// for a string that depends on a count, whose forms are the keys "key.one", "key.other" (and
// any other plural category the language has: "key.few", "key.many"...), chosen by the
// language's own rules (Intl.PluralRules), "key.other" when that form is not in the catalog.
// Numbers and dates are written the language's way too (number(), date()). A key missing from
// the catalog shows as itself, which a test catches. Format: docs/chatbot.md ("Languages").
const element = document.getElementById("catalog");
const catalog = element ? JSON.parse(element.textContent) : {};

export const language = document.documentElement.lang || "en";

const plurals = new Intl.PluralRules(language);
const numbers = new Intl.NumberFormat(language);

export function t(key, vars) {
  const text = Object.hasOwn(catalog, key) ? catalog[key] : key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(vars, name) ? String(vars[name]) : whole));
}

// `count` is also the placeholder {count}, written as a number of the language.
export function tn(key, count, vars = {}) {
  const form = `${key}.${plurals.select(count)}`;
  return t(Object.hasOwn(catalog, form) ? form : `${key}.other`, { count: number(count), ...vars });
}

// A conversation's title as the server sends it, but for one without a title yet, which the
// server names in English (chatbot/db/rows.py UNTITLED, given to the page as #title's
// data-untitled).
const untitled = document.getElementById("title")?.dataset.untitled;
export function conversationTitle(title) {
  return title === untitled ? t("chat.new_title") : title;
}

export function number(value, options) {
  return options ? new Intl.NumberFormat(language, options).format(value) : numbers.format(value);
}

export function date(value, options) {
  return new Intl.DateTimeFormat(language, options).format(value);
}
