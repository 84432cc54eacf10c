import type { MediaPacket, ParseResult } from './media-packet.js';
import { MAX_DROPOUT, MAX_MISORDER, WrapUnwrapper } from './sequence-unwrap.js';

/**
 * The original system's datagram: `[sequence: u16][frameSamples x i16]`, no other header.
 *
 * Byte order: the original README does not say; we use little-endian for the sequence number as
 * well as the samples, because the samples are little-endian (native on x86 and ARM) and the
 * original wrote the whole packet the same way.
 */
export const SEED_SEQUENCE_BYTES = 2;
/** The seed format has no payload type; this marks its packets inside the process. */
export const SEED_PAYLOAD_TYPE = -1;

export function seedDatagramBytes(frameSamples: number): number {
  return SEED_SEQUENCE_BYTES + frameSamples * 2;
}

/**
 * Parses seed datagrams into MediaPackets. Stateful: the seed header has no timestamp, so one is
 * derived from the sequence number extended across its 16-bit wrap (`extended * frameSamples`,
 * wrapped to 32 bits like an RTP timestamp), which keeps timestamps increasing across the wrap.
 * The SSRC is always 0 (the format has none); a restarted sender shows up as a sequence jump,
 * which the jitter buffer treats like RTP's restart detection.
 *
 * The wrap reference follows only what the jitter buffer will believe (RFC 3550 A.1): a datagram
 * whose sequence jumped far moves it only when the next one continues the jump. Otherwise one
 * forged or corrupted datagram half the range ahead would shift the timestamps of every later
 * packet of the stream by 65536 frames.
 */
export class SeedPacketParser {
  private readonly sequences = new WrapUnwrapper(16);
  /** The sequence that would confirm the last far jump as a restarted sender. */
  private probationSequence: number | null = null;

  constructor(private readonly frameSamples: number) {}

  parse(datagram: Uint8Array): ParseResult {
    const expected = seedDatagramBytes(this.frameSamples);
    if (datagram.byteLength !== expected) {
      return { ok: false, reason: `seed datagram of ${datagram.byteLength} bytes, expected ${expected}` };
    }
    const sequence = datagram[0] | (datagram[1] << 8);
    const extended = this.extendBelievable(sequence);
    const timestamp = (extended * this.frameSamples) % 2 ** 32;
    return {
      ok: true,
      packet: {
        ssrc: 0,
        sequence,
        timestamp,
        payloadType: SEED_PAYLOAD_TYPE,
        marker: false,
        payload: new Uint8Array(datagram.subarray(SEED_SEQUENCE_BYTES)),
      },
    };
  }

  private extendBelievable(sequence: number): number {
    const extended = this.sequences.extend(sequence);
    const newest = this.sequences.newestValue;
    const jump = newest === null ? 0 : extended - newest;
    const restarted = sequence === this.probationSequence;
    if (!restarted && (jump > MAX_DROPOUT || jump < -MAX_MISORDER)) {
      this.probationSequence = (sequence + 1) & 0xffff;
      return extended;
    }
    this.probationSequence = null;
    // The jitter buffer starts a new stream here too; its timeline starts afresh.
    if (restarted) this.sequences.reset();
    return this.sequences.unwrap(sequence);
  }
}

/** Serialises a packet in the seed format; the payload must already be little-endian PCM. */
export function serializeSeed(packet: MediaPacket): Buffer {
  const datagram = Buffer.allocUnsafe(SEED_SEQUENCE_BYTES + packet.payload.byteLength);
  datagram.writeUInt16LE(packet.sequence & 0xffff, 0);
  datagram.set(packet.payload, SEED_SEQUENCE_BYTES);
  return datagram;
}
