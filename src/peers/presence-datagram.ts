import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The liveness datagrams units exchange over UDP (src/peers/presence-prober.ts), authenticated
 * with the site secret.
 *
 * A datagram is 32 bytes of HMAC-SHA256(site secret, TAG + "\n" + body) followed by the body, a
 * JSON object. Every kind names its sender and its receiver (`from`, `to`) and carries a nonce:
 *   ping      `from` asks `to` whether it is alive (stamped `ts` on the receiver's clock, as far as known)
 *   ping-req  `from` asks `to` to ping `target` for it (SWIM's indirect probe), stamped likewise
 *   ack       `from` answers the ping or ping-req with nonce `nonce`; for a ping-req, `about` is the
 *             unit that answered the helper
 * Pings and ping-reqs are accepted once, inside the freshness window (as signed HTTP requests are);
 * an ack counts only for a nonce its receiver has outstanding for exactly that unit, so an old ack
 * replayed, or one unit's ack passed off as another's, proves nothing. Every datagram carries the
 * sender's `ver`: the version of its info, so a missed push is noticed at the next probe. Pings
 * and acks may carry `view`: a digest of the units the sender sees online, so two units whose
 * views of the site differ for long notice it (see PresenceService) and compare them.
 */
const TAG = 'intercom-presence-v1';
const MAC_BYTES = 32;
/** Larger datagrams are dropped unread: real ones are a few hundred bytes. */
export const MAX_DATAGRAM_BYTES = 1200;

const UNIT_ID = /^[A-Za-z0-9-]{1,64}$/;
const NONCE = /^[A-Za-z0-9_-]{8,64}$/;
const VERSION = /^[0-9]{1,16}\.[0-9]{1,16}$/;
const HOST = /^[A-Za-z0-9.:%_-]{1,255}$/;
const VIEW = /^[0-9a-f]{16}$/;

export interface PingDatagram {
  kind: 'ping';
  from: string;
  to: string;
  nonce: string;
  ts: number;
  ver: string;
  /** Digest of the units the sender sees online (viewDigest). */
  view?: string;
}

export interface PingRequestDatagram {
  kind: 'ping-req';
  from: string;
  to: string;
  nonce: string;
  ts: number;
  ver: string;
  target: { unitId: string; host: string; port: number };
}

export interface AckDatagram {
  kind: 'ack';
  from: string;
  to: string;
  nonce: string;
  ver: string;
  /** Digest of the units the sender sees online (on the answer to a direct ping). */
  view?: string;
  /** On the answer to a ping-req: the unit that answered the helper's ping, and its version. */
  about?: { unitId: string; ver: string };
}

export type PresenceDatagram = PingDatagram | PingRequestDatagram | AckDatagram;

function mac(secret: string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(TAG).update('\n').update(body).digest();
}

export function encodeDatagram(secret: string, datagram: PresenceDatagram): Buffer {
  const body = Buffer.from(JSON.stringify(datagram), 'utf8');
  return Buffer.concat([mac(secret, body), body]);
}

/** The datagram, or why it is refused (not signed with this secret, or not well-formed). */
export function decodeDatagram(secret: string, bytes: Buffer): { ok: true; datagram: PresenceDatagram } | { ok: false; reason: 'malformed' | 'bad-signature' } {
  if (bytes.length <= MAC_BYTES || bytes.length > MAX_DATAGRAM_BYTES) return { ok: false, reason: 'malformed' };
  const given = bytes.subarray(0, MAC_BYTES);
  const body = bytes.subarray(MAC_BYTES);
  // The MAC first: a stranger learns nothing from how its datagram is refused.
  if (!timingSafeEqual(given, mac(secret, body))) return { ok: false, reason: 'bad-signature' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const datagram = wellFormed(parsed);
  return datagram ? { ok: true, datagram } : { ok: false, reason: 'malformed' };
}

function isString(value: unknown, pattern: RegExp): value is string {
  return typeof value === 'string' && pattern.test(value);
}

function wellFormed(value: unknown): PresenceDatagram | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (!isString(v.from, UNIT_ID) || !isString(v.to, UNIT_ID) || !isString(v.nonce, NONCE) || !isString(v.ver, VERSION)) return null;
  const base = { from: v.from, to: v.to, nonce: v.nonce, ver: v.ver };
  const stamped = typeof v.ts === 'number' && Number.isSafeInteger(v.ts) && v.ts >= 0;
  // A view that is not a digest is left out (a newer unit's, say): the datagram still counts.
  const view = isString(v.view, VIEW) ? { view: v.view } : {};
  if (v.kind === 'ping') return stamped ? { kind: 'ping', ...base, ts: v.ts as number, ...view } : null;
  if (v.kind === 'ping-req') {
    const target = v.target as Record<string, unknown> | undefined;
    if (!stamped || typeof target !== 'object' || target === null) return null;
    if (!isString(target.unitId, UNIT_ID) || !isString(target.host, HOST) || !Number.isInteger(target.port) || (target.port as number) < 1 || (target.port as number) > 65535) return null;
    return { kind: 'ping-req', ...base, ts: v.ts as number, target: { unitId: target.unitId, host: target.host, port: target.port as number } };
  }
  if (v.kind === 'ack') {
    if (v.about === undefined) return { kind: 'ack', ...base, ...view };
    const about = v.about as Record<string, unknown>;
    if (typeof about !== 'object' || about === null || !isString(about.unitId, UNIT_ID) || !isString(about.ver, VERSION)) return null;
    return { kind: 'ack', ...base, about: { unitId: about.unitId, ver: about.ver } };
  }
  return null;
}

/**
 * The digest of a view of the site: the units a unit sees online, itself included, in any order.
 * Two units that see the same units online have the same digest.
 */
export function viewDigest(onlineUnitIds: Iterable<string>): string {
  return createHash('sha256').update([...new Set(onlineUnitIds)].sort().join('\n')).digest('hex').slice(0, 16);
}

/** Versions are "epoch.counter" (epoch: when the unit started); a later one is newer. */
export function compareVersions(a: string, b: string): number {
  const [ae, ac] = a.split('.').map(Number);
  const [be, bc] = b.split('.').map(Number);
  return ae - be || ac - bc;
}
