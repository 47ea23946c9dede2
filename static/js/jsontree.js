// A collapsible JSON tree that stays responsive for 1 MiB payloads: children are built only
// when a node is first opened, big containers in chunks, long strings cut with "show all".

import { h } from './dom.js';

const CHUNK = 200; // children rendered per "show more"
const LONG_STRING = 2000; // characters shown before "show all"
const EXPAND_ALL_BUDGET = 4000; // nodes "expand all" may open before it stops
const AUTO_OPEN_DEPTH = 2;
const AUTO_OPEN_MAX_CHILDREN = 50;

const children = new WeakMap(); // <details> → {value, depth, rendered}

function isContainer(value) {
  return value !== null && typeof value === 'object';
}

function entriesOf(value) {
  return Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
}

function sizeLabel(value) {
  if (Array.isArray(value)) return `[ ${value.length} ${value.length === 1 ? 'item' : 'items'} ]`;
  const n = Object.keys(value).length;
  return `{ ${n} ${n === 1 ? 'key' : 'keys'} }`;
}

function keyLabel(key, inArray) {
  if (key === null) return null;
  return [
    h('span', { className: inArray ? 'jt-index' : 'jt-key', text: String(key) }),
    h('span', { className: 'jt-punct', text: ': ' }),
  ];
}

function stringValue(value) {
  const el = h('span', { className: 'jt-string' });
  if (value.length <= LONG_STRING) {
    el.textContent = `"${value}"`;
    return el;
  }
  el.textContent = `"${value.slice(0, LONG_STRING)}…`;
  const more = h('button', {
    className: 'btn btn-link jt-more',
    attrs: { type: 'button' },
    text: `show all ${value.length.toLocaleString()} characters`,
    on: {
      click: () => {
        el.textContent = `"${value}"`;
        more.remove();
      },
    },
  });
  return [el, ' ', more];
}

function primitive(value) {
  if (typeof value === 'string') return stringValue(value);
  if (value === null) return h('span', { className: 'jt-null', text: 'null' });
  if (typeof value === 'number') return h('span', { className: 'jt-number', text: String(value) });
  if (typeof value === 'boolean') return h('span', { className: 'jt-bool', text: String(value) });
  return h('span', { text: String(value) });
}

function node(key, value, depth, inArray) {
  if (!isContainer(value)) {
    return h('div', { className: 'jt-row' }, keyLabel(key, inArray), primitive(value));
  }
  const details = h(
    'details',
    { className: 'jt-node' },
    h('summary', { className: 'jt-row' }, keyLabel(key, inArray), h('span', { className: 'jt-type', text: sizeLabel(value) })),
  );
  children.set(details, { value, depth, rendered: 0, body: null });
  details.addEventListener('toggle', () => {
    if (details.open) renderChildren(details);
  });
  const count = Array.isArray(value) ? value.length : Object.keys(value).length;
  if (depth < AUTO_OPEN_DEPTH && count <= AUTO_OPEN_MAX_CHILDREN) {
    details.open = true;
    renderChildren(details);
  }
  return details;
}

/** Builds a node's children on first opening. */
function renderChildren(details) {
  const state = children.get(details);
  if (!state || state.body) return;
  state.body = h('div', { className: 'jt-children' });
  details.append(state.body);
  renderMore(details);
}

/** Appends the next chunk of children, and a "show more" button while some remain. */
function renderMore(details) {
  const state = children.get(details);
  const entries = entriesOf(state.value);
  const inArray = Array.isArray(state.value);
  state.body.querySelector(':scope > .jt-more-row')?.remove();
  const end = Math.min(entries.length, state.rendered + CHUNK);
  const fragment = document.createDocumentFragment();
  for (let i = state.rendered; i < end; i += 1) {
    const [key, value] = entries[i];
    fragment.append(node(key, value, state.depth + 1, inArray));
  }
  state.rendered = end;
  state.body.append(fragment);
  const remaining = entries.length - end;
  if (remaining > 0) {
    state.body.append(
      h(
        'div',
        { className: 'jt-more-row' },
        h('button', {
          className: 'btn btn-link',
          attrs: { type: 'button' },
          text: `show ${Math.min(CHUNK, remaining)} more (${remaining.toLocaleString()} not shown)`,
          on: { click: () => renderMore(details) },
        }),
      ),
    );
  }
}

/** The tree for `value`, inside a container with a role for assistive technology. */
export function jsonTree(value) {
  const root = h('div', { className: 'json-tree', attrs: { role: 'group', 'aria-label': 'Payload' } });
  root.append(node(null, value, 0, false));
  return root;
}

/** Opens every node, breadth first, until the budget is spent. Returns true when all opened. */
export function expandAll(root) {
  let budget = EXPAND_ALL_BUDGET;
  let queue = [...root.querySelectorAll(':scope > details')];
  while (queue.length && budget > 0) {
    const next = [];
    for (const details of queue) {
      if (budget <= 0) break;
      details.open = true;
      renderChildren(details);
      budget -= 1;
      const body = children.get(details)?.body;
      if (body) next.push(...body.querySelectorAll(':scope > details'));
    }
    queue = next;
  }
  return queue.length === 0;
}

export function collapseAll(root) {
  for (const details of root.querySelectorAll('details')) details.open = false;
  const top = root.querySelector(':scope > details');
  if (top) top.open = true;
}
