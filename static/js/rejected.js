// The Rejected tab answers "why are my webhooks failing?": every request Hookbox refused,
// newest first, with the reason in plain words, who sent it and what it looked like. A tally
// of the reasons on the loaded pages puts the most common cause on top.

import { api } from './api.js';
import { $, h, replace } from './dom.js';
import { dateTime, headline, plural, rejectionSize } from './format.js';
import { text, trackAge, whyNotLoaded } from './widgets.js';

const PAGE = 50;

let nextCursor = null;
let loading = 0; // a newer load supersedes an older one
const shown = []; // every entry on the loaded pages, for the tally

function fact(label, value, className) {
  return [h('dt', { text: label }), h('dd', { className, text: text(value) })];
}

/** "401 invalid_signature": what the sender was answered. */
function codeBadge(item) {
  return h(
    'span',
    { className: 'code-badge mono', attrs: { title: 'HTTP status and error code the sender got' } },
    h('span', { className: 'rejection-status', text: text(item.http_status) }),
    h('span', { className: 'rejection-code', text: text(item.reason) }),
  );
}

function signatureHeaders(item) {
  const names = Array.isArray(item.headers_present)
    ? item.headers_present.filter((name) => typeof name === 'string' && name)
    : [];
  return names.length ? names.join(', ') : 'none';
}

function entry(item) {
  const when = h('span', { className: 'rejection-age', attrs: { title: dateTime(item.rejected_at) } });
  return h(
    'li',
    { className: 'card card-failure rejection' },
    h(
      'div',
      { className: 'rejection-title' },
      h('p', { className: 'rejection-explanation', text: text(item.explanation) }),
      codeBadge(item),
    ),
    h(
      'div',
      { className: 'card-meta muted' },
      trackAge(when, item.rejected_at),
      ' · source ',
      h('span', { className: 'rejection-source', text: text(item.source) }),
      ' · from ',
      h('span', { className: 'mono rejection-addr', text: text(item.remote_addr) }),
    ),
    h(
      'dl',
      { className: 'facts' },
      fact('User agent', item.user_agent, 'mono rejection-agent'),
      fact('Size', rejectionSize(item.content_length, item.body_bytes), 'rejection-size'),
      fact('Signature headers', signatureHeaders(item), 'mono rejection-headers'),
    ),
  );
}

/** Reasons with how often each occurs, most frequent first. */
export function tally(items) {
  const counts = new Map();
  for (const item of items) {
    const reason = String(item?.reason ?? '');
    const seen = counts.get(reason);
    if (seen) seen.count += 1;
    else counts.set(reason, { reason, explanation: String(item?.explanation ?? ''), count: 1 });
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}

function showTally() {
  const box = $('#rejected-reasons');
  const reasons = tally(shown);
  box.hidden = reasons.length === 0;
  replace(
    box,
    h('h2', { className: 'reasons-title', attrs: { id: 'rejected-reasons-title' }, text: `Reasons among the ${plural(shown.length, 'delivery', 'deliveries')} shown` }),
    h('ul', { className: 'reasons-list' }, reasons.map((reason) => h(
      'li',
      { className: 'reason' },
      h('strong', { className: 'reason-count', text: `${reason.count} ×` }),
      h(
        'span',
        { className: 'reason-what' },
        h('span', { className: 'reason-words', attrs: { title: reason.explanation }, text: headline(reason.explanation) }),
        h('span', { className: 'code-badge code-badge-quiet mono', text: text(reason.reason) }),
      ),
    ))),
  );
}

function showEmpty(empty) {
  const box = $('#rejected-empty');
  box.hidden = !empty;
  if (!empty) return;
  replace(
    box,
    h('p', { className: 'empty-title', text: 'No rejected deliveries in the log.' }),
    h('p', { className: 'muted', text: 'A refused request to a webhook URL (a wrong or missing signature, a body over the limit, invalid JSON…) shows up here with the reason in plain words. Under a flood some are left out; /metrics counts them.' }),
  );
}

function showError(error) {
  const banner = $('#rejected-error');
  banner.hidden = !error;
  if (!error) return;
  const stale = shown.length ? ' The list below is from the last successful load.' : '';
  const [title] = whyNotLoaded(error, 'the rejected deliveries');
  banner.textContent = `${title}${stale} Use Refresh to try again.`;
}

/** Loads the newest page (or, with `more`, the page after the last one shown). */
export async function loadRejected({ more = false } = {}) {
  const mine = ++loading;
  const list = $('#rejected-list');
  const button = $('#rejected-more');
  button.disabled = true;
  list.setAttribute('aria-busy', 'true');
  try {
    const page = await api.rejections(more ? nextCursor : undefined, PAGE);
    if (mine !== loading) return;
    if (!more) {
      shown.length = 0;
      replace(list);
    }
    const items = Array.isArray(page?.items) ? page.items : [];
    shown.push(...items);
    list.append(...items.map(entry));
    nextCursor = page?.has_more && typeof page.next_cursor === 'string' ? page.next_cursor : null;
    button.hidden = !nextCursor;
    showError(null);
    showTally();
    showEmpty(shown.length === 0);
    $('#rejected-summary').textContent = shown.length === 0
      ? 'Requests Hookbox refused, newest first.'
      : `${plural(shown.length, 'rejected delivery', 'rejected deliveries')} shown, newest first${nextCursor ? ' — more below' : ''}.`;
  } catch (error) {
    if (mine !== loading) return;
    // A lost session already sends the page to the login screen.
    if (error?.status === 401) return;
    showError(error);
    showEmpty(false);
  } finally {
    if (mine === loading) {
      button.disabled = false;
      list.removeAttribute('aria-busy');
    }
  }
}

export function initRejected() {
  $('#rejected-more').addEventListener('click', () => loadRejected({ more: true }));
  $('#rejected-refresh').addEventListener('click', () => loadRejected());
}
