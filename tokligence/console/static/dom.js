// Building the page without ever parsing data as HTML: every string becomes
// a text node or an attribute value, and event-handler attributes are
// refused outright. No string is ever parsed as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttributes(element, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (/^on/i.test(name) || name === "style" || name === "srcdoc") {
      throw new Error(`refusing attribute ${name}`);
    }
    if (name === "dataset") {
      for (const [key, v] of Object.entries(value)) element.dataset[key] = String(v);
    } else if (name === "hidden" || name === "disabled" || name === "checked" || name === "selected") {
      element[name] = Boolean(value);
    } else if (name === "value") {
      element.value = String(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// h("td", {class: "num"}, "text", otherNode, ...)
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}

export function s(tag, attrs, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}

export function clear(element) {
  element.replaceChildren();
  return element;
}

export function on(element, event, handler) {
  element.addEventListener(event, handler);
  return element;
}

const numberFormat = new Intl.NumberFormat("en-US");

export function fmtInt(value) {
  return value === null || value === undefined ? "–" : numberFormat.format(value);
}

export function fmtMs(value) {
  if (value === null || value === undefined) return "–";
  return value >= 100 ? numberFormat.format(Math.round(value)) : value.toFixed(1);
}

// Money arrives as a decimal string; shown to the cent, or to six places
// when smaller than a cent.
export function fmtUsd(text) {
  if (text === null || text === undefined) return "–";
  const value = Number(text);
  if (value === 0) return "$0";
  if (Math.abs(value) < 0.01) return "$" + value.toFixed(6).replace(/0+$/, "");
  return "$" + value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function table(headers, rows, attrs) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs || {},
      h("thead", null, h("tr", null, headers.map((head) => h("th", { scope: "col", class: head.num ? "num" : null }, head.label ?? head)))),
      h("tbody", null, rows),
    ),
  );
}
