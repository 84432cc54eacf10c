/**
 * An in-memory AudioBackend for tests: no device, no process, no real time. The test is the
 * sound card's clock: each tick() delivers one captured frame to every open capture stream and
 * pulls one frame from every open playback stream, recording what was played with the time of
 * an injectable clock. A duplex stream is an ideal card: while active, each tick plays a frame
 * and captures one, whose reference is exactly the frame played in the same tick; while inactive
 * its devices are stopped (nothing is played or captured).
 */
import type { AudioBackend, AudioDeviceInfo, AudioStream, CaptureOptions, DuplexOptions, DuplexStream, PlaybackOptions } from './audio-backend.js';
import { resolveDevice, type AudioDirection } from './device-resolver.js';

export interface MemoryBackendOptions {
  /** What listDevices() reports and open*() resolves against. Default: one "default" duplex device. */
  devices?: AudioDeviceInfo[];
  /** Timestamps for played frames. Default: milliseconds of device time, advanced by tick(). */
  now?: () => number;
}

export interface PlayedFrame {
  /** The device that played it. */
  device: string;
  at: number;
  pcm: Int16Array;
}

const DEFAULT_DEVICE: AudioDeviceInfo = {
  id: 0,
  name: 'default',
  hostApi: 'memory',
  maxInputChannels: 1,
  maxOutputChannels: 1,
  defaultSampleRate: 48_000,
};

interface OpenCapture {
  direction: 'capture';
  deviceName: string;
  relaying: boolean;
  options: CaptureOptions;
  /** Samples queued by queueCapture() and not yet delivered. */
  pending: Int16Array[];
  pendingOffset: number;
}

interface OpenPlayback {
  direction: 'playback';
  deviceName: string;
  relaying: boolean;
  options: PlaybackOptions;
}

interface OpenDuplex {
  direction: 'duplex';
  captureDevice: string | null;
  playbackDevice: string | null;
  active: boolean;
  captureWanted: boolean;
  options: DuplexOptions;
  pending: Int16Array[];
  pendingOffset: number;
  /** Samples captured so far: the device position of the next frame. */
  captured: number;
}

type OpenStream = OpenCapture | OpenPlayback | OpenDuplex;

export class MemoryAudioBackend implements AudioBackend {
  /** Every frame the playback streams produced, in order. */
  readonly played: PlayedFrame[] = [];
  private readonly devices: AudioDeviceInfo[];
  private readonly now: () => number;
  private readonly open = new Set<OpenStream>();
  private captureSource: ((frameSamples: number) => Int16Array) | undefined;
  private deviceTimeMs = 0;
  private closed = false;

  constructor(options: MemoryBackendOptions = {}) {
    this.devices = [...(options.devices ?? [DEFAULT_DEVICE])];
    this.now = options.now ?? (() => this.deviceTimeMs);
  }

  /** Frames the service was woken for: captured frames delivered to onFrame, and nextFrame calls. */
  serviceWakeups = 0;

  /** Streams currently open that serve `direction` (a duplex stream serves both). */
  openStreams(direction?: AudioDirection): number {
    return [...this.open].filter((stream) => {
      if (direction === undefined || stream.direction === direction) return true;
      if (stream.direction !== 'duplex') return false;
      return direction === 'capture' ? stream.captureDevice !== null : stream.playbackDevice !== null;
    }).length;
  }

  /** Duplex streams whose devices are running now. */
  activeDuplexStreams(): number {
    return [...this.open].filter((stream) => stream.direction === 'duplex' && stream.active).length;
  }

  async listDevices(): Promise<AudioDeviceInfo[]> {
    return this.devices.map((device) => ({ ...device }));
  }

  async openCapture(options: CaptureOptions): Promise<AudioStream> {
    const stream: OpenCapture = { direction: 'capture', deviceName: this.resolve(options.device, 'capture'), relaying: true, options, pending: [], pendingOffset: 0 };
    return this.register(stream);
  }

  async openPlayback(options: PlaybackOptions): Promise<AudioStream> {
    const stream: OpenPlayback = { direction: 'playback', deviceName: this.resolve(options.device, 'playback'), relaying: true, options };
    return this.register(stream);
  }

  async openDuplex(options: DuplexOptions): Promise<DuplexStream> {
    const stream: OpenDuplex = {
      direction: 'duplex',
      captureDevice: options.captureDevice === null ? null : this.resolve(options.captureDevice, 'capture'),
      playbackDevice: options.playbackDevice === null ? null : this.resolve(options.playbackDevice, 'playback'),
      active: false,
      captureWanted: true,
      options,
      pending: [],
      pendingOffset: 0,
      captured: 0,
    };
    this.open.add(stream);
    return {
      captureDevice: stream.captureDevice,
      playbackDevice: stream.playbackDevice,
      get active() {
        return stream.active;
      },
      setActive: async (active: boolean) => {
        stream.active = active;
      },
      setCaptureWanted: (wanted: boolean) => {
        stream.captureWanted = wanted;
      },
      stats: () => ({ active: stream.active }),
      close: async () => {
        this.open.delete(stream);
      },
    };
  }

  async close(): Promise<void> {
    this.open.clear();
    this.closed = true;
  }

  /**
   * Queues samples for the microphone of every open capture stream (or only those on `device`);
   * tick() delivers them a frame at a time, completing a last partial frame with silence.
   */
  queueCapture(samples: Int16Array, device?: string): void {
    for (const stream of this.captures(device)) stream.pending.push(samples.slice());
  }

  /** Frames (mic and reference) delivered to duplex streams' onCapture, in order: for alignment checks. */
  readonly captured: { mic: Int16Array; reference: Int16Array }[] = [];

