// The dashboard: signs the user in (or sends them to /login), polls for new callbacks,
// shows toasts and the unread count, and switches between the Unread, History and Rejected
// tabs.

import { api, setRequestTimeout, setUnauthenticatedHandler } from './api.js';
import { $, h, replace } from './dom.js';
import { configureDetail, openDetail } from './detail.js';
import { countLabel, outcomeOf, plural } from './format.js';
import { filtersFromUrl, initHistory, loadFacets, loadHistory, markAllRowsViewed, markRowViewed } from './history.js';
import { Poller } from './notify.js';
import { initPanel } from './panel.js';
import { initRejected, loadRejected } from './rejected.js';
import { announce } from './toasts.js';
import { noCallbacksYet, refreshAges, statusPill, text, trackAge } from './widgets.js';

const TABS = ['inbox', 'history', 'rejected'];
const DEFAULT_POLL_MS = 10000;
let booted = false;
let poller = null;
let unread = { count: 0, capped: false };
/** The newest callback this page has shown (listed, in a table row or a toast): `{ id, cursor }`. */
let newestShown = null;
// The Unread list as last loaded: shown to the user only while its tab is.
let inboxItems = [];
let inboxGeneration = 0;
/** The Unread list's last load failed: the next poll that answers loads it again. */
let inboxFailed = false;

setUnauthenticatedHandler(() => {
  poller?.stop();
  // Before the first successful call this is simply "not signed in"; later the session ended.
  // Either way the sign-in page comes back here: the tab and the History filters are in the URL.
  const params = new URLSearchParams();
  if (booted) params.set('reason', 'expired');
  const here = `${window.location.pathname}${window.location.search}`;
  if (here !== '/') params.set('next', here);
  const query = params.toString();
  window.location.assign(query ? `/login?${query}` : '/login');
});

function showFatal(message) {
  const el = $('#fatal');
  el.textContent = message;
  el.hidden = !message;
}

/** Says what failed; `retried` is false for what the user did, which nothing does again. */
function reportError(error, { retried = true } = {}) {
  if (error?.status === 401) return;
  if (error?.status === 403) showFatal('This account is not an administrator, so it cannot see callbacks.');
  else if (retried) showFatal(`Something went wrong talking to the server (${error?.code ?? 'error'}). It will be retried.`);
  else showFatal(`Something went wrong talking to the server (${error?.code ?? 'error'}). Nothing was changed; try again.`);
}

function setCount(count, capped) {
  unread = { count: Number.isFinite(count) ? count : 0, capped: Boolean(capped) };
  const label = countLabel(unread.count, unread.capped);
  const badge = $('#unread-count');
  badge.textContent = label;
  badge.classList.toggle('count-zero', unread.count === 0);
  document.title = unread.count > 0 ? `(${label}) Hookbox` : 'Hookbox';
}

function setHealth(healthy) {
  $('#conn-status').hidden = healthy;
  if (healthy) showFatal('');
  // The poll that answered is the retry promised when the Unread list failed to load.
  if (healthy && inboxFailed) refreshInbox();
}

// ---- Unread tab -------------------------------------------------------------------------

function card(item) {
  const outcome = outcomeOf(item);
  return h(
    'li',
    { className: `card card-${outcome}` },
    h('div', { className: 'card-title' }, statusPill(item), h('span', { className: 'card-event', text: text(item.event) })),
    h(
      'div',
      { className: 'card-meta muted' },
      h('span', { className: 'card-workflow', text: text(item.workflow_name) }),
      ' · job ',
      h('span', { className: 'mono card-job', text: text(item.callback_id) }),
      ' · ',
      trackAge(h('span'), item.received_at),
    ),
    item.error_message ? h('p', { className: 'card-error', text: item.error_message }) : null,
    h('div', { className: 'card-actions' }, h('button', {
      className: 'btn btn-small card-view', attrs: { type: 'button', 'data-focus-list': 'inbox' }, text: 'View details',
      on: { click: () => openDetail(item.id) },
    })),
  );
}

async function refreshInbox() {
  // Loads can overlap (a viewed callback and a new one at once): only the latest is shown.
  const generation = ++inboxGeneration;
  try {
    const result = await api.check(undefined, 100);
    if (generation !== inboxGeneration) return;
    inboxFailed = false;
    const items = (Array.isArray(result.items) ? result.items : []).slice().reverse();
    // Loaded behind another tab, the list has not been seen: *Mark all read* there must not
    // cover a callback that arrived since the last poll and is only in this hidden list.
    inboxItems = items;
    if (!$('#view-inbox').hidden) noteShown(items);
    setCount(result.unviewed_count, result.unviewed_count_capped);
    replace($('#inbox-list'), items.map(card));
    $('#inbox-mark-all').hidden = items.length === 0;
    const summary = items.length === 0
      ? 'Nothing unread.'
      : `${plural(unread.count, 'unread callback', 'unread callbacks')}${unread.capped ? ' or more' : ''}, newest first.`;
    $('#inbox-summary').textContent = summary;
    const empty = $('#inbox-empty');
    empty.hidden = items.length > 0;
    if (items.length === 0) {
      const any = await api.history({}, undefined, 1);
      if (generation !== inboxGeneration) return;
      replace(empty, ...(any.items?.length
        ? [h('p', { className: 'empty-title', text: 'All caught up' }), h('p', { className: 'muted', text: 'New callbacks show up here and as notifications.' })]
        : noCallbacksYet()));
    }
  } catch (error) {
    if (generation !== inboxGeneration) return;
    inboxFailed = true;
    reportError(error);
  }
}

