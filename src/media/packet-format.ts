import type { MediaPacket, ParseResult } from './media-packet.js';
import { parseRtp, serializeRtp, type AcceptedPayloadTypes } from './rtp-packet.js';
import { SEED_PAYLOAD_TYPE, SeedPacketParser, seedDatagramBytes, serializeSeed } from './seed-packet.js';

/** One wire format: how a MediaPacket becomes a datagram and back. */
export interface PacketFormat {
  readonly name: 'rtp' | 'seed';
  /** The RTP payload type this format sends (SEED_PAYLOAD_TYPE for the seed format). */
  readonly payloadType: number;
  /** Never throws; a datagram that is not a valid packet of this format gives `{ ok: false }`. */
  parse(datagram: Uint8Array): ParseResult;
  serialize(packet: MediaPacket): Buffer;
}

/**
 * RTP (RFC 3550) sending `payloadType` and accepting `accepted` (by default that type alone);
 * packets of other payload types are rejected.
 */
export function rtpPacketFormat(payloadType: number, accepted: AcceptedPayloadTypes = payloadType): PacketFormat {
  if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127) {
    throw new RangeError(`RTP payload type must be 0..127, got ${payloadType}`);
  }
  return {
    name: 'rtp',
    payloadType,
    parse: (datagram) => parseRtp(datagram, accepted),
    serialize: (packet) => serializeRtp({ ...packet, payloadType }),
  };
}

/**
 * The original system's format (see seed-packet.ts). Each call returns a format with its own
 * sequence-extension state, so use one per receiving stream.
 */
export function seedPacketFormat(frameSamples: number): PacketFormat {
  const parser = new SeedPacketParser(frameSamples);
  const payloadBytes = seedDatagramBytes(frameSamples) - 2;
  return {
    name: 'seed',
    payloadType: SEED_PAYLOAD_TYPE,
    parse: (datagram) => parser.parse(datagram),
    serialize: (packet) => {
      if (packet.payload.byteLength !== payloadBytes) {
        throw new RangeError(`seed payload must be ${payloadBytes} bytes, got ${packet.payload.byteLength}`);
      }
      return serializeSeed(packet);
    },
  };
}
