// The detail view of one callback: every stored field, the signature, the error, and the
// payload as a JSON tree. Opening it marks the callback viewed for this user.

import { api, rawUrl } from './api.js';
import { append, h } from './dom.js';
import { bytes, dateTime, outcomeOf, OUTCOME_WORD } from './format.js';
import { collapseAll, expandAll, jsonTree } from './jsontree.js';
import { reload, showView } from './panel.js';
import { openTimeline } from './timeline.js';
import { loadErrorBox, signatureBadge, statusPill, text, whyNotLoaded } from './widgets.js';

let hooks = { onViewed: () => {} };

export function configureDetail(newHooks) {
  hooks = { ...hooks, ...newHooks };
}

/**
 * What the panel shows instead of a view that did not load: `gone` when the server no longer
 * has it, otherwise why loading `what` ("this callback") failed, with *Try again*.
 */
export function errorBox(error, { what, gone }) {
  if (error?.code === 'not_found') {
    return h('p', { className: 'banner banner-error', attrs: { role: 'alert' }, text: gone });
  }
  return h('div', { className: 'banner banner-error' }, loadErrorBox(whyNotLoaded(error, what), reload));
}

function field(label, value, className = '') {
  return [h('dt', { text: label }), h('dd', { className, text: text(value) })];
}

async function copyText(textValue, button) {
  const original = button.textContent;
  try {
    await navigator.clipboard.writeText(textValue);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Copy failed';
  }
  setTimeout(() => { button.textContent = original; }, 1500);
}

function payloadSection(item) {
  const tree = jsonTree(item.payload);
  const note = h('span', { className: 'muted small', attrs: { 'aria-live': 'polite' } });
  const toolbar = h(
    'div',
    { className: 'toolbar' },
    h('button', {
      className: 'btn btn-small', attrs: { type: 'button' }, text: 'Expand all',
      on: { click: () => { note.textContent = expandAll(tree) ? '' : 'Very large: the deepest levels stay closed; open them one by one.'; } },
    }),
    h('button', {
      className: 'btn btn-small', attrs: { type: 'button' }, text: 'Collapse all',
      on: { click: () => { collapseAll(tree); note.textContent = ''; } },
    }),
    h('button', {
      className: 'btn btn-small', attrs: { type: 'button' }, text: 'Copy JSON',
      on: { click: (event) => copyText(JSON.stringify(item.payload, null, 2), event.currentTarget) },
    }),
    note,
  );
  return h('section', { className: 'detail-section' }, h('h3', { text: 'Payload' }), toolbar, tree);
}

function build(root, item) {
  const outcome = outcomeOf(item);
  const viewedEl = h('dd', { className: 'detail-viewed', text: item.viewed_at ? dateTime(item.viewed_at) : 'not yet' });
  const actions = h(
    'div',
    { className: 'toolbar' },
    h('button', {
      className: 'btn btn-small detail-timeline', attrs: { type: 'button' }, text: 'Job timeline',
      on: { click: () => openTimeline(item.callback_id, { replaceAll: false }) },
    }),
  );
  const raw = rawUrl(item.id);
  if (raw) {
    const link = document.createElement('a');
    link.className = 'btn btn-small';
    link.href = raw; // built from a numeric id only, never from payload text
    link.textContent = 'Raw bytes';
    actions.append(link);
  }
  append(root, [
    h(
      'div',
      { className: `detail-head detail-${outcome}` },
      h('div', { className: 'detail-title' }, statusPill(item), h('span', { className: 'detail-event', text: text(item.event) })),
      h('div', { className: 'detail-sub muted' }, h('span', { className: 'detail-workflow', text: text(item.workflow_name) }), ' · job ', h('span', { className: 'detail-job', text: text(item.callback_id) })),
    ),
    outcome === 'failure' || item.error_message
      ? h(
          'div',
          { className: `error-box${outcome === 'failure' ? '' : ' error-box-quiet'}` },
          h('strong', { text: outcome === 'failure' ? 'Failed' : 'Error message' }),
          h('p', { className: 'detail-error', text: item.error_message ?? 'No error message was sent.' }),
        )
      : null,
    actions,
    signatureBadge(item.signature, dateTime),
    h(
      'dl',
      { className: 'fields' },
      field('Job id', item.callback_id, 'mono'),
      field('Event', item.event, 'mono'),
      field('Workflow', item.workflow_name),
      field('Status', item.status),
      field('Outcome', OUTCOME_WORD[outcome]),
      field('Received', dateTime(item.received_at)),
      field('Sent (sender’s time)', item.sent_at ? dateTime(item.sent_at) : null),
      h('dt', { text: 'Viewed by you' }), viewedEl,
      field('Source', item.source),
      field('Payload size', bytes(item.payload_size)),
      field('Content type', item.content_type, 'mono'),
      field('Sender address', item.remote_addr, 'mono'),
      field('User agent', item.user_agent, 'mono'),
      field('Delivery key', item.delivery_key, 'mono'),
      field('Signature header', item.signature?.header, 'mono'),
      field('Signature scheme', item.signature?.scheme, 'mono'),
      field('Secret label', item.signature?.secret_label),
      field('Hookbox id', item.id, 'mono'),
    ),
    payloadSection(item),
  ]);
  return viewedEl;
}

/** Opens callback `id` in the panel and marks it viewed. */
export function openDetail(id, { replaceAll = true } = {}) {
  return showView('Callback', async (root, isCurrent) => {
    let item;
    try {
      item = await api.detail(id);
    } catch (error) {
      root.append(errorBox(error, { what: 'this callback', gone: 'This callback no longer exists.' }));
      return;
    }
    if (!isCurrent()) return;
    const viewedEl = build(root, item);
    if (item.viewed_at) {
      // Viewed already, in another tab or by "Mark all read" there: a row or card loaded before
      // still shows it unread.
      hooks.onViewed(id);
      return;
    }
    api.markViewed(id).then(
      (result) => {
        viewedEl.textContent = dateTime(result?.viewed_at ?? new Date().toISOString());
        hooks.onViewed(id);
      },
      () => { viewedEl.textContent = 'not yet (could not mark it viewed)'; },
    );
  }, { replaceAll });
}
