import { loginWithFetch, type SessionHeaders } from '../../support/people-session.js';

/**
 * A person's session with a unit's HTTP API, as the web panel has it: logged in once with the panel
 * password, then the session cookie with every request and the CSRF token with state-changing ones.
 *
 * A unit built before people's login existed answers GET /api/session with 404; then the session
 * is `open` (no login) and requests go out without cookie or token.
 */
export class PanelSession {
  private constructor(
    readonly baseUrl: string,
    /** 'login': logged in with the password; 'open': the unit has no login to do. */
    readonly mode: 'login' | 'open',
    private readonly headers: SessionHeaders | null,
  ) {}

  static async open(baseUrl: string, password: string | null): Promise<PanelSession> {
    const state = await fetch(`${baseUrl}/api/session`);
    if (state.status === 404) return new PanelSession(baseUrl, 'open', null);
    if (state.status !== 200) throw new Error(`GET /api/session answered ${state.status}: ${await state.text()}`);
    if (password === null) throw new Error('the unit has people login, and no panel password was given');
    return new PanelSession(baseUrl, 'login', await loginWithFetch(baseUrl, password));
  }

  /** One JSON request; the answer's status and parsed body. */
  async request<T = any>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.headers) {
      headers.cookie = this.headers.cookie;
      if (method !== 'GET') headers['x-csrf-token'] = this.headers['x-csrf-token'];
    }
    const send = () => fetch(`${this.baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let response: Response;
    for (let attempt = 1; ; attempt += 1) {
      try {
        response = await send();
        break;
      } catch (error) {
        // An emulated guest is slow: a kept-alive connection it closes as the next request goes
        // out fails that request ("fetch failed"). A GET changes nothing, so it is sent again.
        if (method !== 'GET' || attempt >= 3 || !(error instanceof TypeError)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as T) : (undefined as T) };
  }
}
