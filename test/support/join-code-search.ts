import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { lvCat, transcriptInitiatorResponder } from '../../src/security/cpace.js';
import { joinKeys, openSiteSecret } from '../../src/security/site-join-exchange.js';

/**
 * An offline attacker's search over every 6-digit code against a recorded join exchange. Without
 * either unit's ephemeral scalar the CPace Diffie-Hellman value K cannot be computed, so the best a
 * recording offers is everything the session key depends on except K: the sid, both shares, both
 * identities, and the guessed code in K's place. For each code the search derives the keys the
 * join exchange would derive from that and tries them on the sealed secret. Against a protocol
 * whose key came from the code and the transcript alone (the usual hand-made mistake) this search
 * finds the code; the tests show it does, on such a recording made on purpose.
 */

export interface RecordedJoin {
  start: { sid: string; share: string; unitId: string; name: string; httpPort: number };
  answer: { unitId: string; name: string; share: string; sealed: string };
  confirm: { sid: string; confirm: string };
}

const CONFIRM_INFO = Buffer.from('pi-intercom join: confirmation, joiner to inviter', 'utf8');

/**
 * HKDF-SHA-512 (RFC 5869) for one 32-byte key, written out as its two HMACs: the same value as
 * joinKeys() derives (the tests check), at half the calls, so 10^6 guesses fit in the test's time.
 */
export function confirmKeyOf(isk: Uint8Array, sid: Uint8Array): Buffer {
  const prk = createHmac('sha512', sid).update(isk).digest();
  return createHmac('sha512', prk).update(CONFIRM_INFO).update(Uint8Array.of(1)).digest().subarray(0, 32);
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const unb64 = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'base64url'));
const DSI_ISK = utf8('CPaceRistretto255_ISK');

export function recordedTranscript(recording: RecordedJoin): Uint8Array {
  const adA = lvCat(utf8('joiner'), utf8(recording.start.unitId), utf8(recording.start.name), utf8(String(recording.start.httpPort)));
  const adB = lvCat(utf8('inviter'), utf8(recording.answer.unitId), utf8(recording.answer.name));
  return transcriptInitiatorResponder(unb64(recording.start.share), adA, unb64(recording.answer.share), adB);
}

/** The key material a guess gives when the code stands where K would be. */
export function guessedIsk(sid: Uint8Array, transcript: Uint8Array, code: string): Uint8Array {
  return Uint8Array.from(createHash('sha512').update(lvCat(DSI_ISK, sid, utf8(code))).update(transcript).digest());
}

/**
 * Tries codes `from`..`to`-1. A guess is tested against the recorded confirmation (an HMAC under
 * the guessed confirmation key: a cheap exact test), and a guess that passes is tried on the sealed
 * secret. Returns the guesses that open it, with what they opened.
 */
export function searchCodes(recording: RecordedJoin, from = 0, to = 1_000_000): Array<{ code: string; secret: string }> {
  const sid = unb64(recording.start.sid);
  const transcript = recordedTranscript(recording);
  const prefix = lvCat(DSI_ISK, sid);
  const recordedConfirm = Buffer.from(recording.confirm.confirm, 'base64url');
  const found: Array<{ code: string; secret: string }> = [];
  for (let n = from; n < to; n++) {
    const code = String(n).padStart(6, '0');
    // lv_cat(DSI_ISK, sid, code): the code's length byte (6) before its digits.
    const isk = createHash('sha512').update(prefix).update(CODE_LENGTH).update(code, 'latin1').update(transcript).digest();
    const tag = createHmac('sha256', confirmKeyOf(isk, sid)).update(sid).digest();
    if (tag.length !== recordedConfirm.length || !timingSafeEqual(tag, recordedConfirm)) continue;
    const secret = openSiteSecret(joinKeys(isk, sid).seal, sid, recording.answer.sealed);
    if (secret !== null) found.push({ code, secret });
  }
  return found;
}

const CODE_LENGTH = Uint8Array.of(6);
