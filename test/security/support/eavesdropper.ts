import { createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { createSrtpContext, type SrtpMasterKeys } from '../../../src/media/srtp.js';

/**
 * What someone who recorded a call, and learnt the site secret later, can try: every key the
 * recording (or a log) spells out, every 30 octets any token of it decodes to, and every key the
 * site secret and the recorded public values alone give. A candidate "works" when it authenticates
 * a recorded SRTP packet.
 */

const KEY_AND_SALT_BYTES = 30;

function keysOf(material: Buffer): SrtpMasterKeys {
  return { masterKey: material.subarray(0, 16), masterSalt: material.subarray(16, KEY_AND_SALT_BYTES) };
}

/** Every 30-octet window of everything the text's tokens decode to (base64, base64url, hex), SDES "inline:" keys first. */
export function keyCandidates(text: string): Buffer[] {
  const found = new Map<string, Buffer>();
  const add = (bytes: Buffer) => {
    for (let start = 0; start + KEY_AND_SALT_BYTES <= bytes.length; start += 1) {
      const window = bytes.subarray(start, start + KEY_AND_SALT_BYTES);
      found.set(window.toString('hex'), Buffer.from(window));
    }
  };
  for (const match of text.matchAll(/inline:([A-Za-z0-9+/]{40})/g)) add(Buffer.from(match[1], 'base64'));
  for (const match of text.matchAll(/[A-Za-z0-9+/_-]{40,}={0,2}/g)) {
    add(Buffer.from(match[0], 'base64'));
    add(Buffer.from(match[0], 'base64url'));
  }
  for (const match of text.matchAll(/[0-9a-fA-F]{60,}/g)) add(Buffer.from(match[0].length % 2 ? match[0].slice(1) : match[0], 'hex'));
  return [...found.values()];
}

/** base64url tokens of 43 characters: what X25519 public values look like. */
function publicValues(text: string): string[] {
  return [...new Set([...text.matchAll(/"keyShare":"([A-Za-z0-9_-]{43})"/g)].map((match) => match[1]))];
}

function sealedKeys(text: string): Buffer[] {
  return [...text.matchAll(/"wrappedKey":"([A-Za-z0-9_-]+)"/g)].map((match) => Buffer.from(match[1], 'base64url'));
}

/** Tries to open an AES-256-GCM seal (IV, ciphertext, tag) without associated data and with every label a transcript could give. */
function tryOpen(key: Buffer, sealed: Buffer, associated: string[]): Buffer | null {
  if (sealed.length < 12 + 16 + 1) return null;
  for (const aad of ['', ...associated]) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
      if (aad) decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
    } catch {
      // not this key
    }
  }
  return null;
}

/**
 * Keys the site secret gives with what was recorded, without either unit's private key: the
 * secret (and digests of it with the public values, call ids and unit ids) as HKDF input or as the
 * key itself, opening the sealed keys where that works.
 */
export function keysFromSiteSecret(text: string, siteSecret: string): Buffer[] {
  const shares = publicValues(text);
  const ids = [...new Set([...text.matchAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g)].map((match) => match[0]))];
  const materials: Buffer[] = [Buffer.from(siteSecret), createHash('sha256').update(siteSecret).digest()];
  for (const share of shares) {
    materials.push(Buffer.from(share, 'base64url'), createHmac('sha256', siteSecret).update(share).digest());
    for (const other of shares) if (other !== share) materials.push(createHmac('sha256', siteSecret).update(share + other).digest());
  }
  const infos = ['', 'pi-intercom call keys v2', ...ids, ...shares];
  const derived: Buffer[] = [];
  for (const material of materials) {
    for (const info of infos) {
      for (const salt of [Buffer.alloc(0), Buffer.from(siteSecret), createHmac('sha256', siteSecret).update('pi-intercom call key salt v2').digest()]) {
        derived.push(Buffer.from(hkdfSync('sha256', material, salt, info, 64)));
      }
    }
    derived.push(material);
  }
  const keys: Buffer[] = [];
  const associated = [...ids, ...shares];
  for (const candidate of derived) {
    keys.push(...keyCandidates(candidate.toString('base64')));
    for (const sealKey of [candidate.subarray(0, 32), candidate.subarray(32, 64)]) {
      if (sealKey.length !== 32) continue;
      for (const sealed of sealedKeys(text)) {
        const opened = tryOpen(sealKey, sealed, associated);
        if (opened) keys.push(...keyCandidates(opened.toString('latin1')));
      }
    }
  }
  return keys;
}

export interface SrtpStream {
  ssrc: number;
  packets: Buffer[];
}

/** Recorded datagrams that look like RTP version 2, by SSRC. */
export function srtpStreams(datagrams: Buffer[]): SrtpStream[] {
  const streams = new Map<number, Buffer[]>();
  for (const datagram of datagrams) {
    if (datagram.length < 12 + 10 || datagram[0] >> 6 !== 2) continue;
    const ssrc = datagram.readUInt32BE(8);
    if (!streams.has(ssrc)) streams.set(ssrc, []);
    streams.get(ssrc)!.push(datagram);
  }
  return [...streams].map(([ssrc, packets]) => ({ ssrc, packets }));
}

/** How many of the streams' first packets each candidate authenticates (and so decrypts); the sum over all candidates. */
export function decryptable(streams: SrtpStream[], candidates: Buffer[], samplePerStream = 5): number {
  let opened = 0;
  for (const candidate of candidates) {
    for (const stream of streams) {
      const context = createSrtpContext(keysOf(candidate));
      for (const packet of stream.packets.slice(0, samplePerStream)) if (context.unprotect(packet).ok) opened += 1;
    }
  }
  return opened;
}
