import { createCipheriv, createDecipheriv, createHmac, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Keying of a call's audio, with forward secrecy.
 *
 * Each side makes a fresh X25519 key pair for the call and sends its public value inside the
 * signed signaling (the caller's in the offer, the callee's in the accept request), so both public
 * values are authenticated with the site secret and bound to the call id and both unit ids by the
 * request signatures. From the X25519 shared secret, HKDF-SHA256 derives one sealing key per
 * direction; its input binds the call id, both unit ids and both public values (the transcript)
 * and, as salt, a key derived from the site secret. Each side's SRTP master key and salt (fresh
 * random per call, made by the media engine) then travels sealed with AES-256-GCM under the key of
 * its direction, the transcript as associated data.
 *
 * Someone who records every byte of a call has the public values and the sealed keys; without one
 * of the two private keys, which never leave the unit's memory and are dropped as soon as the
 * sealing keys are derived, the shared secret cannot be computed. Learning the site secret later
 * does not help: it only authenticated the exchange.
 */

export type CallKeyDirection = 'caller-to-callee' | 'callee-to-caller';

/** What both sides bind the derived keys to. */
export interface CallKeyTranscript {
  callId: string;
  callerUnitId: string;
  calleeUnitId: string;
  callerKeyShare: string;
  calleeKeyShare: string;
}

const INFO_TAG = 'pi-intercom call keys v2';
const SALT_LABEL = 'pi-intercom call key salt v2';
const SEALING_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_SHARE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

function transcriptText(transcript: CallKeyTranscript): string {
  return [INFO_TAG, transcript.callId, transcript.callerUnitId, transcript.calleeUnitId, transcript.callerKeyShare, transcript.calleeKeyShare].join('\n');
}

/** The two directions' sealing keys of one call. */
export class CallSealingKeys {
  constructor(
    private readonly keys: Record<CallKeyDirection, Buffer>,
    private readonly associatedData: string,
  ) {}

  /** Seals `plaintext` (a side's SRTP key parameters) for `direction`: base64url of IV, ciphertext and tag. */
  seal(direction: CallKeyDirection, plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys[direction], iv);
    cipher.setAAD(Buffer.from(`${this.associatedData}\n${direction}`, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url');
  }

  /** Opens what the other side sealed for `direction`; throws when it was not sealed under this call's key (tampered, or another call's). */
  open(direction: CallKeyDirection, sealed: string): string {
    const bytes = Buffer.from(sealed, 'base64url');
    if (bytes.length < IV_BYTES + TAG_BYTES + 1) throw new Error('sealed call keys are too short');
    const decipher = createDecipheriv('aes-256-gcm', this.keys[direction], bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(`${this.associatedData}\n${direction}`, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('the sealed call keys do not open under this call\'s key exchange (tampered, or from another call)');
    }
  }
}

/** One side's ephemeral key pair for one call. The private half is used once, then dropped. */
export class CallKeyShare {
  private privateKey: KeyObject | null;
  /** The public value, base64url (what travels in the signaling). */
  readonly publicValue: string;

  constructor(private readonly salt: Buffer) {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    this.privateKey = privateKey;
    this.publicValue = publicKey.export({ format: 'jwk' }).x!;
  }

  /**
   * The sealing keys of the call, from the other side's public value. Throws on a public value that
   * is malformed, our own (a reflected offer), or yields no secret (a low-order point); and when
   * called twice, since the private key is forgotten after the first use.
   */
  agree(remotePublicValue: string, transcript: CallKeyTranscript): CallSealingKeys {
    const privateKey = this.privateKey;
    if (!privateKey) throw new Error('this key share has been used already');
    this.privateKey = null;
    if (!KEY_SHARE_PATTERN.test(remotePublicValue)) throw new Error('the peer\'s key share is not an X25519 public value');
    if (remotePublicValue === this.publicValue) throw new Error('the peer\'s key share is this unit\'s own (reflected)');
    let shared: Buffer;
    try {
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: remotePublicValue }, format: 'jwk' });
      shared = diffieHellman({ privateKey, publicKey });
    } catch (error) {
      throw new Error(`the peer's key share is unusable (${(error as Error).message})`);
    }
    const info = transcriptText(transcript);
    const material = Buffer.from(hkdfSync('sha256', shared, this.salt, Buffer.from(info, 'utf8'), 2 * SEALING_KEY_BYTES));
    shared.fill(0);
    return new CallSealingKeys(
      { 'caller-to-callee': material.subarray(0, SEALING_KEY_BYTES), 'callee-to-caller': material.subarray(SEALING_KEY_BYTES) },
      info,
    );
  }
}

/** Makes the key shares of a site's calls: the site secret salts the derivation. */
export class CallKeyExchange {
  private salt: Buffer;

  constructor(siteSecret: string) {
    this.salt = createHmac('sha256', siteSecret).update(SALT_LABEL, 'utf8').digest();
  }

  /** The site secret changed: calls from now on are salted with the new one. */
  setSiteSecret(siteSecret: string): void {
    this.salt = createHmac('sha256', siteSecret).update(SALT_LABEL, 'utf8').digest();
  }

  newShare(): CallKeyShare {
    return new CallKeyShare(this.salt);
  }
}
