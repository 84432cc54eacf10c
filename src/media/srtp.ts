import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { PacketFormat } from './packet-format.js';
import { RTP_HEADER_BYTES } from './rtp-packet.js';
import {
  SRTP_AUTH_TAG_BYTES,
  SRTP_MASTER_KEY_BYTES,
  SRTP_MASTER_SALT_BYTES,
  aesCmXor,
  deriveSrtpSessionKeys,
  srtpAuthTag,
  srtpPacketIv,
  type SrtpSessionKeys,
} from './srtp-crypto.js';
import { MAX_SRTP_INDEX, SrtpIndexTracker } from './srtp-index.js';

/**
 * SRTP (RFC 3711) with the AES_CM_128_HMAC_SHA1_80 suite, key derivation rate 0 and no MKI: the
 * profile every SRTP stack speaks and the one SDES (RFC 4568) keys with "inline:" parameters.
 * Only the RTP half: the intercom sends no RTCP, so there is no SRTCP.
 */

export const SRTP_SUITE = 'AES_CM_128_HMAC_SHA1_80';

export interface SrtpMasterKeys {
  masterKey: Uint8Array;
  masterSalt: Uint8Array;
}

export type UnprotectResult = { ok: true; packet: Buffer; index: number } | { ok: false; reason: string };

export interface SrtpContextOptions {
  /** Packets accepted out of order behind the newest one (RFC 3711 3.3.2 asks for at least 64). */
  replayWindow?: number;
  /** Streams (SSRCs) remembered per direction; the least recently used is forgotten beyond this. */
  maxStreams?: number;
}

/**
 * Protects outgoing and unprotects incoming RTP packets under one master key. Keeps separate
 * per-SSRC state for each direction (RFC 3711 3.2.3), created only by packets that authenticate,
 * so a stranger's traffic cannot grow it.
 */
export interface SrtpContext {
  /** RTP packet in, SRTP packet out. Throws RangeError on a datagram that is not RTP (a local bug). */
  protect(rtpPacket: Uint8Array): Buffer;
  /** SRTP packet in, RTP packet out, or why it was rejected. Never throws. */
  unprotect(srtpPacket: Uint8Array): UnprotectResult;
}

export function createSrtpContext(keys: SrtpMasterKeys, options: SrtpContextOptions = {}): SrtpContext {
  const session = deriveSrtpSessionKeys(keys.masterKey, keys.masterSalt);
  const replayWindow = options.replayWindow ?? 128;
  const maxStreams = options.maxStreams ?? 8;
  const outbound = new StreamTable(maxStreams, () => new SrtpIndexTracker(replayWindow));
  const inbound = new StreamTable(maxStreams, () => new SrtpIndexTracker(replayWindow));
  return {
    protect: (rtpPacket) => protect(session, outbound, rtpPacket),
    unprotect: (srtpPacket) => unprotect(session, inbound, srtpPacket),
  };
}

function protect(session: SrtpSessionKeys, streams: StreamTable, rtpPacket: Uint8Array): Buffer {
  const headerBytes = rtpHeaderBytes(rtpPacket, rtpPacket.byteLength);
  if (typeof headerBytes === 'string') throw new RangeError(`cannot protect: ${headerBytes}`);
  const packet = Buffer.from(rtpPacket.buffer, rtpPacket.byteOffset, rtpPacket.byteLength);
  const sequence = packet.readUInt16BE(2);
  const ssrc = packet.readUInt32BE(8);
  const tracker = streams.get(ssrc) ?? streams.create();
  const { index, rolloverCounter } = tracker.estimate(sequence);
  if (index < 0 || index > MAX_SRTP_INDEX) throw new RangeError(`cannot protect: packet index ${index} outside 0..2^48-1`);
  tracker.commit(index);
  streams.remember(ssrc, tracker);

  const out = Buffer.allocUnsafe(packet.byteLength + SRTP_AUTH_TAG_BYTES);
  packet.copy(out, 0, 0, headerBytes);
  const encrypted = aesCmXor(session.encryptionKey, srtpPacketIv(session.salt, ssrc, index), packet.subarray(headerBytes));
  encrypted.copy(out, headerBytes);
  srtpAuthTag(session.authenticationKey, out.subarray(0, packet.byteLength), rolloverCounter).copy(out, packet.byteLength);
  return out;
}

