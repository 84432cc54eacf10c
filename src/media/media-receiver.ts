import type { Decoder } from '../codec/codec.js';
import { JitterBuffer, type JitterBufferOptions } from './jitter-buffer.js';
import type { PacketFormat } from './packet-format.js';
import type { ReceiveStats } from './receive-stats.js';

export interface MediaReceiverOptions {
  decoder: Decoder;
  packetFormat: PacketFormat;
  frameSamples: number;
  /** Playout delay bounds (config jitter.minMs / jitter.maxMs). */
  minMs: number;
  maxMs: number;
  /**
   * When set, only this SSRC is played (the one announced in signaling); others are counted as
   * malformed. When unset, the newest stream wins and a new SSRC restarts playout.
   */
  expectedSsrc?: number;
  delay?: JitterBufferOptions['delay'];
  onPlayout?: JitterBufferOptions['onPlayout'];
}

/**
 * The receive path without I/O: datagram in, PCM frames out. Nothing a peer sends can make it
 * throw; bad datagrams are counted in packetsMalformed and bad payloads are also concealed.
 */
export class MediaReceiver {
  private readonly buffer: JitterBuffer;
  private readonly packetFormat: PacketFormat;
  private readonly decoder: Decoder;
  private readonly expectedSsrc?: number;
  private lastArrivalMs: number | null = null;

  constructor(options: MediaReceiverOptions) {
    this.packetFormat = options.packetFormat;
    this.decoder = options.decoder;
    this.expectedSsrc = options.expectedSsrc;
    this.buffer = new JitterBuffer({
      decoder: options.decoder,
      frameSamples: options.frameSamples,
      minMs: options.minMs,
      maxMs: options.maxMs,
      delay: options.delay,
      onPlayout: options.onPlayout,
    });
  }

  /** Frees the decoder (native state for Opus); the receiver is unusable afterwards. */
  close(): void {
    this.decoder.close();
  }

  /** Takes one datagram as it arrived from the network; `arrivalMs` on the clock readFrame uses. Whether it was a packet of the stream. */
  receiveDatagram(datagram: Uint8Array, arrivalMs: number): boolean {
    const parsed = this.packetFormat.parse(datagram);
    if (!parsed.ok) {
      this.buffer.recordMalformed();
      return false;
    }
    if (this.expectedSsrc !== undefined && parsed.packet.ssrc !== this.expectedSsrc >>> 0) {
      this.buffer.recordMalformed();
      return false;
    }
    this.lastArrivalMs = arrivalMs;
    this.buffer.insert(parsed.packet, arrivalMs);
    return true;
  }

  /**
   * Exactly `samples` of audio to play now, a frame unless asked otherwise (silence before the
   * first packet). `outputDelayMs`: how long until its first sample is heard,
   * where the sound device knows (reported, not steered).
   */
  readFrame(nowMs: number, outputDelayMs = 0, samples?: number): Int16Array {
    return this.buffer.readFrame(nowMs, outputDelayMs, samples);
  }

  /** At least `minSamples`, with everything already decoded (see JitterBuffer.readAvailable). */
  readAvailable(nowMs: number, outputDelayMs: number, minSamples: number): Int16Array {
    return this.buffer.readAvailable(nowMs, outputDelayMs, minSamples);
  }

  stats(): ReceiveStats {
    return this.buffer.stats();
  }

  /** Arrival time of the last valid packet, or null before any (for peer-lost detection). */
  get lastPacketArrivalMs(): number | null {
    return this.lastArrivalMs;
  }
}
