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

/**
 * Where a login will plug in: the API answers 401 once units need one (the security issue);
 * until then this never fires.
 */
export function whenLoginRequired(handler) {
  onLoginRequired = handler;
}

export async function request(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
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
  if (response.status === 401) onLoginRequired(data?.message);
  if (!response.ok) {
    throw new ApiError(response.status, data?.error ?? `http-${response.status}`, data?.message ?? `The unit answered ${response.status}.`, data);
  }
  return data;
}

export const api = {
  status: () => request('GET', '/api/status'),
  users: () => request('GET', '/api/users'),
  peers: () => request('GET', '/api/peers'),
  calls: () => request('GET', '/api/calls'),
  register: (name) => request('POST', '/api/users/register', { name }),
  initiate: (from, to) => request('POST', '/api/signal/initiate', { from, to }),
  accept: (callId) => request('POST', '/api/signal/accept', { callId }),
  end: (callId) => request('POST', '/api/signal/end', { callId }),
  openDoor: () => request('POST', '/api/door/open'),
};