function unprotect(session: SrtpSessionKeys, streams: StreamTable, srtpPacket: Uint8Array): UnprotectResult {
  const authenticatedBytes = srtpPacket.byteLength - SRTP_AUTH_TAG_BYTES;
  if (authenticatedBytes < RTP_HEADER_BYTES) return { ok: false, reason: `truncated: ${srtpPacket.byteLength} bytes is shorter than an SRTP packet` };
  const headerBytes = rtpHeaderBytes(srtpPacket, authenticatedBytes);
  if (typeof headerBytes === 'string') return { ok: false, reason: headerBytes };
  const packet = Buffer.from(srtpPacket.buffer, srtpPacket.byteOffset, srtpPacket.byteLength);
  const sequence = packet.readUInt16BE(2);
  const ssrc = packet.readUInt32BE(8);
  const tracker = streams.get(ssrc) ?? streams.create();
  const authenticated = packet.subarray(0, authenticatedBytes);
  const tag = packet.subarray(authenticatedBytes);
  let index = -1;
  let rejection = '';
  for (const candidate of tracker.candidates(sequence)) {
    // RFC 3711 3.3: replay check first (cheap), then authentication, then decryption.
    const verdict = tracker.check(candidate.index);
    if (verdict !== 'new') {
      rejection ||= `${verdict} packet (index ${candidate.index}, sequence ${sequence})`;
      continue;
    }
    if (timingSafeEqual(srtpAuthTag(session.authenticationKey, authenticated, candidate.rolloverCounter), tag)) {
      index = candidate.index;
      break;
    }
    rejection ||= `authentication failed (sequence ${sequence}, ssrc ${ssrc})`;
  }
  if (index < 0) return { ok: false, reason: rejection };
  if (tracker.admit(index) === 'unconfirmed-jump') {
    streams.remember(ssrc, tracker);
    return { ok: false, reason: `sequence ${sequence} jumps ${index - tracker.highestIndex} packets ahead of the stream; held until the stream confirms it` };
  }
  streams.remember(ssrc, tracker);

  const out = Buffer.allocUnsafe(authenticatedBytes);
  packet.copy(out, 0, 0, headerBytes);
  aesCmXor(session.encryptionKey, srtpPacketIv(session.salt, ssrc, index), packet.subarray(headerBytes, authenticatedBytes)).copy(out, headerBytes);
  return { ok: true, packet: out, index };
}

/**
 * Length of the RTP header (fixed part, CSRCs, extension) within the first `limit` octets: what
 * SRTP leaves in the clear. A string says why the datagram is not RTP version 2.
 */
function rtpHeaderBytes(datagram: Uint8Array, limit: number): number | string {
  if (limit < RTP_HEADER_BYTES) return `truncated: ${limit} bytes is shorter than the RTP header`;
  const version = datagram[0] >> 6;
  if (version !== 2) return `RTP version ${version}, expected 2`;
  let headerBytes = RTP_HEADER_BYTES + 4 * (datagram[0] & 0x0f);
  if ((datagram[0] & 0x10) !== 0) {
    if (headerBytes + 4 > limit) return 'header extension header overruns the packet';
    headerBytes += 4 + 4 * ((datagram[headerBytes + 2] << 8) | datagram[headerBytes + 3]);
  }
  if (headerBytes > limit) return `RTP header of ${headerBytes} bytes overruns the packet`;
  return headerBytes;
}

