// The sign-in page: posts the form to /api/auth/login and goes to the dashboard.

import { api, ApiError } from './api.js';
import { $ } from './dom.js';

const MESSAGES = {
  expired: 'Your session has expired. Please sign in again.',
  signed_out: 'You are signed out.',
};

/**
 * Only a path on this site may be returned to. Judged by the browser's own URL parser, which
 * drops tabs and line breaks and reads a backslash as a slash: "/\t/host" is "//host" to it.
 */
function safeNext(raw) {
  if (typeof raw !== 'string' || !raw.startsWith('/')) return '/';
  let url;
  try {
    url = new URL(raw, window.location.origin);
  } catch {
    return '/';
  }
  return url.origin === window.location.origin ? `${url.pathname}${url.search}${url.hash}` : '/';
}

function showError(text) {
  const el = $('#login-error');
  el.textContent = text;
  el.hidden = !text;
}

async function submit(event) {
  event.preventDefault();
  const username = $('#username').value.trim();
  const password = $('#password').value;
  if (!username || !password) {
    showError('Enter your username and password.');
    return;
  }
  const button = $('#login-submit');
  button.disabled = true;
  showError('');
  try {
    await api.login(username, password);
    window.location.assign(safeNext(new URLSearchParams(window.location.search).get('next')));
  } catch (error) {
    if (error instanceof ApiError && error.code === 'invalid_credentials') {
      showError('Wrong username or password.');
    } else if (error instanceof ApiError && error.status === 429) {
      const wait = error.retryAfter ? ` Try again in ${error.retryAfter} s.` : ' Try again later.';
      showError(`Too many attempts.${wait}`);
    } else if (error instanceof ApiError && error.status === 0) {
      showError('Cannot reach the server. Check your connection.');
    } else {
      showError('Sign-in failed on the server. Try again.');
    }
    $('#password').select();
  } finally {
    button.disabled = false;
  }
}

async function init() {
  const reason = new URLSearchParams(window.location.search).get('reason');
  const message = $('#login-message');
  if (reason && Object.hasOwn(MESSAGES, reason)) {
    message.textContent = MESSAGES[reason];
    message.hidden = false;
  }
  $('#login-form').addEventListener('submit', submit);
  $('#username').focus();
  // Already signed in (a bookmarked /login, or signed in again in another tab): go straight on,
  // to the page `next` names if any.
  try {
    await api.me();
    window.location.replace(safeNext(new URLSearchParams(window.location.search).get('next')));
  } catch {
    // Not signed in: stay here.
  }
}

init();
