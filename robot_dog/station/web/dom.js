// The console's one way to make elements: attributes and children as data (text nodes, never
// HTML). `on<event>` attributes become listeners; `i18n` names a catalogue message shown as the
// element's text (and re-shown when the language changes).
import {t} from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "i18n") { el.dataset.i18n = value; el.textContent = t(value); }
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value);
  }
  el.append(...children);
  return el;
}
