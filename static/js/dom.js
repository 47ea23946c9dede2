// Building DOM safely. Every value from the server is hostile: it only ever becomes a text
// node (textContent) or the value of an attribute from the short allow-list below, never
// markup, never a URL, never an event handler attribute.

const SAFE_ATTRIBUTES = new Set([
  'id', 'type', 'role', 'tabindex', 'title', 'for', 'name', 'value', 'placeholder',
  'autocomplete', 'colspan', 'scope', 'hidden', 'disabled', 'lang', 'spellcheck',
  'aria-label', 'aria-live', 'aria-expanded', 'aria-controls', 'aria-selected',
  'aria-current', 'aria-hidden', 'aria-modal', 'aria-labelledby', 'aria-describedby',
  'aria-busy', 'aria-pressed', 'data-focus-list',
]);

/**
 * h('button', {className: 'x', attrs: {type: 'button'}, on: {click: fn}}, 'text', child)
 * Children: strings/numbers become text nodes, null/false are skipped, arrays flattened.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  if (props.className) el.className = props.className;
  if (props.text !== undefined && props.text !== null) el.textContent = String(props.text);
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (!SAFE_ATTRIBUTES.has(name)) throw new Error(`attribute not allowed: ${name}`);
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [event, handler] of Object.entries(props.on ?? {})) {
    el.addEventListener(event, handler);
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function $(selector, root = document) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

/** Elements inside `root` that Tab can reach, in order. */
export function focusable(root) {
  const candidates = root.querySelectorAll(
    'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), ' +
      'textarea:not([disabled]), details > summary:first-of-type, [tabindex]:not([tabindex="-1"])',
  );
  return [...candidates].filter(
    (el) => (el.offsetParent !== null && !inClosedDetails(el)) || el === document.activeElement,
  );
}

/** True inside a closed `<details>` (its own summary excepted): browsers keep that content laid
 * out but hidden (`content-visibility`), so it has an `offsetParent` and Tab never reaches it. */
function inClosedDetails(el) {
  const ownDetails = el.matches('details > summary:first-of-type') ? el.parentElement : null;
  const from = ownDetails ? ownDetails.parentElement : el.parentElement;
  return Boolean(from?.closest('details:not([open])'));
}
