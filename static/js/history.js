// The history tab: newest first, unread rows marked, filters from the facets endpoint, text
// search, "load more" by cursor. The filters live in the URL so a view can be shared.

import { api } from './api.js';
import { $, h, replace } from './dom.js';
import { age, dateTime } from './format.js';
import { openDetail } from './detail.js';
import { openTimeline } from './timeline.js';
import { loadErrorBox, noCallbacksYet, statusPill, text, whyNotLoaded } from './widgets.js';

export const FILTERS = ['q', 'status', 'workflow_name', 'event', 'source'];
const FACET_FOR = { status: 'statuses', workflow_name: 'workflow_names', event: 'events', source: 'sources' };
const PAGE = 50;

let nextCursor = null;
let loading = 0; // a newer load supersedes an older one
const rowsById = new Map();
let hooks = { onFiltersChanged: () => {}, onRowsShown: () => {}, onError: () => {} };

export function filtersFromUrl(search = window.location.search) {
  const params = new URLSearchParams(search);
  const filters = {};
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) filters[name] = value;
  }
  return filters;
}

function filtersFromForm() {
  const form = $('#filters');
  const filters = {};
  for (const name of FILTERS) {
    const value = form.elements.namedItem(name).value.trim();
    if (value) filters[name] = value;
  }
  return filters;
}

function fillSelect(select, values, current) {
  const first = select.options[0];
  const options = [first];
  const all = [...new Set([...(Array.isArray(values) ? values : []), ...(current ? [current] : [])])];
  for (const value of all) {
    if (typeof value !== 'string') continue;
    const option = document.createElement('option');
    option.value = value;
    option.textContent = value;
    options.push(option);
  }
  select.replaceChildren(...options);
  select.value = current ?? '';
}

/** Fills the menus from the facets endpoint and sets the form to the URL's filters. */
export async function loadFacets() {
  let facets = {};
  try {
    facets = await api.facets();
  } catch (error) {
    hooks.onError(error);
  }
  // Read once the menus have arrived: the search box is usable meanwhile, and what was typed
  // there is in the URL by now (or still being typed, and left as it is).
  const filters = filtersFromUrl();
  const form = $('#filters');
  for (const [name, key] of Object.entries(FACET_FOR)) {
    fillSelect(form.elements.namedItem(name), facets[key], filters[name]);
  }
  const q = form.elements.namedItem('q');
  if (document.activeElement !== q) q.value = filters.q ?? '';
  return facets;
}

function row(item) {
  const unread = !item.viewed;
  const open = () => openDetail(item.id);
  const tr = h(
    'tr',
    { className: unread ? 'row-unread' : '' },
    h('td', { className: 'col-unread' }, unread ? h('span', { className: 'unread-dot', attrs: { title: 'Unread' } }, h('span', { className: 'visually-hidden', text: 'Unread' })) : null),
    h('td', { className: 'nowrap', attrs: { title: dateTime(item.received_at) }, text: age(item.received_at) }),
    h('td', {}, statusPill(item)),
    h('td', {}, h('button', { className: 'btn btn-link row-open', attrs: { type: 'button', 'data-focus-list': 'history' }, text: text(item.event), on: { click: open } })),
    h('td', { className: 'cell-workflow', text: text(item.workflow_name) }),
    h('td', {}, h('button', { className: 'btn btn-link mono row-job', attrs: { type: 'button', title: 'Job timeline' }, text: text(item.callback_id), on: { click: () => openTimeline(item.callback_id) } })),
    h('td', { className: 'col-error cell-error', text: item.error_message ?? '' }),
  );
  tr.addEventListener('click', (event) => {
    if (!event.target.closest('button')) open();
  });
  rowsById.set(item.id, tr);
  return tr;
}

function showEmpty(filters) {
  const empty = $('#history-empty');
  const filtered = Object.keys(filters).length > 0;
  replace(empty, ...(filtered
    ? [h('p', { className: 'empty-title', text: 'Nothing matches these filters' }), h('p', { className: 'muted', text: 'Clear a filter or search for something else.' })]
    : noCallbacksYet()));
  empty.hidden = false;
}

/** Says in the view, until the next load, that a page did not load; offers to try again. */
function showLoadError(error, filters, more) {
  const why = filters.q
    ? whyNotLoaded(error, 'this search', 'A text search reads every callback it cannot rule out; a status, workflow or event filter narrows it.')
    : whyNotLoaded(error, 'this page');
  const box = $('#history-empty');
  replace(box, loadErrorBox(why, () => loadHistory(filters, { more })));
  box.hidden = false;
}

/** Loads the first page for `filters` (or the next page when `more`). */
export async function loadHistory(filters, { more = false } = {}) {
  const mine = ++loading;
  const tbody = $('#history-rows');
  const button = $('#load-more');
  button.disabled = true;
  $('#history-table').setAttribute('aria-busy', 'true');
  if ($('#history-empty').querySelector('.load-error')) $('#history-empty').hidden = true;
  try {
    const page = await api.history(filters, more ? nextCursor : undefined, PAGE);
    if (mine !== loading) return;
    if (!more) {
      rowsById.clear();
      replace(tbody);
    }
    const items = Array.isArray(page.items) ? page.items : [];
    tbody.append(...items.map(row));
    hooks.onRowsShown(items);
    nextCursor = page.has_more ? page.next_cursor : null;
    button.hidden = !nextCursor;
    const shown = tbody.children.length;
    $('#history-summary').textContent = `${shown} ${shown === 1 ? 'callback' : 'callbacks'} shown, newest first${nextCursor ? ' — more below' : ''}.`;
    $('#history-table').hidden = shown === 0;
    if (shown === 0) showEmpty(filters);
    else $('#history-empty').hidden = true;
  } catch (error) {
    if (mine !== loading) return;
    if (error?.status === 401 || error?.status === 403) {
      hooks.onError(error);
      return;
    }
    if (!more) {
      // Rows of the previous filters must not pass for the answer to these.
      rowsById.clear();
      replace(tbody);
      nextCursor = null;
      button.hidden = true;
      $('#history-table').hidden = true;
      $('#history-summary').textContent = 'Not loaded.';
    }
    showLoadError(error, filters, more);
  } finally {
    if (mine === loading) {
      button.disabled = false;
      $('#history-table').removeAttribute('aria-busy');
    }
  }
}

/** A callback was viewed: its row is no longer unread. */
export function markRowViewed(id) {
  const tr = rowsById.get(id);
  if (!tr) return;
  tr.classList.remove('row-unread');
  replace(tr.querySelector('.col-unread'));
}

export function markAllRowsViewed() {
  for (const id of rowsById.keys()) markRowViewed(id);
}

export function initHistory(newHooks) {
  hooks = { ...hooks, ...newHooks };
  const form = $('#filters');
  let debounce = null;
  const changed = () => {
    const filters = filtersFromForm();
    hooks.onFiltersChanged(filters);
    loadHistory(filters);
  };
  form.addEventListener('change', (event) => {
    if (event.target.name !== 'q') changed();
  });
  form.addEventListener('input', (event) => {
    if (event.target.name !== 'q') return;
    clearTimeout(debounce);
    debounce = setTimeout(changed, 300);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(debounce);
    changed();
  });
  form.addEventListener('reset', () => setTimeout(changed, 0));
  $('#load-more').addEventListener('click', () => loadHistory(filtersFromForm(), { more: true }));
}
