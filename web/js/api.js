/**
 * The unit's HTTP API as the panel uses it: JSON in, JSON out, errors as ApiError with the
 * API's own reason code (busy, name-taken, ...) and message.
 */

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

let onLoginRequired = () => {};
/** The session's CSRF token: sent with every state-changing request (the cookie alone is not enough). */
let csrfToken = null;

/** Called when the API answers 401: the session ended (expired, logged out elsewhere, new password). */
export function whenLoginRequired(handler) {
  onLoginRequired = handler;
}

export function setCsrfToken(token) {
  csrfToken = token ?? null;
}

export async function request(method, path, body) {
  let response;
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'The unit does not answer (network or service down).');
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  // A wrong password is the login form's own business; any other 401 means the session is gone.
  if (response.status === 401 && path !== '/api/session') onLoginRequired(data?.message);
  if (!response.ok) {
    throw new ApiError(response.status, data?.error ?? `http-${response.status}`, data?.message ?? `The unit answered ${response.status}.`, data);
  }
  return data;
}

export const api = {
  health: () => request('GET', '/api/health'),
  session: () => request('GET', '/api/session'),
  login: (password) => request('POST', '/api/session', { password }),
  logout: () => request('DELETE', '/api/session'),
  status: () => request('GET', '/api/status'),
  users: () => request('GET', '/api/users'),
  peers: () => request('GET', '/api/peers'),
  calls: () => request('GET', '/api/calls'),
  register: (name) => request('POST', '/api/users/register', { name }),
  initiate: (from, to) => request('POST', '/api/signal/initiate', { from, to }),
  accept: (callId) => request('POST', '/api/signal/accept', { callId }),
  end: (callId) => request('POST', '/api/signal/end', { callId }),
  openDoor: () => request('POST', '/api/door/open'),
  /** Opens the door of the other unit of the active call (the door station's). */
  openPeerDoor: (callId) => request('POST', `/api/calls/${encodeURIComponent(callId)}/open-door`),
  doNotDisturb: () => request('GET', '/api/do-not-disturb'),
  setDoNotDisturb: (enabled) => request('PUT', '/api/do-not-disturb', { enabled }),
  levels: () => request('GET', '/api/audio/levels'),
  setLevels: (change) => request('PUT', '/api/audio/levels', change),
  /** Runs the acoustic self-test (about 7 s) and answers its report. */
  runSelfTest: () => request('POST', '/api/selftest'),
};