/** Per-SSRC trackers, bounded: the stream that least recently passed a packet is forgotten first. */
class StreamTable {
  private readonly trackers = new Map<number, SrtpIndexTracker>();

  constructor(
    private readonly capacity: number,
    readonly create: () => SrtpIndexTracker,
  ) {}

  get(ssrc: number): SrtpIndexTracker | undefined {
    return this.trackers.get(ssrc);
  }

  remember(ssrc: number, tracker: SrtpIndexTracker): void {
    this.trackers.delete(ssrc);
    this.trackers.set(ssrc, tracker);
    if (this.trackers.size > this.capacity) this.trackers.delete(this.trackers.keys().next().value!);
  }
}

/**
 * Wraps an RTP packet format so that what it serialises goes out as SRTP and what it parses must
 * first authenticate and decrypt. A packet that fails comes back as `{ ok: false }`, so the
 * MediaReceiver counts it as malformed like any other bad datagram. Each call makes a fresh
 * context: use one format per stream direction.
 */
export function srtpPacketFormat(inner: PacketFormat, keys: SrtpMasterKeys, options?: SrtpContextOptions): PacketFormat {
  if (inner.name !== 'rtp') throw new RangeError(`SRTP protects RTP only, not the ${inner.name} format`);
  const context = createSrtpContext(keys, options);
  return {
    name: inner.name,
    payloadType: inner.payloadType,
    parse: (datagram) => {
      const unprotected = context.unprotect(datagram);
      return unprotected.ok ? inner.parse(unprotected.packet) : { ok: false, reason: `SRTP: ${unprotected.reason}` };
    },
    serialize: (packet) => context.protect(inner.serialize(packet)),
  };
}

const INLINE_PREFIX = 'inline:';
const KEY_AND_SALT_BYTES = SRTP_MASTER_KEY_BYTES + SRTP_MASTER_SALT_BYTES;
/** 30 octets are exactly 40 base64 characters, without padding. */
const INLINE_KEY_PATTERN = /^inline:([A-Za-z0-9+/]{40})$/;

/** Fresh random master key and salt. */
export function generateSrtpMasterKeys(): SrtpMasterKeys {
  const material = randomBytes(KEY_AND_SALT_BYTES);
  return { masterKey: material.subarray(0, SRTP_MASTER_KEY_BYTES), masterSalt: material.subarray(SRTP_MASTER_KEY_BYTES) };
}

/** SDES key parameters (RFC 4568 6.1) for the keys: "inline:" and base64 of key || salt. */
export function formatSrtpKeyParams(keys: SrtpMasterKeys): string {
  return INLINE_PREFIX + Buffer.concat([keys.masterKey, keys.masterSalt]).toString('base64');
}

/** Fresh keys as SDES key parameters, for one call direction. */
export function generateSrtpKeyParams(): string {
  return formatSrtpKeyParams(generateSrtpMasterKeys());
}

export type KeyParamsResult = { ok: true; keys: SrtpMasterKeys } | { ok: false; reason: string };

/**
 * Reads SDES key parameters as generateSrtpKeyParams writes them. Never throws: they arrive from
 * the peer. Lifetime and MKI fields are refused rather than ignored, because this implementation
 * neither rekeys nor sends an MKI and a peer expecting either would not interoperate.
 */
export function parseSrtpKeyParams(keyParams: unknown): KeyParamsResult {
  if (typeof keyParams !== 'string') return { ok: false, reason: 'key parameters must be a string' };
  const match = INLINE_KEY_PATTERN.exec(keyParams);
  if (!match) {
    return { ok: false, reason: `key parameters must be "${INLINE_PREFIX}" and ${KEY_AND_SALT_BYTES} octets of base64 without lifetime or MKI` };
  }
  const material = Buffer.from(match[1], 'base64');
  return { ok: true, keys: { masterKey: material.subarray(0, SRTP_MASTER_KEY_BYTES), masterSalt: material.subarray(SRTP_MASTER_KEY_BYTES) } };
}
