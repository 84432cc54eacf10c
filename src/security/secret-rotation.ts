import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { EphemeralKeyShare, KEY_SHARE_PATTERN, openText, sealText } from './ephemeral-exchange.js';

/**
 * Handing a site's new secret to the units that stay when a unit is removed.
 *
 * The requests that carry it are signed with the site's old secret, which the removed unit also
 * holds: so the new secret must never travel in a form that secret opens. Each handover is an
 * ephemeral X25519 exchange (the pattern of call-key-exchange.ts): the rotating unit sends a fresh
 * public value in a signed request, the receiving unit answers with its own fresh public value
 * (signed); HKDF-SHA256 over the X25519 shared secret, salted with a key derived from the old site
 * secret and bound to the transcript (rotation id, both unit ids, both public values), gives a
 * sealing key and a confirmation key. The new secret travels sealed with AES-256-GCM (the transcript
 * as associated data); the receiver proves it opened it with an HMAC under the confirmation key.
 *
 * A recording of every byte plus the old secret gives the public values and the ciphertext; the
 * private values never leave the two units' memory and are dropped after one use, so the new
 * secret stays out of reach. What an active attacker holding the old secret can still do is in
 * docs/SECURITY.md (it can stand in the middle of a handover it intercepts: no unit has a long-term
 * key of its own that would tell it apart).
 */

const INFO_TAG = 'pi-intercom site secret rotation v1';
const SALT_LABEL = 'pi-intercom site secret rotation salt v1';
const KEY_BYTES = 32;
export const ROTATION_KEY_SHARE_PATTERN = KEY_SHARE_PATTERN;
export const ROTATION_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/** What both sides bind the derived keys to. */
export interface RotationTranscript {
  rotationId: string;
  /** The unit that rotates (makes the new secret). */
  rotatorUnitId: string;
  /** The unit it hands the new secret to. */
  receiverUnitId: string;
  rotatorKeyShare: string;
  receiverKeyShare: string;
}

function transcriptText(transcript: RotationTranscript): string {
  return [INFO_TAG, transcript.rotationId, transcript.rotatorUnitId, transcript.receiverUnitId, transcript.rotatorKeyShare, transcript.receiverKeyShare].join('\n');
}

export function newRotationId(): string {
  return randomBytes(16).toString('base64url');
}

/** The keys of one handover: sealing the new secret, and the receiver's proof that it opened it. */
export class RotationKeys {
  constructor(
    private readonly sealingKey: Buffer,
    private readonly confirmKey: Buffer,
    private readonly associatedData: string,
  ) {}

  /** The new secret sealed: base64url of IV, ciphertext and tag. */
  seal(secret: string): string {
    return sealText(this.sealingKey, secret, this.associatedData);
  }

  /** Opens the sealed secret; throws when it was not sealed under this handover's key. */
  open(sealed: string): string {
    return openText(this.sealingKey, sealed, this.associatedData, {
      tooShort: 'the sealed secret is too short',
      wrongKey: 'the sealed secret does not open under this handover\'s key (tampered, or from another exchange)',
    });
  }

  /** The receiver's proof that it holds `secret` (what it opened), bound to this handover. */
  confirmation(secret: string): string {
    return createHmac('sha256', this.confirmKey).update(`${this.associatedData}\nconfirm\n${secret}`, 'utf8').digest('base64url');
  }

  confirms(secret: string, given: string): boolean {
    const expected = Buffer.from(this.confirmation(secret), 'utf8');
    const actual = Buffer.from(given, 'utf8');
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
}

/** One side's ephemeral key pair for one handover; the private half is used once, then dropped. */
export class RotationKeyShare {
  private readonly share = new EphemeralKeyShare();
  readonly publicValue = this.share.publicValue;

  /**
   * The handover's keys from the other side's public value and the old site secret (which only
   * salts: the keys rest on the X25519 secret). Throws on a malformed, reflected or low-order value,
   * and when called twice.
   */
  agree(remotePublicValue: string, oldSiteSecret: string, transcript: RotationTranscript): RotationKeys {
    const salt = createHmac('sha256', oldSiteSecret).update(SALT_LABEL, 'utf8').digest();
    const info = transcriptText(transcript);
    const material = this.share.derive(remotePublicValue, salt, info, 2 * KEY_BYTES, 'the other unit');
    return new RotationKeys(material.subarray(0, KEY_BYTES), material.subarray(KEY_BYTES), info);
  }
}
