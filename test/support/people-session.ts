import type { IntercomApp } from '../../src/signaling/app.js';
import { CSRF_HEADER, SESSION_COOKIE } from '../../src/security/people-access.js';

/**
 * Logging in to a unit the way a browser does (POST /api/session, keep the cookie, send the CSRF
 * token back), for tests that use the API of an in-process app (inject) or a real unit (fetch).
 */

/** The panel password test units get unless a test says otherwise. */
export const TEST_PANEL_PASSWORD = 'test-panel-password';

/** What an authenticated request carries (a type, not an interface, so it passes as a header record). */
export type SessionHeaders = {
  cookie: string;
  'x-csrf-token': string;
};

/** The session cookie from Set-Cookie header(s), as a Cookie request header; null when there is none. */
export function sessionCookieFrom(setCookie: string | string[] | null | undefined): string | null {
  for (const header of [setCookie ?? []].flat()) {
    const match = new RegExp(`(?:^|,\\s*)${SESSION_COOKIE}=([^;]*)`).exec(header);
    if (match && match[1] !== '') return `${SESSION_COOKIE}=${match[1]}`;
  }
  return null;
}

function sessionFrom(status: number, setCookie: string | string[] | null | undefined, body: string): SessionHeaders {
  const cookie = sessionCookieFrom(setCookie);
  if (status !== 200 || !cookie) throw new Error(`login failed: ${status} ${body}`);
  return { cookie, [CSRF_HEADER]: (JSON.parse(body) as { csrfToken: string }).csrfToken } as SessionHeaders;
}

/** Logs in to a unit listening at `baseUrl`. */
export async function loginWithFetch(baseUrl: string, password = TEST_PANEL_PASSWORD): Promise<SessionHeaders> {
  const response = await fetch(`${baseUrl}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ password }),
  });
  return sessionFrom(response.status, response.headers.getSetCookie(), await response.text());
}

/** Logs in to an app through inject() (no socket). */
export async function loginWithInject(app: IntercomApp, password = TEST_PANEL_PASSWORD): Promise<SessionHeaders> {
  const response = await app.inject({ method: 'POST', url: '/api/session', payload: { password } });
  return sessionFrom(response.statusCode, response.headers['set-cookie'], response.body);
}
