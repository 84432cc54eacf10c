import { seededRandom } from './seeded-random.js';
import type { Decoder } from '../../src/codec/codec.js';

export { seededRandom };

export const FRAME_SAMPLES = 960;
export const FRAME_MS = 20;

/**
 * A decoder double that makes playout order visible: a payload is a 32-bit frame number, decoded
 * as a frame of a 400 Hz tone whose amplitude encodes the frame number (so time-scaling has a
 * pitch to work with), and concealment plays silence. `decoded` and `concealed` list what happened.
 */
export class TaggedDecoder implements Decoder {
  readonly canRecoverFromNext: boolean;
  readonly decoded: number[] = [];
  readonly recovered: number[] = [];
  concealed = 0;

  constructor(options: { fec?: boolean } = {}) {
    this.canRecoverFromNext = options.fec ?? false;
  }

  static payload(frame: number): Uint8Array {
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, frame);
    return payload;
  }

  decode(payload: Uint8Array): Int16Array {
    if (payload.byteLength !== 4) throw new RangeError('not a tagged payload');
    const frame = new DataView(payload.buffer, payload.byteOffset).getUint32(0);
    this.decoded.push(frame);
    const amplitude = 1000 + (frame % 50) * 100;
    let cached = toneCache.get(amplitude);
    if (!cached) toneCache.set(amplitude, (cached = tone(FRAME_SAMPLES, amplitude)));
    return cached.slice();
  }

  recoverFromNext(nextPayload: Uint8Array, frameSamples: number): Int16Array | null {
    const next = new DataView(nextPayload.buffer, nextPayload.byteOffset).getUint32(0);
    this.recovered.push(next - 1);
    return tone(frameSamples, 500);
  }

  conceal(frameSamples: number): Int16Array {
    this.concealed++;
    return new Int16Array(frameSamples);
  }

  close(): void {}
}

const toneCache = new Map<number, Int16Array>();

/** 400 Hz, a whole number of cycles per frame, so frames join without a jump. */
export function tone(samples: number, amplitude: number, frequency = 400, startSample = 0): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * frequency * (startSample + i)) / 48_000));
  }
  return out;
}

export function maxStep(samples: ArrayLike<number>): number {
  let max = 0;
  for (let i = 1; i < samples.length; i++) max = Math.max(max, Math.abs(samples[i] - samples[i - 1]));
  return max;
}

export interface Delivery {
  /** Index of the sent frame (0, 1, 2, ...). */
  frame: number;
  arrivalMs: number;
}

export interface VirtualCallOptions {
  /** Number of frames the sender sends. */
  frames: number;
  /** Network: for frame i sent at sendMs, the arrival times of its copies ([] = lost). */
  network: (frame: number, sendMs: number) => number[];
  /** Sender clock error: it sends one frame every 20 / (1 + ppm/1e6) ms of true time. */
  senderPpm?: number;
  /** Receiver sound-card clock error: readFrame every 20 / (1 + ppm/1e6) ms of true time. */
  receiverPpm?: number;
  /** Offset of the receiver's reads against the sender's frame clock. */
  readPhaseMs?: number;
  /** Keep reading this long after the last send. */
  tailMs?: number;
  deliver: (frame: number, arrivalMs: number) => void;
  read: (nowMs: number, readIndex: number) => void;
  /** Checked after each read: stop when it returns true. */
  stopWhen?: () => boolean;
}

/** Runs sender, network and receiver against one virtual clock, in time order. */
export function runVirtualCall(options: VirtualCallOptions): void {
  const sendPeriod = FRAME_MS / (1 + (options.senderPpm ?? 0) / 1e6);
  const readPeriod = FRAME_MS / (1 + (options.receiverPpm ?? 0) / 1e6);
  const deliveries: Delivery[] = [];
  for (let frame = 0; frame < options.frames; frame++) {
    for (const arrivalMs of options.network(frame, frame * sendPeriod)) deliveries.push({ frame, arrivalMs });
  }
  deliveries.sort((a, b) => a.arrivalMs - b.arrivalMs);
  const endMs = options.frames * sendPeriod + (options.tailMs ?? 500);
  let next = 0;
  for (let readIndex = 0; ; readIndex++) {
    const nowMs = (options.readPhaseMs ?? 7) + readIndex * readPeriod;
    if (nowMs > endMs) break;
    while (next < deliveries.length && deliveries[next].arrivalMs <= nowMs) {
      options.deliver(deliveries[next].frame, deliveries[next].arrivalMs);
      next++;
    }
    options.read(nowMs, readIndex);
    if (options.stopWhen?.()) break;
  }
}