  /** Where capture frames come from when nothing is queued (default: silence). */
  setCaptureSource(source: ((frameSamples: number) => Int16Array) | undefined): void {
    this.captureSource = source;
  }

  /**
   * Advances the device clock by `frames` frame periods: each open capture stream receives a
   * frame, each open playback stream is asked for one. Throws if a playback stream returns the
   * wrong number of samples (the AudioBackend contract says exactly frameSamples).
   */
  tick(frames = 1): void {
    for (let frame = 0; frame < frames; frame += 1) {
      let periodMs = 0;
      for (const stream of [...this.open]) {
        if (!this.open.has(stream)) continue; // closed by a callback during this tick
        const samples = stream.options.frameSamples;
        periodMs = Math.max(periodMs, (samples / 48_000) * 1000);
        if (stream.direction === 'duplex') {
          this.tickDuplex(stream);
        } else if (stream.direction === 'capture') {
          // Read from the "microphone" either way, as a device keeps running; hand it on only when wanted.
          const captured = this.nextCaptureFrame(stream);
          if (stream.relaying) {
            this.serviceWakeups += 1;
            stream.options.onFrame(captured);
          }
        } else {
          if (stream.relaying) this.serviceWakeups += 1;
          const pcm = stream.relaying ? stream.options.nextFrame() : new Int16Array(samples);
          if (!(pcm instanceof Int16Array) || pcm.length !== samples) {
            throw new Error(`nextFrame() returned ${pcm?.length} samples for "${stream.deviceName}"; frameSamples is ${samples}`);
          }
          this.played.push({ device: stream.deviceName, at: this.now(), pcm: pcm.slice() });
        }
      }
      this.deviceTimeMs += periodMs;
    }
  }

  /** Everything played (on `device`, or on any device), joined. */
  playedSamples(device?: string): Int16Array {
    const frames = this.played.filter((frame) => device === undefined || frame.device === device);
    const joined = new Int16Array(frames.reduce((sum, frame) => sum + frame.pcm.length, 0));
    let offset = 0;
    for (const frame of frames) {
      joined.set(frame.pcm, offset);
      offset += frame.pcm.length;
    }
    return joined;
  }

  /** Makes open streams of `direction` fail as a device that went away would: their onError is called. */
  /** A device appears, as a USB sound card plugged in after start. */
  plugIn(device: AudioDeviceInfo): void {
    this.devices.push(device);
  }

  fail(direction: AudioDirection, error: Error = new Error(`${direction} device went away`)): void {
    for (const stream of [...this.open]) {
      const serves = stream.direction === direction || (stream.direction === 'duplex' && (direction === 'capture' ? stream.captureDevice : stream.playbackDevice) !== null);
      if (!serves) continue;
      this.open.delete(stream);
      stream.options.onError?.(error);
    }
  }

  private tickDuplex(stream: OpenDuplex): void {
    if (!stream.active) return;
    const samples = stream.options.frameSamples;
    let played: Int16Array = new Int16Array(samples);
    if (stream.playbackDevice !== null) {
      if (stream.options.nextFrame) {
        this.serviceWakeups += 1;
        played = stream.options.nextFrame({ playoutAtMs: this.now(), outputDelayMs: 0 });
        if (!(played instanceof Int16Array) || played.length !== samples) {
          throw new Error(`nextFrame() returned ${played?.length} samples for "${stream.playbackDevice}"; frameSamples is ${samples}`);
        }
      }
      this.played.push({ device: stream.playbackDevice, at: this.now(), pcm: played.slice() });
    }
    if (stream.captureDevice !== null) {
      const mic = this.nextCaptureFrame(stream);
      const position = stream.captured;
      stream.captured += samples;
      if (stream.captureWanted && stream.options.onCapture) {
        this.serviceWakeups += 1;
        const frame = { mic, reference: played.slice() };
        this.captured.push(frame);
        stream.options.onCapture({ ...frame, capturedAtMs: this.now(), position });
      }
    }
  }

  private resolve(wanted: string, direction: AudioDirection): string {
    if (this.closed) throw new Error('audio backend is closed');
    return resolveDevice(wanted, direction, this.devices).device.name;
  }

  private register(stream: OpenCapture | OpenPlayback): AudioStream {
    this.open.add(stream);
    return {
      deviceName: stream.deviceName,
      setRelaying: (relaying: boolean) => {
        stream.relaying = relaying;
      },
      close: async () => {
        this.open.delete(stream);
      },
    };
  }

  private captures(device?: string): (OpenCapture | OpenDuplex)[] {
    return [...this.open].filter(
      (stream): stream is OpenCapture | OpenDuplex =>
        (stream.direction === 'capture' && (device === undefined || stream.deviceName === device)) ||
        (stream.direction === 'duplex' && stream.captureDevice !== null && (device === undefined || stream.captureDevice === device)),
    );
  }

  private nextCaptureFrame(stream: OpenCapture | OpenDuplex): Int16Array {
    const samples = stream.options.frameSamples;
    if (stream.pending.length === 0) {
      const generated = this.captureSource?.(samples);
      if (generated && generated.length !== samples) throw new Error(`capture source returned ${generated.length} samples; frameSamples is ${samples}`);
      return generated ? generated.slice() : new Int16Array(samples);
    }
    const frame = new Int16Array(samples);
    let filled = 0;
    while (filled < samples && stream.pending.length > 0) {
      const head = stream.pending[0];
      const take = Math.min(samples - filled, head.length - stream.pendingOffset);
      frame.set(head.subarray(stream.pendingOffset, stream.pendingOffset + take), filled);
      filled += take;
      stream.pendingOffset += take;
      if (stream.pendingOffset === head.length) {
        stream.pending.shift();
        stream.pendingOffset = 0;
      }
    }
    return frame;
  }
}
