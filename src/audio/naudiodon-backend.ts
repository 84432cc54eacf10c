/**
 * AudioBackend over naudiodon (PortAudio), with every stream in its own audio host child process
 * (naudiodon-host.ts): naudiodon's stdout chatter, crash handler, blocking audio thread and
 * reported long-run crashes stay out of the service, and a stuck device can always be ended.
 */
import os from 'node:os';
import { pino, type Logger } from 'pino';
import {
  AudioDeviceNotFoundError,
  type AudioBackend,
  type AudioDeviceInfo,
  type AudioStream,
  type CaptureOptions,
  type DuplexOptions,
  type DuplexStream,
  type PlaybackOptions,
} from './audio-backend.js';
import { composeDuplex } from './composed-duplex.js';
import { AudioHostError, AudioHostProcess, describeExit } from './audio-host-process.js';
import type { AudioDirection } from './device-resolver.js';
import {
  RecordKind,
  bytesToPcm,
  encodeRecord,
  pcmToBytes,
  sharedClockMs,
  type HostStreamStats,
  type HostToParentMessage,
} from './host-protocol.js';

export interface NaudiodonBackendOptions {
  logger?: Logger;
  /** Environment of the audio host processes (default: ours), e.g. with ALSA_CONFIG_PATH. */
  env?: NodeJS.ProcessEnv;
  /** Default 48000; everything above the backend is 48 kHz mono S16. */
  sampleRate?: number;
  /** Where the hosts run (naudiodon's crash.log lands here). Default os.tmpdir(). */
  scratchDir?: string;
  /** How long listing or opening may take before the host is killed. Default 10 s. */
  startTimeoutMs?: number;
  /** How long a host may take to quit before it is killed. Default 2 s. */
  closeTimeoutMs?: number;
}

export interface AudioStreamStats {
  /** Frames delivered to onFrame (capture) or answered from nextFrame (playback). */
  frames: number;
  /** Capture: records of the wrong size dropped. Playback: nextFrame results of the wrong size, fixed up. */
  malformed: number;
  /** Playback: nextFrame threw; silence was sent instead. Capture: onFrame threw. */
  callbackErrors: number;
  /** The host's own counts, as last reported (every 5 s and at close). */
  host: HostStreamStats;
  /** Capture: ms from the host reading a frame to onFrame, last and worst seen. */
  hostToParentMs: { last: number; max: number };
}

export interface NaudiodonStream extends AudioStream {
  readonly direction: AudioDirection;
  /** Process id of the audio host, for diagnostics. */
  readonly hostPid: number | undefined;
  stats(): AudioStreamStats;
  setRelaying(relaying: boolean): void;
}

type OpenAnswer = Extract<HostToParentMessage, { type: 'opened' | 'not-found' | 'failed' }>;
const isOpenAnswer = (message: HostToParentMessage): message is OpenAnswer =>
  message.type === 'opened' || message.type === 'not-found' || message.type === 'failed';
type ListAnswer = Extract<HostToParentMessage, { type: 'devices' | 'failed' }>;
const isListAnswer = (message: HostToParentMessage): message is ListAnswer => message.type === 'devices' || message.type === 'failed';

export class NaudiodonBackend implements AudioBackend {
  private readonly logger: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private readonly sampleRate: number;
  private readonly scratchDir: string;
  private readonly startTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly hosts = new Set<AudioHostProcess>();
  private readonly streams = new Set<HostStream>();

  constructor(options: NaudiodonBackendOptions = {}) {
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.env = options.env ?? process.env;
    this.sampleRate = options.sampleRate ?? 48_000;
    this.scratchDir = options.scratchDir ?? os.tmpdir();
    this.startTimeoutMs = options.startTimeoutMs ?? 10_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
  }

  /** Audio host processes currently running (for leak checks and diagnostics). */
  get hostCount(): number {
    return this.hosts.size;
  }

  async listDevices(): Promise<AudioDeviceInfo[]> {
    const host = this.startHost('list devices');
    try {
      const answer = await host.request({ type: 'list' }, isListAnswer, this.startTimeoutMs);
      if (answer.type === 'failed') throw new AudioHostError(answer.message);
      return answer.devices.map(({ id, name, hostApi, maxInputChannels, maxOutputChannels, defaultSampleRate }) => ({
        id,
        name,
        hostApi,
        maxInputChannels,
        maxOutputChannels,
        defaultSampleRate,
      }));
    } finally {
      await host.stop(this.closeTimeoutMs);
    }
  }

  openCapture(options: CaptureOptions): Promise<NaudiodonStream> {
    return this.open('capture', options.device, options.frameSamples, options.onError, (stream) => stream.deliverCaptured(options));
  }

  openPlayback(options: PlaybackOptions): Promise<NaudiodonStream> {
    return this.open('playback', options.device, options.frameSamples, options.onError, (stream) => stream.answerPulls(options));
  }

  /**
   * Capture and playback hosts composed into one stream. The reference is what was played three
   * frames earlier: the playback host's frame in flight plus PortAudio's two queued ones, against
   * a captured frame that is one frame old when it arrives (an estimate, not a measurement).
   */
  openDuplex(options: DuplexOptions): Promise<DuplexStream> {
    return composeDuplex(this, { ...options, referenceDelayFrames: 3 });
  }

  async close(): Promise<void> {
    await Promise.all([...this.streams].map((stream) => stream.close()));
    await Promise.all([...this.hosts].map((host) => host.stop(this.closeTimeoutMs)));
  }

  private startHost(label: string): AudioHostProcess {
    const host = new AudioHostProcess({ logger: this.logger, env: this.env, scratchDir: this.scratchDir, label });
    this.hosts.add(host);
    void host.exited.then(() => this.hosts.delete(host));
    return host;
  }

