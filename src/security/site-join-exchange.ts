import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { cpaceFinish, cpaceStart, lvCat, type CpaceParty } from './cpace.js';

/**
 * Joining a site by a one-time code: the messages and keys of the exchange, pure (no I/O).
 *
 * The new unit (initiator, "joiner") and a unit of the site (responder, "inviter") both know a
 * 6-digit code shown on the inviter. They run CPace (cpace.ts) on it:
 *
 *   joiner  -> inviter   start:   sid, Ya, the joiner's id, name and HTTP port (ADa)
 *   inviter -> joiner    answer:  Yb, the inviter's id and name (ADb), the site secret sealed
 *                                 (AES-256-GCM) under a key derived from CPace's ISK
 *   joiner  -> inviter   confirm: HMAC under a second key derived from the ISK
 *
 * Only a joiner that used the inviter's code derives the same ISK, so only it opens the sealed
 * secret, and only its confirmation verifies (then the inviter spends the code). A recording of
 * all three messages gives an offline guesser nothing to test a code against: every key depends
 * on the Diffie-Hellman value of the two ephemeral scalars, which never leave the units.
 * Each start is one online guess; the inviter allows 3 per code (site-invitations.ts).
 */

export const JOIN_CODE_DIGITS = 6;
/** The channel identifier: this protocol and its version (both sides' identities are in the ADs). */
const JOIN_CI = new TextEncoder().encode('pi-intercom site join v1');
const SEAL_INFO = 'pi-intercom join: site secret, inviter to joiner';
const CONFIRM_INFO = 'pi-intercom join: confirmation, joiner to inviter';
const SID_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export const JOIN_CODE_PATTERN = '^[0-9]{6}$';

/** A fresh code: 6 uniformly random digits. */
export function newJoinCode(): string {
  return String(randomInt(0, 10 ** JOIN_CODE_DIGITS)).padStart(JOIN_CODE_DIGITS, '0');
}

export interface JoinIdentity {
  unitId: string;
  name: string;
}

/** What the joiner tells about itself; bound into the exchange as its associated data. */
export interface JoinerIdentity extends JoinIdentity {
  /** The HTTP port the joiner answers on, so the inviter can find it (its address is where the request came from). */
  httpPort: number;
}

export interface JoinStart extends JoinerIdentity {
  sid: string;
  share: string;
}

export interface JoinAnswer extends JoinIdentity {
  share: string;
  /** The site secret, sealed: base64url of IV || ciphertext || tag. */
  sealed: string;
}

export interface JoinConfirm {
  sid: string;
  confirm: string;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const unb64 = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'base64url'));
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function joinerAd(joiner: JoinerIdentity): Uint8Array {
  return lvCat(utf8('joiner'), utf8(joiner.unitId), utf8(joiner.name), utf8(String(joiner.httpPort)));
}

function inviterAd(inviter: JoinIdentity): Uint8Array {
  return lvCat(utf8('inviter'), utf8(inviter.unitId), utf8(inviter.name));
}

/** The two keys of one run, derived from the ISK (HKDF-SHA-512, salted with the sid). */
export interface JoinKeys {
  seal: Buffer;
  confirm: Buffer;
}

export function joinKeys(isk: Uint8Array, sid: Uint8Array): JoinKeys {
  const derive = (info: string) => Buffer.from(hkdfSync('sha512', isk, sid, Buffer.from(info, 'utf8'), 32));
  return { seal: derive(SEAL_INFO), confirm: derive(CONFIRM_INFO) };
}

export function sealSiteSecret(key: Buffer, sid: Uint8Array, secret: string, iv: Buffer = randomBytes(IV_BYTES)): string {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(sid);
  const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return b64(Buffer.concat([iv, data, cipher.getAuthTag()]));
}

/** The sealed secret, or null when `key` does not open it (a wrong code, or a tampered answer). */
export function openSiteSecret(key: Buffer, sid: Uint8Array, sealed: string): string | null {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES + 1) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(sid);
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

function confirmTag(key: Buffer, sid: Uint8Array): string {
  return createHmac('sha256', key).update(sid).digest('base64url');
}

/** The joiner's side of one run. */
export class JoinerExchange {
  private readonly party: CpaceParty;
  readonly start: JoinStart;

  constructor(code: string, private readonly joiner: JoinerIdentity) {
    const sid = randomBytes(SID_BYTES);
    this.party = cpaceStart({ prs: utf8(code), ci: JOIN_CI, sid });
    this.start = { ...joiner, sid: b64(sid), share: b64(this.party.share) };
  }

  /** The site secret and the confirmation to send, or null when the inviter's code was another (or the answer is not one). */
  finish(answer: JoinAnswer): { secret: string; confirm: JoinConfirm } | null {
    const isk = cpaceFinish(this.party, 'initiator', { ya: this.party.share, adA: joinerAd(this.joiner), yb: unb64(answer.share), adB: inviterAd(answer) });
    if (isk === null) return null;
    const keys = joinKeys(isk, this.party.sid);
    const secret = openSiteSecret(keys.seal, this.party.sid, answer.sealed);
    if (secret === null) return null;
    return { secret, confirm: { sid: this.start.sid, confirm: confirmTag(keys.confirm, this.party.sid) } };
  }
}

/** The inviter's side of one run: answers a start, later checks the confirmation. */
export class InviterExchange {
  readonly answer: JoinAnswer;
  private readonly confirmKey: Buffer;
  private readonly sid: Uint8Array;

  private constructor(answer: JoinAnswer, confirmKey: Buffer, sid: Uint8Array) {
    this.answer = answer;
    this.confirmKey = confirmKey;
    this.sid = sid;
  }

  /** The answer to `start` under `code`, or null when the start's share is not a usable group element. */
  static answer(code: string, start: JoinStart, inviter: JoinIdentity, siteSecret: string): InviterExchange | null {
    const sid = unb64(start.sid);
    const party = cpaceStart({ prs: utf8(code), ci: JOIN_CI, sid });
    const isk = cpaceFinish(party, 'responder', { ya: unb64(start.share), adA: joinerAd(start), yb: party.share, adB: inviterAd(inviter) });
    if (isk === null) return null;
    const keys = joinKeys(isk, sid);
    const answer: JoinAnswer = { unitId: inviter.unitId, name: inviter.name, share: b64(party.share), sealed: sealSiteSecret(keys.seal, sid, siteSecret) };
    return new InviterExchange(answer, keys.confirm, sid);
  }

  /** Whether the joiner proved it used the same code. */
  confirms(confirm: JoinConfirm): boolean {
    const expected = Buffer.from(confirmTag(this.confirmKey, this.sid), 'base64url');
    const given = Buffer.from(confirm.confirm, 'base64url');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