/** Keeps the newest of `items` that this page has put in front of the user. */
function noteShown(items) {
  for (const item of items) {
    if (!Number.isSafeInteger(item?.id) || typeof item.cursor !== 'string') continue;
    if (!newestShown || item.id > newestShown.id) newestShown = { id: item.id, cursor: item.cursor };
  }
}

async function markAllRead() {
  // Up to the newest callback shown, not the newest stored: one that arrived since the last
  // poll or load has been neither toasted nor listed, and must not be marked read unseen.
  const cursor = newestShown?.cursor;
  try {
    if (cursor) await api.markAllViewed(cursor);
  } catch (error) {
    reportError(error, { retried: false });
    return;
  }
  markAllRowsViewed();
  await refreshInbox();
}

// ---- Tabs and URL -----------------------------------------------------------------------

function currentTab() {
  const tab = new URLSearchParams(window.location.search).get('tab');
  return TABS.includes(tab) ? tab : 'inbox';
}

function writeUrl(tab, filters, push) {
  const params = new URLSearchParams();
  if (tab !== 'inbox') params.set('tab', tab);
  if (tab === 'history') for (const [key, value] of Object.entries(filters)) params.set(key, value);
  const url = params.toString() ? `/?${params}` : '/';
  if (url === `${window.location.pathname}${window.location.search}`) return;
  if (push) window.history.pushState(null, '', url);
  else window.history.replaceState(null, '', url);
}

async function showTab(tab) {
  for (const name of TABS) {
    const selected = name === tab;
    const button = $(`#tab-${name}`);
    button.setAttribute('aria-selected', String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(`#view-${name}`).hidden = !selected;
  }
  if (tab === 'inbox') noteShown(inboxItems);
  if (tab === 'history') {
    await loadFacets();
    await loadHistory(filtersFromUrl());
  } else if (tab === 'rejected') {
    await loadRejected();
  }
}

/** The tab an arrow, Home or End key moves to from `name` (wrapping), or null for other keys. */
function tabAfterKey(name, key) {
  const index = TABS.indexOf(name);
  if (key === 'ArrowRight') return TABS[(index + 1) % TABS.length];
  if (key === 'ArrowLeft') return TABS[(index - 1 + TABS.length) % TABS.length];
  if (key === 'Home') return TABS[0];
  if (key === 'End') return TABS[TABS.length - 1];
  return null;
}

function initTabs() {
  for (const name of TABS) {
    const button = $(`#tab-${name}`);
    button.addEventListener('click', () => {
      writeUrl(name, name === 'history' ? filtersFromUrl() : {}, true);
      showTab(name);
    });
    button.addEventListener('keydown', (event) => {
      const other = tabAfterKey(name, event.key);
      if (!other) return;
      event.preventDefault();
      $(`#tab-${other}`).focus();
      $(`#tab-${other}`).click();
    });
  }
  window.addEventListener('popstate', () => showTab(currentTab()));
}

async function boot() {
  initPanel();
  let me;
  try {
    me = await api.me();
  } catch (error) {
    if (error?.status !== 401) showFatal(`Cannot reach the server (${error?.code ?? 'error'}). Reload to try again.`);
    return;
  }
  booted = true;
  $('#current-user').textContent = String(me?.username ?? '');
  $('#logout').addEventListener('click', async () => {
    poller?.stop();
    try {
      await api.logout();
    } finally {
      window.location.assign('/login?reason=signed_out');
    }
  });
  if (!me?.is_admin) {
    showFatal('This account is not an administrator, so it cannot see callbacks.');
    document.body.dataset.state = 'ready';
    return;
  }
  let intervalMs = DEFAULT_POLL_MS;
  try {
    const config = await api.config();
    if (Number.isFinite(config?.poll_interval_ms) && config.poll_interval_ms >= 100) intervalMs = config.poll_interval_ms;
    if (Number.isFinite(config?.request_timeout_ms) && config.request_timeout_ms >= 1000) setRequestTimeout(config.request_timeout_ms);
  } catch {
    // The default interval is fine.
  }
  configureDetail({ onViewed: (id) => { markRowViewed(id); refreshInbox(); } });
  initHistory({
    onFiltersChanged: (filters) => writeUrl('history', filters, false),
    onRowsShown: noteShown,
    onError: reportError,
  });
  initRejected();
  initTabs();
  $('#inbox-mark-all').addEventListener('click', markAllRead);
  $('#history-mark-all').addEventListener('click', markAllRead);
  const showUnread = () => { writeUrl('inbox', {}, true); showTab('inbox'); };
  poller = new Poller({
    user: String(me.username),
    intervalMs,
    onNew: (items) => {
      announce(items, { onView: (item) => openDetail(item.id), onShowAll: showUnread });
      noteShown(items);
      refreshInbox();
    },
    onCount: setCount,
    onHealth: setHealth,
    onCursorMoved: refreshInbox,
  });
  await Promise.all([refreshInbox(), showTab(currentTab())]);
  poller.start();
  setInterval(refreshAges, 15000);
  document.body.dataset.state = 'ready';
}

boot();
