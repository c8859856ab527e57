// Small DOM helpers the page's parts share.

// A button with its visible label, its class, its accessible name and what a click does.
export function button(label, className, aria, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = label;
  b.setAttribute("aria-label", aria);
  b.addEventListener("click", onClick);
  return b;
}
