import { signPeerRequest } from '../../src/security/peer-auth.js';
import { SENDER_HEADER } from '../../src/peers/peer-protocol.js';
import { TEST_SITE_SECRET } from './test-site.js';

/** The unit id a test's hand-made unit-to-unit requests come from (a unit of the test site that is not running). */
export const TEST_PEER_UNIT_ID = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

/**
 * The headers a unit of the test site sends with a unit-to-unit request: its id, and the request
 * signed with the site secret, as src/peers/peer-client.ts sends them. For tests that drive the
 * /api/unit routes by hand; `secret` and `at` make a stranger's or a late request.
 */
export function peerRequestHeaders(
  request: { method: 'GET' | 'POST'; url: string; body?: string },
  options: { secret?: string; at?: number; unitId?: string } = {},
): Record<string, string> {
  const unitId = options.unitId ?? TEST_PEER_UNIT_ID;
  const body = request.body ?? '';
  const at = options.at ?? Date.now();
  return {
    [SENDER_HEADER]: unitId,
    ...(body ? { 'content-type': 'application/json' } : {}),
    ...signPeerRequest({ method: request.method, path: request.url, body }, { secret: options.secret ?? TEST_SITE_SECRET, unitId, wallClock: () => at }),
  };
}
