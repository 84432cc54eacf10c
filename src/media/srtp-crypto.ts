import { createCipheriv, createHmac } from 'node:crypto';

/**
 * The cryptographic transforms of the AES_CM_128_HMAC_SHA1_80 SRTP suite (RFC 3711 sections 4.1.1,
 * 4.2.1 and 4.3), without any packet or stream state. Everything here is a pure function of its
 * inputs, so it can be checked against the RFC's Appendix B vectors directly.
 */

export const SRTP_MASTER_KEY_BYTES = 16;
export const SRTP_MASTER_SALT_BYTES = 14;
export const SRTP_SESSION_AUTH_KEY_BYTES = 20;
/** HMAC-SHA1 truncated to 80 bits (the "_80" of the suite name). */
export const SRTP_AUTH_TAG_BYTES = 10;

const AES_BLOCK_BYTES = 16;

/** Key derivation labels for SRTP (RFC 3711 section 4.3.2); SRTCP's 0x03-0x05 are unused here. */
export const SRTP_LABEL = { encryption: 0x00, authentication: 0x01, salt: 0x02 } as const;

export interface SrtpSessionKeys {
  encryptionKey: Buffer;
  authenticationKey: Buffer;
  salt: Buffer;
}

/**
 * AES in counter mode as RFC 3711 4.1.1 defines it: block j of the keystream is AES(key, IV + j).
 * The low 16 bits of every SRTP IV are zero and a packet is far shorter than 2^16 blocks, so the
 * full-width counter of OpenSSL's AES-CTR produces exactly the same blocks.
 */
export function aesCmKeystream(key: Uint8Array, iv: Uint8Array, length: number): Buffer {
  return aesCmXor(key, iv, Buffer.alloc(length));
}

/** Encrypts (or, being its own inverse, decrypts) `data` with the AES-CM keystream from `iv`. */
export function aesCmXor(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/**
 * The SRTP key derivation function (RFC 3711 4.3.1 and 4.3.3) with key derivation rate 0, so
 * (index DIV kdr) is zero: x = (label << 48) XOR master salt, and the output is the AES-CM
 * keystream under the master key from IV x * 2^16.
 */
export function deriveSrtpKey(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer {
  const iv = Buffer.alloc(AES_BLOCK_BYTES);
  iv.set(masterSalt, 0);
  // The 56-bit key_id (label || 48-bit r) is aligned to the salt's low end: the label is octet 7.
  iv[SRTP_MASTER_SALT_BYTES - 7] ^= label;
  return aesCmKeystream(masterKey, iv, length);
}

/** The three SRTP session keys for one master key and salt (RFC 3711 4.3.2 labels 0, 1 and 2). */
export function deriveSrtpSessionKeys(masterKey: Uint8Array, masterSalt: Uint8Array): SrtpSessionKeys {
  if (masterKey.byteLength !== SRTP_MASTER_KEY_BYTES) {
    throw new RangeError(`SRTP master key must be ${SRTP_MASTER_KEY_BYTES} bytes, got ${masterKey.byteLength}`);
  }
  if (masterSalt.byteLength !== SRTP_MASTER_SALT_BYTES) {
    throw new RangeError(`SRTP master salt must be ${SRTP_MASTER_SALT_BYTES} bytes, got ${masterSalt.byteLength}`);
  }
  return {
    encryptionKey: deriveSrtpKey(masterKey, masterSalt, SRTP_LABEL.encryption, SRTP_MASTER_KEY_BYTES),
    authenticationKey: deriveSrtpKey(masterKey, masterSalt, SRTP_LABEL.authentication, SRTP_SESSION_AUTH_KEY_BYTES),
    salt: deriveSrtpKey(masterKey, masterSalt, SRTP_LABEL.salt, SRTP_MASTER_SALT_BYTES),
  };
}

/**
 * The per-packet IV (RFC 3711 4.1.1): (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), with i the
 * 48-bit packet index. The index stays below 2^48, well inside a double's exact integer range.
 */
export function srtpPacketIv(sessionSalt: Uint8Array, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(AES_BLOCK_BYTES);
  iv.set(sessionSalt, 0);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  // The 48-bit index occupies octets 8-13: its top 16 bits, then its low 32 bits.
  const indexHigh = Math.floor(index / 2 ** 32);
  const indexLow = index >>> 0;
  iv.writeUInt16BE((iv.readUInt16BE(8) ^ indexHigh) & 0xffff, 8);
  iv.writeUInt32BE((iv.readUInt32BE(10) ^ indexLow) >>> 0, 10);
  return iv;
}

/**
 * The authentication tag (RFC 3711 4.2.1): HMAC-SHA1 over the authenticated portion (header and
 * encrypted payload) followed by the 32-bit rollover counter, truncated to its first 80 bits.
 */
export function srtpAuthTag(authenticationKey: Uint8Array, authenticatedPortion: Uint8Array, rolloverCounter: number): Buffer {
  const roc = Buffer.alloc(4);
  roc.writeUInt32BE(rolloverCounter >>> 0, 0);
  return createHmac('sha1', authenticationKey).update(authenticatedPortion).update(roc).digest().subarray(0, SRTP_AUTH_TAG_BYTES);
}
