import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/**
 * The two building blocks the unit's key exchanges share (a call's SRTP keys in
 * call-key-exchange.ts, a rotated site secret in secret-rotation.ts): a one-use ephemeral X25519
 * key pair whose agreement is stretched with HKDF-SHA256, and AES-256-GCM sealing of a short text
 * as base64url of IV, ciphertext and tag. Each user names its own salt, transcript and labels.
 */

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** An X25519 public value as it travels: 32 bytes, base64url. */
export const KEY_SHARE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** One side's ephemeral X25519 key pair; the private half is used once, then dropped. */
export class EphemeralKeyShare {
  private privateKey: KeyObject | null;
  /** The public value, base64url (what travels in the signed requests). */
  readonly publicValue: string;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    this.privateKey = privateKey;
    this.publicValue = publicKey.export({ format: 'jwk' }).x!;
  }

  /**
   * `length` bytes of key material from the other side's public value: HKDF-SHA256 over the X25519
   * shared secret with `salt` and `info`. Throws on a value that is malformed, this side's own (a
   * reflection) or yields no secret (a low-order point), and when called twice. `other` names the
   * other side in those messages ("the peer", "the other unit").
   */
  derive(remotePublicValue: string, salt: Buffer, info: string, length: number, other: string): Buffer {
    const privateKey = this.privateKey;
    if (!privateKey) throw new Error('this key share has been used already');
    this.privateKey = null;
    if (!KEY_SHARE_PATTERN.test(remotePublicValue)) throw new Error(`${other}'s key share is not an X25519 public value`);
    if (remotePublicValue === this.publicValue) throw new Error(`${other}'s key share is this unit's own (reflected)`);
    let shared: Buffer;
    try {
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: remotePublicValue }, format: 'jwk' });
      shared = diffieHellman({ privateKey, publicKey });
    } catch (error) {
      throw new Error(`${other}'s key share is unusable (${(error as Error).message})`);
    }
    const material = Buffer.from(hkdfSync('sha256', shared, salt, Buffer.from(info, 'utf8'), length));
    shared.fill(0);
    return material;
  }
}

/** `plaintext` sealed with AES-256-GCM under `key`, `associatedData` bound: base64url of IV, ciphertext and tag. */
export function sealText(key: Buffer, plaintext: string, associatedData: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url');
}

/** Opens what sealText sealed; throws `tooShort` or `wrongKey` (the caller's words) when it cannot. */
export function openText(key: Buffer, sealed: string, associatedData: string, messages: { tooShort: string; wrongKey: string }): string {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES + 1) throw new Error(messages.tooShort);
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(messages.wrongKey);
  }
}
