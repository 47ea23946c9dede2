// Polling the check endpoint. The cursor lives in localStorage per user, so every tab of the
// same user continues from where any of them got to (no endless double toasts), and a reload
// does not toast old callbacks again.

import { api } from './api.js';

const MAX_BACKOFF_MS = 60000;
// A check unanswered after three intervals (at least this long) counts as a failed poll: a
// connection that died without a word (a laptop that slept, a network that dropped it) would
// otherwise hold the poller, and its "reconnecting" state, for as long as the browser waits.
const MIN_CHECK_TIMEOUT_MS = 5000;
const PAGE_LIMIT = 100;
const MAX_PAGES_PER_POLL = 20; // catching up after a long absence: the rest comes next poll

export class Poller {
  /**
   * @param {object} options
   * @param {string} options.user    whose cursor this is
   * @param {number} options.intervalMs
   * @param {(items: object[]) => void} options.onNew       new unseen callbacks, oldest first
   * @param {(count: number, capped: boolean) => void} options.onCount
   * @param {(healthy: boolean) => void} options.onHealth
   * @param {() => void} options.onCursorMoved  another tab advanced the shared cursor
   */
  constructor(options) {
    this.options = options;
    this.key = `hookbox.cursor.${options.user}`;
    this.timer = null;
    this.running = false;
    this.failures = 0;
    this.stopped = false;
  }

  start() {
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) this.cancel();
      else this.tick(); // catch up at once on return
    });
    window.addEventListener('storage', (event) => {
      if (event.key === this.key) this.options.onCursorMoved();
    });
    this.tick();
  }

  stop() {
    this.stopped = true;
    this.cancel();
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  schedule(delayMs) {
    this.cancel();
    if (this.stopped || document.hidden) return; // resumed by visibilitychange
    this.timer = setTimeout(() => this.tick(), delayMs);
  }

  /** Polls now (unless a poll is running), then schedules the next one. */
  async tick() {
    if (this.running || this.stopped) return;
    this.running = true;
    this.cancel();
    try {
      await this.poll();
      this.failures = 0;
      this.options.onHealth(true);
      this.schedule(this.options.intervalMs);
    } catch (error) {
      if (error?.status === 401) {
        this.stop(); // the app sends the page to the login screen
        return;
      }
      this.failures += 1;
      this.options.onHealth(false);
      this.schedule(this.backoff(error));
    } finally {
      this.running = false;
    }
  }

  checkTimeoutMs() {
    return Math.max(3 * this.options.intervalMs, MIN_CHECK_TIMEOUT_MS);
  }

  backoff(error) {
    const exponential = this.options.intervalMs * 2 ** Math.min(this.failures, 6);
    const serverSays = error?.retryAfter ? error.retryAfter * 1000 : 0;
    const base = Math.min(Math.max(exponential, serverSays), MAX_BACKOFF_MS);
    return Math.round(base * (0.8 + Math.random() * 0.4)); // tabs do not retry in lockstep
  }

  async poll() {
    let cursor = localStorage.getItem(this.key);
    if (!cursor) {
      // A fresh start: begin at the head, without toasting the history.
      const first = await api.check(undefined, 1, this.checkTimeoutMs());
      localStorage.setItem(this.key, first.next_cursor);
      this.options.onCount(first.unviewed_count, first.unviewed_count_capped);
      return;
    }
    const fresh = [];
    try {
      for (let page = 0; page < MAX_PAGES_PER_POLL; page += 1) {
        let result;
        try {
          result = await api.check(cursor, PAGE_LIMIT, this.checkTimeoutMs());
        } catch (error) {
          if (error?.code === 'invalid_cursor') {
            localStorage.removeItem(this.key); // e.g. a cursor from another server: start over
            return this.poll();
          }
          throw error;
        }
        fresh.push(...result.items);
        cursor = result.next_cursor;
        localStorage.setItem(this.key, cursor);
        this.options.onCount(result.unviewed_count, result.unviewed_count_capped);
        if (!result.has_more) break;
      }
    } finally {
      // The cursor already stands past every page fetched: a later page that fails must not
      // take the earlier pages' callbacks with it.
      if (fresh.length) this.options.onNew(fresh);
    }
  }
}
