import type { UnitProcess } from '../support/unit-process.js';

/**
 * How long one request may take before the call it belongs to counts as failed: what a unit
 * starved by a busy machine may need (see the deadlines in load-run.ts).
 */
const REQUEST_TIMEOUT_MS = 45_000;

/**
 * Every HTTP request the load run makes to a unit goes through here: the launcher's authenticated
 * fetch (logged in with the unit's panel password, session cookie and CSRF token), JSON in and out,
 * with a timeout so that a unit that stops answering fails its call instead of hanging the run.
 */
export async function unitRequest<T = any>(unit: UnitProcess, method: 'GET' | 'POST', urlPath: `/${string}`, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await unit.api(urlPath, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as T) : (undefined as T) };
}
