// The admin and auth API, spoken with the session cookie. Errors become ApiError with the
// server's stable code; a lost session sends the page back to the login screen.

export class ApiError extends Error {
  constructor(status, code, retryAfter, detail = null) {
    super(`${status} ${code}`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.detail = detail;
  }
}

let onUnauthenticated = () => {};

/** Called once by the app: what to do when the session is gone (expired, logged out elsewhere). */
export function setUnauthenticatedHandler(handler) {
  onUnauthenticated = handler;
}

// How long a request waits for its answer before it fails with the code `timeout`: past the
// server's own deadlines the connection is dead. The config endpoint says how long that is
// (`request_timeout_ms`, 69 s with the server's defaults); until it has answered, a little more.
let requestTimeoutMs = 75_000;

/** Called by the app with the config endpoint's `request_timeout_ms`. */
export function setRequestTimeout(ms) {
  requestTimeoutMs = ms;
}

/** A request not answered within `timeoutMs` (default: the one above) fails with `timeout`. */
export async function request(method, path, body, timeoutMs = requestTimeoutMs) {
  const init = {
    method,
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { accept: 'application/json' },
  };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  init.signal = AbortSignal.timeout(timeoutMs);
  const timedOut = () => new ApiError(0, 'timeout', null);
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw init.signal.aborted ? timedOut() : new ApiError(0, 'network_error', null);
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    if (init.signal.aborted) throw timedOut();
    json = null;
  }
  if (!response.ok) {
    const code = typeof json?.error === 'string' ? json.error : `http_${response.status}`;
    const retryAfter = Number.parseInt(response.headers.get('retry-after') ?? '', 10);
    const detail = typeof json?.detail === 'string' ? json.detail : null;
    const error = new ApiError(response.status, code, Number.isFinite(retryAfter) ? retryAfter : null, detail);
    if (response.status === 401 && !path.startsWith('/api/auth/login')) onUnauthenticated(error);
    throw error;
  }
  return json;
}

/** "?a=1&b=2" from an object, skipping empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

const CALLBACKS = '/api/admin/llm-callbacks';

export const api = {
  me: () => request('GET', '/api/auth/me'),
  login: (username, password) => request('POST', '/api/auth/login', { username, password }),
  logout: () => request('POST', '/api/auth/logout'),
  config: () => request('GET', '/api/dashboard/config'),
  check: (after, limit, timeoutMs) =>
    request('GET', `${CALLBACKS}/check${query({ after, limit })}`, undefined, timeoutMs),
  history: (filters, before, limit) =>
    request('GET', `${CALLBACKS}${query({ ...filters, before, limit })}`),
  detail: (id) => request('GET', `${CALLBACKS}/${encodeURIComponent(id)}`),
  markViewed: (id) => request('POST', `${CALLBACKS}/${encodeURIComponent(id)}/view`),
  markAllViewed: (upTo) => request('POST', `${CALLBACKS}/view-all`, { up_to: upTo }),
  facets: () => request('GET', `${CALLBACKS}/facets`),
  job: (jobId) => request('GET', `/api/admin/jobs/${encodeURIComponent(jobId)}`),
  rejections: (before, limit) => request('GET', `/api/admin/rejections${query({ before, limit })}`),
};

/** The URL of the raw bytes of callback `id`, only for a plain integer id. */
export function rawUrl(id) {
  return Number.isSafeInteger(id) ? `${CALLBACKS}/${id}?raw=1` : null;
}