  private async open(
    direction: AudioDirection,
    device: string,
    frameSamples: number,
    onError: ((error: Error) => void) | undefined,
    wire: (stream: HostStream) => void,
  ): Promise<NaudiodonStream> {
    if (!Number.isInteger(frameSamples) || frameSamples <= 0) throw new RangeError(`frameSamples must be a positive integer, got ${frameSamples}`);
    const host = this.startHost(`${direction} ${device}`);
    const stream = new HostStream(host, direction, frameSamples, this.closeTimeoutMs, this.logger, onError);
    wire(stream); // before asking: the first records may arrive right behind the answer
    let answer: OpenAnswer;
    try {
      answer = await host.request(
        { type: 'open', direction, device, frameSamples, sampleRate: this.sampleRate },
        isOpenAnswer,
        this.startTimeoutMs,
      );
    } catch (error) {
      await host.stop(this.closeTimeoutMs);
      throw error;
    }
    if (answer.type !== 'opened') {
      await host.stop(this.closeTimeoutMs);
      if (answer.type === 'not-found') throw new AudioDeviceNotFoundError(answer.wanted, answer.direction, answer.available);
      throw new AudioHostError(answer.message);
    }
    if (answer.otherMatches.length > 0) {
      this.logger.warn({ wanted: device, opened: answer.deviceName, alsoMatched: answer.otherMatches }, `"${device}" matches several ${direction} devices; using the first`);
    }
    this.logger.info({ direction, wanted: device, device: answer.deviceName, hostPid: host.pid }, 'audio device opened');
    setTimeout(() => host.flushOutput(), 1_000).unref(); // summarise PortAudio's start-up noise soon
    stream.markOpened(answer.deviceName);
    this.streams.add(stream);
    void host.exited.then(() => this.streams.delete(stream));
    return stream;
  }
}

class HostStream implements NaudiodonStream {
  deviceName = '';
  private opened = false;
  private errorReported = false;
  private closing: Promise<void> | undefined;
  private readonly counts: Omit<AudioStreamStats, 'host' | 'hostToParentMs'> = { frames: 0, malformed: 0, callbackErrors: 0 };
  private hostStats: HostStreamStats = { frames: 0, silenceInserted: 0, lateDropped: 0, backlogDropped: 0, leadFrames: 0 };
  private readonly latency = { last: 0, max: 0 };

  constructor(
    private readonly host: AudioHostProcess,
    readonly direction: AudioDirection,
    private readonly frameSamples: number,
    private readonly closeTimeoutMs: number,
    private readonly logger: Logger,
    private readonly onError: ((error: Error) => void) | undefined,
  ) {
    host.onMessage((message) => {
      if (message.type === 'stats') this.hostStats = message.stats;
      if (message.type === 'failed' && this.opened && !this.closing) this.reportError(new AudioHostError(message.message));
    });
    void host.exited.then((exit) => {
      if (this.opened && !this.closing) {
        this.reportError(new AudioHostError(`the ${direction} audio host for "${this.deviceName}" exited unexpectedly (${describeExit(exit)})${host.lastWords()}`));
      }
    });
  }

  get hostPid(): number | undefined {
    return this.host.pid;
  }

  markOpened(deviceName: string): void {
    this.deviceName = deviceName;
    this.opened = true;
  }

  deliverCaptured(options: CaptureOptions): void {
    const frameBytes = this.frameSamples * 2;
    this.host.onRecord((record) => {
      if (record.kind !== RecordKind.CapturedFrame || this.closing) return;
      if (record.payload.length !== frameBytes) {
        this.counts.malformed += 1;
        return;
      }
      const delay = sharedClockMs() - record.timestamp;
      this.latency.last = delay;
      this.latency.max = Math.max(this.latency.max, delay);
      this.counts.frames += 1;
      try {
        options.onFrame(bytesToPcm(record.payload));
      } catch (error) {
        this.counts.callbackErrors += 1;
        this.logger.error({ err: error, device: this.deviceName }, 'capture onFrame threw; frame dropped');
      }
    });
  }

  answerPulls(options: PlaybackOptions): void {
    const silence = new Int16Array(this.frameSamples);
    this.host.onRecord((record) => {
      if (record.kind !== RecordKind.PlaybackPull || this.closing) return;
      let frame: Int16Array;
      try {
        frame = options.nextFrame();
      } catch (error) {
        this.counts.callbackErrors += 1;
        this.logger.error({ err: error, device: this.deviceName }, 'playback nextFrame threw; playing silence');
        frame = silence;
      }
      if (frame.length !== this.frameSamples) {
        this.counts.malformed += 1;
        const fixed = new Int16Array(this.frameSamples);
        fixed.set(frame.subarray(0, this.frameSamples));
        frame = fixed;
      }
      this.counts.frames += 1;
      this.host.sendRecord(encodeRecord(RecordKind.PlaybackFrame, pcmToBytes(frame)));
    });
  }

  setRelaying(relaying: boolean): void {
    this.host.tell({ type: 'relay', on: relaying });
  }

  stats(): AudioStreamStats {
    return { ...this.counts, host: { ...this.hostStats }, hostToParentMs: { ...this.latency } };
  }

  close(): Promise<void> {
    this.closing ??= this.host.stop(this.closeTimeoutMs);
    return this.closing;
  }

  private reportError(error: Error): void {
    if (this.errorReported) return; // a failure message and the exit that follows are one failure
    this.errorReported = true;
    if (this.onError) this.onError(error);
    else this.logger.error({ err: error }, 'audio stream failed');
  }
}
