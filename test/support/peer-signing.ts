import { signPeerRequest } from '../../src/security/peer-auth.js';
import { TEST_SITE_SECRET } from './test-site.js';

/** The unit id a test's hand-made unit-to-unit requests come from (a unit of the test site that is not running). */
export const TEST_PEER_UNIT_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

/** What app.inject() sends as Host, which the signature covers. */
export const INJECT_AUTHORITY = 'localhost:80';

/**
 * The headers a unit of the test site sends with a unit-to-unit request to the unit `receiver`:
 * the request signed with the site secret over both unit ids, Host, method, path, time, nonce and
 * body, as src/peers/peer-client.ts sends it. For tests that drive the /api/unit routes by hand
 * (through inject() unless `authority` says otherwise); `secret` and `at` make a stranger's or a
 * late request.
 */
export function peerRequestHeaders(
  receiver: string,
  request: { method: 'GET' | 'POST'; url: string; body?: string },
  options: { secret?: string; at?: number; unitId?: string; authority?: string } = {},
): Record<string, string> {
  const body = request.body ?? '';
  const at = options.at ?? Date.now();
  return {
    ...(body ? { 'content-type': 'application/json' } : {}),
    ...signPeerRequest(
      { method: request.method, authority: options.authority ?? INJECT_AUTHORITY, path: request.url, body, receiver },
      { secret: options.secret ?? TEST_SITE_SECRET, unitId: options.unitId ?? TEST_PEER_UNIT_ID, wallClock: () => at },
    ),
  };
}
