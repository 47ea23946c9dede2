// Turning API values into words. Pure functions, no DOM.

const FAILURE_STATUSES = new Set([
  'failed', 'failure', 'error', 'errored', 'cancelled', 'canceled', 'timeout', 'timed_out',
  'expired',
]);
const SUCCESS_STATUSES = new Set(['completed', 'complete', 'succeeded', 'success', 'ok', 'done']);

/** 'success' | 'failure' | 'info': the server's verdict, or the same rule applied here. */
export function outcomeOf(item) {
  if (['success', 'failure', 'info'].includes(item?.outcome)) return item.outcome;
  const status = String(item?.status ?? '').toLowerCase();
  const event = String(item?.event ?? '').toLowerCase();
  if (FAILURE_STATUSES.has(status) || /\.(failed|error|cancelled|expired)$/.test(event)) {
    return 'failure';
  }
  if (SUCCESS_STATUSES.has(status) || /\.(completed|succeeded)$/.test(event)) return 'success';
  return 'info';
}

export const OUTCOME_ICON = { success: '✓', failure: '✕', info: 'ℹ' };
export const OUTCOME_WORD = { success: 'Succeeded', failure: 'Failed', info: 'Update' };

export function parseTime(value) {
  if (typeof value !== 'string') return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t);
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function age(value, now = Date.now()) {
  const t = parseTime(value);
  if (!t) return '—';
  const seconds = Math.max(0, Math.round((now - t.getTime()) / 1000));
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** Local date and time with seconds, e.g. "2026-11-23 11:00:00". */
export function dateTime(value) {
  const t = parseTime(value);
  if (!t) return '—';
  const pad = (n) => String(n).padStart(2, '0');
  return (
    `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ` +
    `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`
  );
}

export function bytes(n) {
  if (!Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/**
 * What a refused request weighed: the size it declared (Content-Length) and what Hookbox read
 * of it, e.g. "5.00 MiB declared · not read". A body refused before reading has no read size.
 */
export function rejectionSize(contentLength, bodyBytes) {
  const declared = Number.isFinite(contentLength) ? `${bytes(contentLength)} declared` : 'no Content-Length';
  const read = Number.isFinite(bodyBytes) ? `${bytes(bodyBytes)} read` : 'not read';
  return `${declared} · ${read}`;
}

/** The cause part of an explanation ("signature did not match …"), without the advice after " — ". */
export function headline(explanation) {
  const words = String(explanation ?? '');
  const cut = words.indexOf(' — ');
  return cut > 0 ? words.slice(0, cut) : words;
}

/** The unread count as shown: "100+" when the server capped it. */
export function countLabel(count, capped) {
  const n = Number.isFinite(count) ? count : 0;
  return capped ? `${n}+` : String(n);
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
