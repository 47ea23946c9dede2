// Every callback of one job, in the order the sender says they happened, with a warning when
// the job reported both success and failure.

import { api } from './api.js';
import { append, h } from './dom.js';
import { dateTime, OUTCOME_WORD, plural } from './format.js';
import { openDetail, errorBox } from './detail.js';
import { showView } from './panel.js';
import { statusPill, text } from './widgets.js';

function step(item) {
  return h(
    'li',
    { className: 'timeline-step' },
    h('span', { className: 'timeline-dot', attrs: { 'aria-hidden': 'true' } }),
    h(
      'div',
      { className: 'timeline-body' },
      h('div', { className: 'timeline-title' }, statusPill(item), h('span', { className: 'timeline-event', text: text(item.event) })),
      h('div', { className: 'muted small' }, `${dateTime(item.sent_at ?? item.received_at)}`, item.sent_at ? ' (sender’s time)' : ' (received)'),
      item.error_message ? h('p', { className: 'timeline-error', text: item.error_message }) : null,
      h('button', {
        className: 'btn btn-link timeline-open', attrs: { type: 'button' }, text: 'Open this callback',
        on: { click: () => openDetail(item.id, { replaceAll: false }) },
      }),
    ),
  );
}

export function openTimeline(jobId, { replaceAll = true } = {}) {
  return showView('Job timeline', async (root) => {
    let job;
    try {
      job = await api.job(jobId);
    } catch (error) {
      root.append(errorBox(error, { what: 'this job’s timeline', gone: 'No callback of this job is stored any more.' }));
      return;
    }
    const callbacks = Array.isArray(job.callbacks) ? job.callbacks : [];
    append(root, [
      h(
        'div',
        { className: 'detail-head' },
        h('div', { className: 'detail-title' }, statusPill({ outcome: job.outcome, status: OUTCOME_WORD[job.outcome] ?? null }), h('span', { className: 'detail-event timeline-job', text: text(job.job_id) })),
        h('div', { className: 'muted', text: plural(callbacks.length, 'callback', 'callbacks') }),
      ),
      job.truncated
        ? h('p', { className: 'muted timeline-truncated', text: `Only the newest ${callbacks.length.toLocaleString()} callbacks of this job are shown; older ones are left out.` })
        : null,
      job.conflict
        ? h('p', { className: 'banner banner-warning timeline-conflict', attrs: { role: 'alert' }, text: '⚠ Conflicting outcomes: this job reported both success and failure.' })
        : null,
      h('ol', { className: 'timeline' }, callbacks.map(step)),
    ]);
  }, { replaceAll });
}
