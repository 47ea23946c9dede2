// The side panel for details and timelines: a modal <dialog> (Esc closes, the page behind is
// inert), focus kept inside and given back on close, draggable by its header and resizable
// on desktop, full screen on phones (CSS). Views stack, so "Back" returns from a timeline.

import { $, focusable, replace } from './dom.js';

const desktop = window.matchMedia('(min-width: 800px)');
const stack = []; // [{title, render}]
let returnFocus = null;
// Where `returnFocus` stood among the elements of its list (`data-focus-list`): a list redrawn
// while the panel was open (the Unread list drops the callback just viewed) has replaced it, and
// focus then goes to the element now at that place.
let returnPlace = null;
let generation = 0; // a slow render for a view that is gone must not paint over the new one

function dialog() {
  return $('#panel');
}

async function render() {
  const view = stack[stack.length - 1];
  const mine = ++generation;
  $('#panel-title').textContent = view.title;
  $('#panel-back').hidden = stack.length < 2;
  const body = $('#panel-body');
  body.setAttribute('aria-busy', 'true');
  replace(body);
  const fragment = document.createElement('div');
  try {
    await view.render(fragment, () => mine === generation);
  } finally {
    if (mine === generation) {
      body.removeAttribute('aria-busy');
      replace(body, ...fragment.childNodes);
      body.scrollTop = 0;
    }
  }
}

/** Shows a view; `replaceAll` starts a new stack (a new callback), otherwise it is pushed. */
export async function showView(title, renderFn, { replaceAll = true } = {}) {
  const el = dialog();
  if (!el.open) {
    returnFocus = document.activeElement;
    returnPlace = placeIn(returnFocus);
    el.showModal();
  }
  if (replaceAll) stack.length = 0;
  stack.push({ title, render: renderFn });
  await render();
  if (el.open && !el.contains(document.activeElement)) $('#panel-close').focus();
  else if (el.open && document.activeElement === document.body) $('#panel-close').focus();
}

export async function back() {
  if (stack.length < 2) return;
  stack.pop();
  await render();
  $('#panel-close').focus();
}

/** Renders the view on top again (its "Try again"), focus kept in the panel. */
export async function reload() {
  if (stack.length === 0) return;
  await render();
  if (dialog().open && !dialog().contains(document.activeElement)) $('#panel-close').focus();
}

export function closePanel() {
  const el = dialog();
  if (el.open) el.close();
}

export function isOpen() {
  return dialog().open;
}

function onClosed() {
  stack.length = 0;
  generation += 1;
  replace($('#panel-body'));
  const target = returnFocus && returnFocus.isConnected ? returnFocus : elementAt(returnPlace) ?? $('#main');
  returnFocus = null;
  returnPlace = null;
  target.focus();
}

function listOf(name) {
  return [...document.querySelectorAll(`[data-focus-list="${name}"]`)];
}

function placeIn(el) {
  const name = el?.dataset?.focusList;
  return name ? { name, index: listOf(name).indexOf(el) } : null;
}

function elementAt(place) {
  if (!place) return null;
  const items = listOf(place.name);
  return items[Math.min(place.index, items.length - 1)] ?? null;
}

function trapFocus(event) {
  if (event.key !== 'Tab') return;
  const items = focusable(dialog());
  if (items.length === 0) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}

function enableDragging() {
  const handle = $('#panel-handle');
  let start = null;
  handle.addEventListener('pointerdown', (event) => {
    if (!desktop.matches || event.button !== 0 || event.target.closest('button')) return;
    const rect = dialog().getBoundingClientRect();
    start = { x: event.clientX - rect.left, y: event.clientY - rect.top };
    handle.setPointerCapture(event.pointerId);
    dialog().classList.add('panel-moved');
  });
  handle.addEventListener('pointermove', (event) => {
    if (!start) return;
    const el = dialog();
    const maxX = window.innerWidth - 80;
    const maxY = window.innerHeight - 48;
    el.style.left = `${Math.min(Math.max(0, event.clientX - start.x), maxX)}px`;
    el.style.top = `${Math.min(Math.max(0, event.clientY - start.y), maxY)}px`;
  });
  const stop = () => { start = null; };
  handle.addEventListener('pointerup', stop);
  handle.addEventListener('pointercancel', stop);
  // A phone-sized window gets the full-screen layout back.
  desktop.addEventListener('change', () => {
    if (!desktop.matches) {
      dialog().classList.remove('panel-moved');
      dialog().style.removeProperty('left');
      dialog().style.removeProperty('top');
    }
  });
}

export function initPanel() {
  const el = dialog();
  el.addEventListener('close', onClosed);
  el.addEventListener('keydown', trapFocus);
  // A click on the backdrop closes it (the backdrop reports the dialog as its target, with
  // coordinates outside the box; the resize grip is inside).
  el.addEventListener('click', (event) => {
    if (event.target !== el) return;
    const r = el.getBoundingClientRect();
    const inside = event.clientX >= r.left && event.clientX <= r.right
      && event.clientY >= r.top && event.clientY <= r.bottom;
    if (!inside) closePanel();
  });
  $('#panel-close').addEventListener('click', closePanel);
  $('#panel-back').addEventListener('click', back);
  enableDragging();
}
