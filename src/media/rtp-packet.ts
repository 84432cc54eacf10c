import type { MediaPacket, ParseResult } from './media-packet.js';

/** RFC 3550 section 5.1: the fixed header is 12 bytes; CSRCs and an extension may follow. */
export const RTP_HEADER_BYTES = 12;
const RTP_VERSION = 2;

/** The payload types a parser takes: exactly one, or any in an inclusive range. */
export type AcceptedPayloadTypes = number | { readonly first: number; readonly last: number };

/**
 * RFC 3551 section 3: 96-127 are dynamic, bound to a codec by signaling (SDP) rather than by their
 * number; every other type has a fixed meaning or is reserved.
 */
export const DYNAMIC_PAYLOAD_TYPES = { first: 96, last: 127 } as const;

function accepts(accepted: AcceptedPayloadTypes, payloadType: number): boolean {
  return typeof accepted === 'number' ? payloadType === accepted : payloadType >= accepted.first && payloadType <= accepted.last;
}

function describe(accepted: AcceptedPayloadTypes): string {
  return typeof accepted === 'number' ? String(accepted) : `${accepted.first}-${accepted.last}`;
}

function fail(reason: string): ParseResult {
  return { ok: false, reason };
}

/**
 * Parses one RTP datagram (RFC 3550). Never throws: anything that is not a well-formed version 2
 * packet of an accepted payload type comes back as `{ ok: false, reason }`.
 * CSRCs and the header extension are validated and skipped (an intercom has no mixer and no
 * extensions); padding is removed. The payload is copied into a plain Uint8Array (Buffer.slice would share memory), so the caller may reuse its buffer.
 */
export function parseRtp(datagram: Uint8Array, accepted: AcceptedPayloadTypes): ParseResult {
  const length = datagram.byteLength;
  if (length < RTP_HEADER_BYTES) return fail(`truncated: ${length} bytes is shorter than the RTP header`);
  const first = datagram[0];
  const version = first >> 6;
  if (version !== RTP_VERSION) return fail(`RTP version ${version}, expected ${RTP_VERSION}`);
  const hasPadding = (first & 0x20) !== 0;
  const hasExtension = (first & 0x10) !== 0;
  const csrcCount = first & 0x0f;
  const second = datagram[1];
  const marker = (second & 0x80) !== 0;
  const payloadType = second & 0x7f;
  if (!accepts(accepted, payloadType)) return fail(`payload type ${payloadType}, expected ${describe(accepted)}`);
  const view = new DataView(datagram.buffer, datagram.byteOffset, length);
  const sequence = view.getUint16(2);
  const timestamp = view.getUint32(4);
  const ssrc = view.getUint32(8);

  let payloadStart = RTP_HEADER_BYTES + 4 * csrcCount;
  if (payloadStart > length) return fail(`CSRC count ${csrcCount} overruns a ${length}-byte packet`);
  if (hasExtension) {
    if (payloadStart + 4 > length) return fail('header extension header overruns the packet');
    const extensionWords = view.getUint16(payloadStart + 2);
    payloadStart += 4 + 4 * extensionWords;
    if (payloadStart > length) return fail(`header extension of ${extensionWords} words overruns the packet`);
  }
  let payloadEnd = length;
  if (hasPadding) {
    // The last octet counts the padding octets including itself, so zero is invalid (RFC 3550 5.1).
    const paddingBytes = datagram[length - 1];
    if (paddingBytes === 0) return fail('padding bit set but padding count is zero');
    if (payloadStart + paddingBytes > length) return fail(`padding of ${paddingBytes} bytes overruns the packet`);
    payloadEnd = length - paddingBytes;
  }
  return {
    ok: true,
    packet: { ssrc, sequence, timestamp, payloadType, marker, payload: new Uint8Array(datagram.subarray(payloadStart, payloadEnd)) },
  };
}

/** Serialises a packet as a plain RTP datagram: no padding, no extension, no CSRCs. */
export function serializeRtp(packet: MediaPacket): Buffer {
  if (!Number.isInteger(packet.payloadType) || packet.payloadType < 0 || packet.payloadType > 127) {
    throw new RangeError(`RTP payload type must be 0..127, got ${packet.payloadType}`);
  }
  const datagram = Buffer.allocUnsafe(RTP_HEADER_BYTES + packet.payload.byteLength);
  datagram[0] = RTP_VERSION << 6;
  datagram[1] = (packet.marker ? 0x80 : 0) | packet.payloadType;
  datagram.writeUInt16BE(packet.sequence & 0xffff, 2);
  datagram.writeUInt32BE(packet.timestamp >>> 0, 4);
  datagram.writeUInt32BE(packet.ssrc >>> 0, 8);
  datagram.set(packet.payload, RTP_HEADER_BYTES);
  return datagram;
}
