/**
 * What the service process and its audio host child say to each other.
 *
 * Control messages (small, rare) travel over Node's IPC channel as JSON. Audio travels over two
 * extra pipes as length-prefixed binary records, so a frame costs one write and no JSON:
 * fd 3 carries host -> parent records (captured frames, playback pulls), fd 4 parent -> host
 * (playback frames).
 */
import type { AudioDeviceInfo } from './audio-backend.js';
import type { AudioDirection } from './device-resolver.js';

export const HOST_TO_PARENT_FD = 3;
export const PARENT_TO_HOST_FD = 4;

export const RecordKind = {
  /** host -> parent: one captured frame. */
  CapturedFrame: 1,
  /** host -> parent: the device consumed a frame, send the next one (no payload). */
  PlaybackPull: 2,
  /** parent -> host: the frame answering a pull. */
  PlaybackFrame: 3,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** kind u8, 3 reserved bytes, payload length u32 LE, timestamp f64 LE (ms, epoch-based). */
export const RECORD_HEADER_BYTES = 16;
/** Far above any real frame (120 ms stereo would be 23 KiB); a larger length means a corrupt stream. */
export const MAX_RECORD_PAYLOAD_BYTES = 1 << 20;

export interface AudioRecord {
  kind: RecordKind;
  /** When the sender produced it, in ms on a clock both processes share (performance.timeOrigin + now). */
  timestamp: number;
  payload: Buffer;
}

/** Milliseconds on a clock that is comparable across processes on one machine. */
export function sharedClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export function encodeRecord(kind: RecordKind, payload: Uint8Array = new Uint8Array(0), timestamp = sharedClockMs()): Buffer {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.byteLength);
  record.writeUInt8(kind, 0);
  record.writeUInt8(0, 1);
  record.writeUInt16LE(0, 2);
  record.writeUInt32LE(payload.byteLength, 4);
  record.writeDoubleLE(timestamp, 8);
  record.set(payload, RECORD_HEADER_BYTES);
  return record;
}

export class RecordStreamError extends Error {
  override name = 'RecordStreamError';
}

/** Reassembles records from pipe chunks, which split and merge records at arbitrary points. */
export class RecordDecoder {
  private pending: Buffer = Buffer.alloc(0);

  /** @throws RecordStreamError when the stream is corrupt (it comes from our own child: fatal). */
  push(chunk: Buffer): AudioRecord[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const records: AudioRecord[] = [];
    let offset = 0;
    while (this.pending.length - offset >= RECORD_HEADER_BYTES) {
      const kind = this.pending.readUInt8(offset);
      const length = this.pending.readUInt32LE(offset + 4);
      if (kind < RecordKind.CapturedFrame || kind > RecordKind.PlaybackFrame || length > MAX_RECORD_PAYLOAD_BYTES) {
        throw new RecordStreamError(`corrupt audio record stream (kind ${kind}, length ${length})`);
      }
      if (this.pending.length - offset < RECORD_HEADER_BYTES + length) break;
      const timestamp = this.pending.readDoubleLE(offset + 8);
      const start = offset + RECORD_HEADER_BYTES;
      records.push({ kind: kind as RecordKind, timestamp, payload: this.pending.subarray(start, start + length) });
      offset = start + length;
    }
    this.pending = offset === this.pending.length ? Buffer.alloc(0) : this.pending.subarray(offset);
    return records;
  }
}

/** Copies little-endian S16 bytes into a fresh, aligned Int16Array (a Buffer slice may be unaligned). */
export function bytesToPcm(bytes: Uint8Array): Int16Array {
  const pcm = new Int16Array(bytes.byteLength >> 1);
  new Uint8Array(pcm.buffer).set(bytes.subarray(0, pcm.byteLength));
  return pcm;
}

export function pcmToBytes(pcm: Int16Array): Uint8Array {
  return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/** Turns chunks of any size into chunks of exactly `frameBytes`, keeping the remainder for later. */
export class FrameRechunker {
  private readonly frame: Buffer;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    this.frame = Buffer.alloc(frameBytes);
  }

  push(chunk: Uint8Array, emit: (frame: Buffer) => void): void {
    let offset = 0;
    while (offset < chunk.byteLength) {
      const take = Math.min(this.frameBytes - this.filled, chunk.byteLength - offset);
      this.frame.set(chunk.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameBytes) {
        emit(Buffer.from(this.frame));
        this.filled = 0;
      }
    }
  }
}

// ---- control messages (IPC) ----

export interface HostDeviceInfo extends AudioDeviceInfo {
  defaultLowInputLatency: number;
  defaultLowOutputLatency: number;
}

export type ParentToHostMessage =
  | { type: 'list' }
  | { type: 'open'; direction: AudioDirection; device: string; frameSamples: number; sampleRate: number }
  /** Capture: send frames to the parent or drop them. Playback: pull frames from the parent or play silence. */
  | { type: 'relay'; on: boolean }
  | { type: 'close' };

export type HostToParentMessage =
  /** Sent once, as soon as the host runs and listens: Node itself is loaded (slow on small boards). */
  | { type: 'started' }
  | { type: 'devices'; devices: HostDeviceInfo[] }
  | { type: 'opened'; deviceName: string; deviceId: number; otherMatches: string[] }
  | { type: 'not-found'; wanted: string; direction: AudioDirection; available: string[] }
  | { type: 'failed'; message: string }
  | { type: 'stats'; stats: HostStreamStats }
  | { type: 'closed' };

export interface HostStreamStats {
  /** Capture: frames sent to the parent. Playback: frames handed to the device. */
  frames: number;
  /** Playback: frames the parent did not deliver in time, replaced by silence. */
  silenceInserted: number;
  /** Playback: frames that arrived too late and were dropped to keep latency bounded. */
  lateDropped: number;
  /** Capture: frames dropped because the parent stopped reading. */
  backlogDropped: number;
  /** Playback: frames asked for ahead of the device (1 while the parent answers slowly). */
  leadFrames: number;
}
