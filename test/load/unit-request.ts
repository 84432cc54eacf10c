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
  const send = () =>
    unit.api(urlPath, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  let response: Response;
  try {
    response = await send();
  } catch (error) {
    // A kept-alive connection the unit closed just as it was reused fails before the request was
    // read (undici says only "fetch failed"): a reading may be asked again; a unit that is gone
    // fails again, and its cause is in the message.
    const cause = describeCause(error);
    if (method !== 'GET' || !/other side closed|ECONNRESET|socket/i.test(cause)) throw new Error(`${method} ${urlPath} on ${unit.name}: ${cause}${unitAccount(unit)}`, { cause: error });
    try {
      response = await send();
    } catch (again) {
      throw new Error(`${method} ${urlPath} on ${unit.name}: ${cause}, then ${describeCause(again)}${unitAccount(unit)}`, { cause: again });
    }
  }
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as T) : (undefined as T) };
}

function describeCause(error: unknown): string {
  const { message, cause } = error as { message?: string; cause?: { code?: string; message?: string } };
  return [message, cause?.code, cause?.message].filter(Boolean).join(': ');
}

/** What the unit itself said about connections it closed or refused, and whether it still runs. */
function unitAccount(unit: UnitProcess): string {
  const connectionLines = unit.logs.filter((line) => /connection|socket|client/i.test(String(line.msg ?? '')) && (line.level ?? 0) >= 40);
  const running = unit.child.exitCode === null && unit.child.signalCode === null;
  const lines = connectionLines.slice(-3).map((line) => JSON.stringify(line)).join('; ');
  return ` (unit ${running ? 'running' : `exited ${unit.child.exitCode ?? unit.child.signalCode}`}; ${connectionLines.length} warnings about connections${lines ? `, the last: ${lines}` : ''})`;
}
