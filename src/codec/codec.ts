/**
 * Codecs turn one frame of 48 kHz mono signed 16-bit PCM into a payload and back.
 * They are pure computation (no I/O) and deterministic for the same input.
 */

export const SAMPLE_RATE = 48_000;

export function frameSamplesFor(frameMs: number): number {
  return (SAMPLE_RATE * frameMs) / 1000;
}

export interface Encoder {
  /** Encodes exactly one frame (`frameSamples` samples). */
  encode(pcm: Int16Array): Uint8Array;
  /** Releases native resources; the encoder is unusable afterwards. */
  close(): void;
}

export interface Decoder {
  /** True when `recoverFromNext` can rebuild a lost frame from the following packet. */
  readonly canRecoverFromNext: boolean;
  /** Decodes one payload into PCM (normally one frame). */
  decode(payload: Uint8Array): Int16Array;
  /**
   * Rebuilds the frame *before* `nextPayload` from the redundancy carried in it (Opus in-band FEC).
   * Returns exactly `frameSamples` samples, or null when the payload carries no usable FEC.
   */
  recoverFromNext(nextPayload: Uint8Array, frameSamples: number): Int16Array | null;
  /** Produces exactly `frameSamples` samples that stand in for a lost frame. */
  conceal(frameSamples: number): Int16Array;
  close(): void;
}

export interface CodecOptions {
  frameSamples: number;
  /** Bits per second, for codecs that compress. */
  bitrate: number;
  /** Encoder effort 0-10 for codecs that have one (Opus): CPU against quality. */
  complexity?: number;
  /** Highest audio bandwidth the encoder may use, in Hz (Opus: 4000, 6000, 8000, 12000, 20000). */
  maxBandwidthHz?: number;
  /** Expected packet loss in percent, which tunes the encoder's in-band FEC. */
  expectedLossPercent?: number;
}

export interface Codec {
  readonly name: 'opus' | 'l16' | 'pcm-le';
  createEncoder(options: CodecOptions): Encoder;
  createDecoder(options: CodecOptions): Decoder;
}
