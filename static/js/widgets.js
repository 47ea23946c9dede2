// Small pieces shared by the views. All text goes through textContent (see dom.js).

import { h } from './dom.js';
import { age, OUTCOME_ICON, OUTCOME_WORD, outcomeOf } from './format.js';

/** Status shown by colour AND icon AND words, e.g. "✕ failed". */
export function statusPill(item) {
  const outcome = outcomeOf(item);
  const word = typeof item?.status === 'string' && item.status ? item.status : OUTCOME_WORD[outcome];
  return h(
    'span',
    { className: `pill pill-${outcome}`, attrs: { title: OUTCOME_WORD[outcome] } },
    h('span', { className: 'pill-icon', attrs: { 'aria-hidden': 'true' }, text: OUTCOME_ICON[outcome] }),
    h('span', { className: 'pill-text', text: word }),
  );
}

/** Verified / not verified, with scheme, secret label and time. */
export function signatureBadge(signature, formatTime) {
  const verified = signature?.verdict === 'verified';
  const parts = [
    h('span', { className: 'pill-icon', attrs: { 'aria-hidden': 'true' }, text: verified ? '✓' : '!' }),
    h('span', { className: 'pill-text', text: verified ? 'Signature verified' : `Signature: ${signature?.verdict ?? 'unknown'}` }),
  ];
  const details = [];
  if (signature?.scheme) details.push(String(signature.scheme));
  if (signature?.secret_label) details.push(`secret “${signature.secret_label}”`);
  if (signature?.verified_at) details.push(formatTime(signature.verified_at));
  return h(
    'div',
    { className: 'signature' },
    h('span', { className: `pill ${verified ? 'pill-success' : 'pill-failure'}` }, parts),
    details.length ? h('span', { className: 'signature-details muted', text: details.join(' · ') }) : null,
  );
}

/** The "no callbacks yet" state, with the command that makes one. */
export function noCallbacksYet() {
  return [
    h('p', { className: 'empty-title', text: 'No callbacks yet' }),
    h(
      'p',
      { className: 'muted' },
      'Send a signed sample to see one arrive: run ',
      h('code', { text: 'hookbox send-test' }),
      '.',
    ),
  ];
}

export function text(value) {
  return value === null || value === undefined || value === '' ? '—' : String(value);
}

const ageLabels = new Set();

/** Shows "… ago" for `time` in `el` and keeps it current (see refreshAges). */
export function trackAge(el, time) {
  el.textContent = age(time);
  ageLabels.add({ el, time });
  return el;
}

export function refreshAges() {
  for (const entry of ageLabels) {
    if (!entry.el.isConnected) ageLabels.delete(entry);
    else entry.el.textContent = age(entry.time);
  }
}

/**
 * Why a load failed, in words, and what may help: `[title, hint]`. `what` names what was
 * loading ("this search"); `busyHint` is the advice when the database took too long.
 */
export function whyNotLoaded(error, what, busyHint = 'The database may be busy; try again in a moment.') {
  switch (error?.code) {
    case 'database_timeout':
      return [`Loading ${what} took too long: ${error.detail ?? 'the database did not answer in time'}.`, busyHint];
    case 'timeout':
      return ['The server did not answer in time.', 'The connection to it may be down; try again in a moment.'];
    case 'storage_unavailable':
      return ['The database cannot be reached right now.', 'Try again in a moment.'];
    case 'network_error':
      return ['The server cannot be reached.', 'Check the connection, then try again.'];
    default:
      return [`Loading ${what} failed (${error?.code ?? 'error'}).`, 'Try again in a moment.'];
  }
}

/** Says that a load failed, why, and offers to try again (`retry`). */
export function loadErrorBox([title, hint], retry) {
  return h(
    'div',
    { className: 'load-error', attrs: { role: 'alert' } },
    h('p', { className: 'empty-title', text: title }),
    h('p', { className: 'muted', text: hint }),
    h('button', { className: 'btn', attrs: { type: 'button' }, text: 'Try again', on: { click: retry } }),
  );
}
