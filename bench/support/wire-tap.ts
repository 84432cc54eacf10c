/**
 * A tap on the link between sender and receiver: keeps every RTP/Opus datagram with the time it
 * left for the receiver, and decodes them afterwards in timestamp order, so the benchmark can say
 * when each sentence's chirp was on the wire: the sender's share of the delay, and the receiver's.
 * Works for any plain RTP Opus stream (ours, trx's).
 */
import { opusCodec } from '../../src/codec/opus.js';
import { MARKER_MATCH, locateMarker } from './marked-speech.js';
import { SAMPLE_RATE } from '../../test/support/paced-card.js';

interface TappedPacket {
  at: number;
  timestamp: number;
  payload: Buffer;
}

/** RTP (RFC 3550): header, CSRCs, extension; null when it is not RTP version 2. */
function rtpPayload(datagram: Buffer): { timestamp: number; payload: Buffer } | null {
  if (datagram.length < 12 || datagram[0] >> 6 !== 2) return null;
  const csrcCount = datagram[0] & 0x0f;
  let offset = 12 + 4 * csrcCount;
  if (datagram[0] & 0x10) {
    if (datagram.length < offset + 4) return null;
    offset += 4 + 4 * datagram.readUInt16BE(offset + 2);
  }
  let end = datagram.length;
  if (datagram[0] & 0x20) end -= datagram[end - 1];
  if (end <= offset) return null;
  return { timestamp: datagram.readUInt32BE(4), payload: datagram.subarray(offset, end) };
}

export class WireTap {
  private readonly packets: TappedPacket[] = [];

  record(datagram: Buffer, at: number): void {
    const parsed = rtpPayload(datagram);
    if (parsed) this.packets.push({ at, timestamp: parsed.timestamp, payload: Buffer.from(parsed.payload) });
  }

  /**
   * For each time in `micTimes` (a chirp went into the microphone then), when the packet carrying
   * that chirp's first decoded sample left for the receiver; NaN where it was not found.
   */
  chirpDepartures(micTimes: number[]): number[] {
    if (this.packets.length === 0) return micTimes.map(() => Number.NaN);
    const first = this.packets[0].timestamp;
    // Opus over RTP ticks at 48 kHz (RFC 7587), but some stacks (trx's oRTP) tick at 8 kHz: take
    // the clock from the smallest timestamp step against the samples one packet decodes to.
    const probe = opusCodec.createDecoder({ frameSamples: 960, bitrate: 32_000 });
    let samplesPerTick = 1;
    try {
      const steps = this.packets.slice(1, 50).map((packet, index) => (packet.timestamp - this.packets[index].timestamp) | 0).filter((step) => step > 0);
      const smallest = Math.min(...steps);
      samplesPerTick = Math.max(1, Math.round(probe.decode(this.packets[0].payload).length / smallest));
    } finally {
      probe.close();
    }
    const placed = this.packets
      .map((packet) => ({ ...packet, position: ((packet.timestamp - first) | 0) * samplesPerTick }))
      .filter((packet) => packet.position >= 0)
      .sort((a, b) => a.position - b.position);
    const decoder = opusCodec.createDecoder({ frameSamples: 960, bitrate: 32_000 });
    const lastPosition = placed[placed.length - 1].position;
    const stream = new Int16Array(lastPosition + 5_760);
    const spans: { from: number; to: number; at: number }[] = [];
    let previous = -1;
    try {
      for (const packet of placed) {
        if (packet.position === previous) continue; // a duplicate
        previous = packet.position;
        let pcm: Int16Array;
        try {
          pcm = decoder.decode(packet.payload);
        } catch {
          continue;
        }
        stream.set(pcm.subarray(0, Math.max(0, stream.length - packet.position)), packet.position);
        spans.push({ from: packet.position, to: packet.position + pcm.length, at: packet.at });
      }
    } finally {
      decoder.close();
    }
    return micTimes.map((micAt) => {
      const startSpan = spans.find((span) => span.at >= micAt);
      if (!startSpan) return Number.NaN;
      const best = locateMarker(stream, startSpan.from, startSpan.from + SAMPLE_RATE / 2);
      if (best.index < 0 || best.score < MARKER_MATCH) return Number.NaN;
      return spans.find((span) => best.index >= span.from && best.index < span.to)?.at ?? Number.NaN;
    });
  }
}
