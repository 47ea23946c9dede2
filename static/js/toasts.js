// Toasts for newly arrived callbacks. A handful arrive as one toast each; a burst becomes one
// summary toast instead of a wall.

import { h } from './dom.js';
import { outcomeOf, plural } from './format.js';
import { statusPill, text, trackAge } from './widgets.js';

const MAX_SINGLE = 3; // more arrivals than this in one poll → one summary toast
const MAX_VISIBLE = 5;
const CALM_TIMEOUT_MS = 15000; // successes fade on their own; failures stay until dismissed

const region = () => document.getElementById('toasts');

function addToast(toast, outcome) {
  const box = region();
  box.prepend(toast);
  while (box.children.length > MAX_VISIBLE) dismiss(box.lastElementChild); // focus stays on the page
  if (outcome !== 'failure') setTimeout(() => dismiss(toast), CALM_TIMEOUT_MS);
}

function dismiss(toast) {
  if (!toast.isConnected) return;
  const hadFocus = toast.contains(document.activeElement);
  toast.remove();
  if (hadFocus) document.getElementById('main')?.focus();
}

function closeButton(getToast) {
  return h('button', {
    className: 'btn btn-quiet btn-icon toast-close',
    attrs: { type: 'button', 'aria-label': 'Dismiss notification' },
    text: '✕',
    on: { click: () => dismiss(getToast()) },
  });
}

function singleToast(item, onView) {
  const outcome = outcomeOf(item);
  const ageEl = trackAge(h('span', { className: 'toast-age' }), item.received_at);
  let toast;
  toast = h(
    'div',
    { className: `toast toast-${outcome}`, attrs: { role: 'status' } },
    h(
      'div',
      { className: 'toast-main' },
      h('div', { className: 'toast-title' }, statusPill(item), h('span', { className: 'toast-event', text: text(item.event) })),
      h(
        'div',
        { className: 'toast-meta' },
        h('span', { className: 'toast-workflow', text: text(item.workflow_name) }),
        ' · ',
        h('span', { className: 'toast-job', text: text(item.callback_id) }),
        ' · ',
        ageEl,
      ),
      item.error_message
        ? h('div', { className: 'toast-error', text: item.error_message })
        : null,
      h(
        'div',
        { className: 'toast-actions' },
        h('button', {
          className: 'btn btn-small toast-view',
          attrs: { type: 'button' },
          text: 'View details',
          on: { click: () => { dismiss(toast); onView(item); } },
        }),
      ),
    ),
    closeButton(() => toast),
  );
  addToast(toast, outcome);
}

function summaryToast(items, onShowAll) {
  const failures = items.filter((item) => outcomeOf(item) === 'failure').length;
  const outcome = failures ? 'failure' : 'success';
  const detail = failures
    ? `${plural(failures, 'failure', 'failures')}, ${items.length - failures} other`
    : 'none failed';
  let toast;
  toast = h(
    'div',
    { className: `toast toast-summary toast-${outcome}`, attrs: { role: 'status' } },
    h(
      'div',
      { className: 'toast-main' },
      h('div', { className: 'toast-title' }, h('span', { className: 'toast-event', text: `${plural(items.length, 'new callback', 'new callbacks')}` })),
      h('div', { className: 'toast-meta', text: detail }),
      h(
        'div',
        { className: 'toast-actions' },
        h('button', {
          className: 'btn btn-small toast-show-all',
          attrs: { type: 'button' },
          text: 'Show unread',
          on: { click: () => { dismiss(toast); onShowAll(); } },
        }),
      ),
    ),
    closeButton(() => toast),
  );
  addToast(toast, outcome);
}

/** Announces `items` (oldest first) that arrived since the last poll. */
export function announce(items, { onView, onShowAll }) {
  if (items.length === 0) return;
  if (items.length > MAX_SINGLE) summaryToast(items, onShowAll);
  else for (const item of items) singleToast(item, onView);
}
