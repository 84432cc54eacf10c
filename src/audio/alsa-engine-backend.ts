/**
 * AudioBackend over the project's own duplex ALSA engine (src/audio/alsa-engine): capture and
 * playback on real-time threads inside the service process, 5 ms device periods, lock-free rings
 * to and from JavaScript, the playback reference for every captured frame. No helper process.
 *
 * The device threads never wait for JavaScript: when the event loop is late (a stall, a GC), the
 * engine plays concealment and this adapter, once it runs again, skips the write position to
 * where the device is and lets the jitter buffer catch up. Captured frames wait in the engine's
 * ring (640 ms) meanwhile.
 */
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
  type PlayoutTiming,
} from './audio-backend.js';
import type { AudioDirection } from './device-resolver.js';
import { ENGINE_EVENT, loadAlsaEngine, type AlsaEngineAddon, type NativeAlsaListing, type NativeEngine, type NativeEngineStats } from './alsa-engine-native.js';

const SAMPLE_RATE = 48_000;
const SAMPLES_PER_MS = SAMPLE_RATE / 1000;
/**
 * How far the low-water mark may rise (periods of 5 ms): a Pi answers within one; a busy or
 * emulated machine whose event loop is late by tens of ms needs more, at a cost in delay.
 */
const MAX_LOW_WATER_PERIODS = 8;
/**
 * The lowest low-water mark. The service's answers are not whole periods (it hands over all the
 * jitter buffer has decoded, a time-scaled packet), so the device thread, which looks at the ring
 * once a period, wakes the service with anything from the mark down to a period less in it: two
 * periods leave it at least one to answer in. The listener's delay holds the mark, not what was in
 * the ring at the wake-up (the jitter buffer reckons from the write position's playout time).
 */
const MIN_LOW_WATER_PERIODS = 2;
/** The low-water mark comes down a period after this long without a late refill. */
const LOW_WATER_DECAY_MS = 30_000;
/**
 * Late refills this soon after the devices start do not raise the low-water mark: starting a call
 * is a burst of one-off work (its key exchange, codecs, the first run of the audio path), and a
 * unit-to-unit call measured 2-3 late refills in its first 350 ms and at most one in the 30 s
 * after, yet held 15-20 ms more in the ring for the whole call. Lateness that lasts is caught
 * after the grace all the same.
 */
const START_GRACE_MS = 1_000;

export interface AlsaEngineBackendOptions {
  logger?: Logger;
  /** Device period in frames: 240 (5 ms). */
  periodFrames?: number;
  /** Periods in the playback device's buffer: its latency (default 3: 10-15 ms). */
  playbackPeriods?: number;
  /** Periods in the capture device's buffer: headroom only, it adds no delay (default 8). */
  capturePeriods?: number;
  /** SCHED_FIFO priority of the device threads where allowed (root, or LimitRTPRIO); 0: none. */
  realtimePriority?: number;
  /** How long opening may take (a FIFO-backed test device without its other end blocks). */
  openTimeoutMs?: number;
  /** A running direction that delivers nothing for this long has failed (a device that went quiet; default 3 s). */
  stallMs?: number;
}

/** alsa-lib's own "null" PCM (discards, or captures silence) is no sound device. */
const isSoundDevice = (pcm: NativeAlsaListing['pcms'][number]) => pcm.name !== null && pcm.name !== 'null';

/** Names of the devices alsa-lib knows for `direction`: advertised PCMs, then each card by id. */
function candidateNames(listing: NativeAlsaListing, direction: AudioDirection): string[] {
  const names = listing.pcms.filter((pcm) => isSoundDevice(pcm) && (pcm.direction === null || pcm.direction === direction)).map((pcm) => pcm.name!);
  for (const card of listing.cards) names.push(`plughw:CARD=${card.id},DEV=0`);
  return [...new Set(names)];
}

/**
 * The ALSA PCM name the configuration means: an ALSA name as it is ("default", "plughw:CARD=Device",
 * "hw:1,0", a PCM from asound.conf), or a case-insensitive part of a sound card's name or id
 * ("USB"), which becomes that card's plughw name, since card numbers change between boots.
 */
export function resolveAlsaDevice(wanted: string, direction: AudioDirection, listing: NativeAlsaListing): { name: string; matched: boolean } {
  const trimmed = wanted.trim();
  if (trimmed === '') throw new AudioDeviceNotFoundError(wanted, direction, candidateNames(listing, direction));
  if (trimmed.includes(':') || listing.pcms.some((pcm) => pcm.name === trimmed) || trimmed === 'default') return { name: trimmed, matched: true };
  const needle = trimmed.toLowerCase();
  const card = listing.cards.find((candidate) => candidate.id.toLowerCase() === needle) ?? listing.cards.find((candidate) => `${candidate.id} ${candidate.name}`.toLowerCase().includes(needle));
  if (card) return { name: `plughw:CARD=${card.id},DEV=0`, matched: true };
  const pcm = listing.pcms.find((candidate) => isSoundDevice(candidate) && (candidate.direction === null || candidate.direction === direction) && `${candidate.name} ${candidate.description ?? ''}`.toLowerCase().includes(needle));
  if (pcm?.name) return { name: pcm.name, matched: true };
  // Perhaps a PCM the configuration defines without a hint (as test rigs do): alsa-lib decides.
  return { name: trimmed, matched: false };
}

export class AlsaEngineBackend implements AudioBackend {
  private readonly addon: AlsaEngineAddon;
  private readonly logger: Logger;
  private readonly options: Required<Omit<AlsaEngineBackendOptions, 'logger'>>;
  private readonly streams = new Set<EngineDuplex>();
  /** Opens whose thread has not come back (a blocked device): no second one is started meanwhile. */
  private readonly pendingOpens = new Set<string>();

  /** @throws Error when the addon is not built or cannot load. */
  constructor(options: AlsaEngineBackendOptions = {}) {
    this.addon = loadAlsaEngine();
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.options = {
      periodFrames: options.periodFrames ?? 240,
      playbackPeriods: options.playbackPeriods ?? 3,
      capturePeriods: options.capturePeriods ?? 8,
      realtimePriority: options.realtimePriority ?? 50,
      openTimeoutMs: options.openTimeoutMs ?? 10_000,
      stallMs: options.stallMs ?? 3_000,
    };
  }

  async listDevices(): Promise<AudioDeviceInfo[]> {
    const listing = this.addon.listDevices();
    const devices: AudioDeviceInfo[] = [];
    for (const pcm of listing.pcms) {
      if (!isSoundDevice(pcm)) continue;
      devices.push({
        id: devices.length,
        name: pcm.name!,
        hostApi: 'ALSA',
        maxInputChannels: pcm.direction === 'playback' ? 0 : 1,
        maxOutputChannels: pcm.direction === 'capture' ? 0 : 1,
        defaultSampleRate: SAMPLE_RATE,
      });
    }
    for (const card of listing.cards) {
      devices.push({ id: devices.length, name: `plughw:CARD=${card.id},DEV=0`, hostApi: `ALSA card ${card.index}: ${card.name}`, maxInputChannels: 1, maxOutputChannels: 1, defaultSampleRate: SAMPLE_RATE });
    }
    return devices;
  }

  async openDuplex(options: DuplexOptions): Promise<DuplexStream> {
    const listing = this.addon.listDevices();
    const capture = options.captureDevice === null ? null : resolveAlsaDevice(options.captureDevice, 'capture', listing);
    const playback = options.playbackDevice === null ? null : resolveAlsaDevice(options.playbackDevice, 'playback', listing);
    const key = `${capture?.name ?? ''}|${playback?.name ?? ''}`;
    if (this.pendingOpens.has(key)) throw new Error(`opening "${key}" is still blocked in the audio library (a device without its other end?)`);
    let duplex: EngineDuplex | undefined;
    const opened = this.addon.open(
      {
        captureDevice: capture?.name ?? null,
        playbackDevice: playback?.name ?? null,
        periodFrames: this.options.periodFrames,
        playbackPeriods: this.options.playbackPeriods,
        capturePeriods: this.options.capturePeriods,
        frameSamples: options.frameSamples,
        realtimePriority: this.options.realtimePriority,
      },
      () => duplex?.onEvents(),
    );
    this.pendingOpens.add(key);
    const settled = opened.finally(() => this.pendingOpens.delete(key));
    let timer: NodeJS.Timeout | undefined;
    let native: NativeEngine;
    try {
      native = await Promise.race([
        settled,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`opening the audio devices (${key}) did not finish within ${this.options.openTimeoutMs} ms`)), this.options.openTimeoutMs);
        }),
      ]);
    } catch (error) {
      // An open that finishes after the timeout is closed at once.
      void settled.then((late) => late.close(), () => undefined);
      const message = (error as Error).message;
      const unmatched = [capture && !capture.matched ? (['capture', options.captureDevice!] as const) : null, playback && !playback.matched ? (['playback', options.playbackDevice!] as const) : null];
      for (const entry of unmatched) {
        if (entry && /No such file|Unknown|not found|Invalid argument/i.test(message) && message.includes(`"${entry[1].trim()}"`)) {
          throw new AudioDeviceNotFoundError(entry[1], entry[0], candidateNames(listing, entry[0]));
        }
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
    duplex = new EngineDuplex(this.addon, native, options, capture?.name ?? null, playback?.name ?? null, this.options, this.logger);
    const stream = duplex;
    this.streams.add(stream);
    stream.closed.then(() => this.streams.delete(stream), () => undefined);
    this.logger.info({ capture: capture?.name ?? null, playback: playback?.name ?? null, periodMs: this.options.periodFrames / SAMPLES_PER_MS, playbackPeriods: this.options.playbackPeriods }, 'ALSA engine opened');
    return stream;
  }

  async openCapture(options: CaptureOptions): Promise<AudioStream> {
    const duplex = await this.openDuplex({
      captureDevice: options.device,
      playbackDevice: null,
      frameSamples: options.frameSamples,
      onCapture: (frame) => options.onFrame(frame.mic, frame.position),
      onError: options.onError,
    });
    await duplex.setActive(true);
    return singleDirection(duplex, duplex.captureDevice!);
  }

  async openPlayback(options: PlaybackOptions): Promise<AudioStream> {
    const duplex = await this.openDuplex({
      captureDevice: null,
      playbackDevice: options.device,
      frameSamples: options.frameSamples,
      nextFrame: (timing) => options.nextFrame(timing),
      onError: options.onError,
    });
    await duplex.setActive(true);
    return singleDirection(duplex, duplex.playbackDevice!);
  }

  async close(): Promise<void> {
    await Promise.all([...this.streams].map((stream) => stream.close()));
  }
}

/** `intercom send`/`recv` use one direction: always active (relaying off stops the device). */
function singleDirection(duplex: DuplexStream, deviceName: string): AudioStream {
  return {
    deviceName,
    stats: () => duplex.stats(),
    setRelaying: (relaying) => void duplex.setActive(relaying),
    close: () => duplex.close(),
  };
}

export interface EngineDuplexStats extends NativeEngineStats {
  /** Samples the adapter keeps in the playback ring before waking for more. */
  lowWaterSamples: number;
  /** Times the service answered the device too late and the write position was moved on. */
  lateRefills: number;
  /** The same within a second of the devices starting, which leaves the low-water mark alone. */
  startLateRefills: number;
  /** Playback audio the service gave, in frames (it gives at least a period at a time, and all it has decoded). */
  framesPlayed: number;
  framesCaptured: number;
}

class EngineDuplex implements DuplexStream {
  active = false;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private closing: Promise<void> | undefined;
  private failed = false;
  private transition: Promise<void> | undefined;
  private desired = false;
  private stoppedWaiters: (() => void)[] = [];
  private readonly status = new Float64Array(4);
  private readonly frameSamples: number;
  private readonly periodFrames: number;
  /** The least playback audio asked for at a time: a device period (a frame at most). */
  private readonly blockSamples: number;
  /** performance.now() = engine clock - offset. */
  private readonly clockOffsetMs: number;
  private lowWaterPeriods = MIN_LOW_WATER_PERIODS;
  private lastLateAt = 0;
  private startedAt = 0;
  private refilledSinceStart = false;
  /** Device time the service missed (the engine played concealment), not yet given back as frames. */
  private missedSamples = 0;
  private lateRefills = 0;
  /** Late refills within START_GRACE_MS of a start, which leave the low-water mark alone. */
  private startLateRefills = 0;
  private samplesPlayed = 0;
  /** What of the service's last answer did not fit the ring, played before it is asked again. */
  private heldPlayback: Int16Array | null = null;
  private framesCaptured = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private lastProgress = { capture: -1, playback: -1, quietChecks: 0 };

  constructor(
    private readonly addon: AlsaEngineAddon,
    private readonly native: NativeEngine,
    private readonly options: DuplexOptions,
    readonly captureDevice: string | null,
    readonly playbackDevice: string | null,
    private readonly settings: Required<Omit<AlsaEngineBackendOptions, 'logger'>>,
    private readonly logger: Logger,
  ) {
    this.frameSamples = options.frameSamples;
    this.periodFrames = settings.periodFrames;
    this.blockSamples = Math.min(settings.periodFrames, options.frameSamples);
    this.clockOffsetMs = addon.nowMs() - performance.now();
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.applyLowWater();
  }

  /** Runs on the event loop whenever the device threads raised events. */
  onEvents(): void {
    let events: number;
    try {
      events = this.native.takeEvents();
    } catch {
      return; // closed meanwhile
    }
    // The speaker first: its ring is a period or two from running dry, while the capture ring
    // holds several periods, and a captured frame's way out (processing, Opus, SRTP, the socket)
    // took long enough to make the refill late, so the engine played concealment.
    if (events & ENGINE_EVENT.playback) this.refill();
    if (events & ENGINE_EVENT.capture) this.collectCapture();
    if (events & ENGINE_EVENT.error) this.fail(new Error(this.native.error() || 'the audio engine failed'));
    if (events & ENGINE_EVENT.stopped) for (const resolve of this.stoppedWaiters.splice(0)) resolve();
  }

  /**
   * Starts or stops the devices. Requests made while one is in progress collapse into the last
   * (a call that ends before its devices started never starts them).
   */
  setActive(active: boolean): Promise<void> {
    this.desired = active;
    this.transition ??= (async () => {
      try {
        while (this.active !== this.desired && !this.failed && !this.closing) await (this.desired ? this.start() : this.stop());
      } finally {
        this.transition = undefined;
      }
    })();
    return this.transition;
  }

  setCaptureWanted(wanted: boolean): void {
    if (!this.closing) this.native.setCaptureWanted(wanted);
  }

  stats(): EngineDuplexStats {
    const native = this.closing ? ({} as NativeEngineStats) : this.native.stats();
    return { ...native, lowWaterSamples: this.lowWaterPeriods * this.periodFrames, lateRefills: this.lateRefills, startLateRefills: this.startLateRefills, framesPlayed: Math.floor(this.samplesPlayed / this.frameSamples), framesCaptured: this.framesCaptured };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.transition?.catch(() => undefined);
      if (this.active || this.native.state() === 'stopping') await this.stop();
      this.native.close();
      this.resolveClosed();
    })();
    return this.closing;
  }

  private async start(): Promise<void> {
    if (this.active || this.failed) return;
    if (this.native.state() === 'stopping') await this.whenStopped();
    this.refilledSinceStart = false;
    this.missedSamples = 0;
    this.active = true;
    this.startedAt = performance.now();
    // Stopped between calls, the mark had no refills to come down in: it comes down for the time that passed.
    const idlePeriods = Math.floor((this.startedAt - this.lastLateAt) / LOW_WATER_DECAY_MS);
    if (idlePeriods > 0 && this.lowWaterPeriods > MIN_LOW_WATER_PERIODS) {
      this.lowWaterPeriods = Math.max(MIN_LOW_WATER_PERIODS, this.lowWaterPeriods - idlePeriods);
      this.lastLateAt = this.startedAt;
      this.applyLowWater();
    }
    // The first frames go into the ring before the device starts, which primes itself with them:
    // no concealment at the start of a call or a ring.
    this.refill();
    this.native.start();
    this.lastProgress = { capture: -1, playback: -1, quietChecks: 0 };
    this.watchdog = setInterval(() => this.checkProgress(), this.settings.stallMs / 2);
    this.watchdog.unref();
  }

  private async stop(): Promise<void> {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    if (!this.active && this.native.state() !== 'stopping') return;
    this.active = false;
    const stopped = this.whenStopped();
    this.native.stop();
    await stopped;
  }

  /** Resolves once the engine is idle again: on its STOPPED event, or seen by polling its state. */
  private whenStopped(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearInterval(check);
        resolve();
      };
      const check = setInterval(() => {
        const state = this.native.state();
        if (state === 'idle' || state === 'wedged') done();
      }, 20);
      this.stoppedWaiters.push(done);
    });
  }

  private collectCapture(): void {
    const onCapture = this.options.onCapture;
    const position = new Float64Array(1);
    for (;;) {
      const mic = new Int16Array(this.frameSamples);
      const reference = new Int16Array(this.frameSamples);
      const at = this.native.readCapture(mic, reference, position);
      if (at < 0) return;
      this.framesCaptured += 1;
      if (!onCapture) continue;
      try {
        onCapture({ mic, reference, capturedAtMs: at - this.clockOffsetMs, position: position[0] });
      } catch (error) {
        this.logger.error({ err: error }, 'onCapture threw; frame dropped');
      }
    }
  }

  /**
   * Keeps the playback ring just above the low-water mark: when the device thread says it is at
   * or below it, frames are asked for until it is above. Late (the device already played
   * concealment where our samples should have been): move the write position to the device's and
   * keep a period more in the ring from now on; after 30 s without being late, a period less.
   */
  private refill(): void {
    const nextFrame = this.options.nextFrame;
    if (!nextFrame || !this.active) return;
    const [read, written, playing, at] = this.readStatus();
    let write = written;
    const engineNow = this.addon.nowMs();
    const playingNow = at > 0 ? playing + (engineNow - at) * SAMPLES_PER_MS : read;
    const playoutAtMs = (position: number) => engineNow - this.clockOffsetMs + (position - playingNow) / SAMPLES_PER_MS;
    if (write < read) {
      if (this.refilledSinceStart) {
        this.late();
        this.missedSamples += read - write;
      }
      this.native.skipPlayback(read);
      // The device played concealment for the audio the service missed: that audio is taken (and
      // dropped) now, so the jitter buffer's timeline stays the device's and no delay piles up.
      while (this.missedSamples >= this.blockSamples) {
        const dropped = this.nextPlayback(nextFrame, { playoutAtMs: playoutAtMs(read - this.missedSamples), outputDelayMs: 0, samples: this.blockSamples }, false);
        if (dropped.length > this.missedSamples) this.heldPlayback = dropped.subarray(this.missedSamples);
        this.missedSamples = Math.max(0, this.missedSamples - dropped.length);
      }
      write = read;
    } else if (this.lowWaterPeriods > MIN_LOW_WATER_PERIODS && performance.now() - this.lastLateAt > LOW_WATER_DECAY_MS) {
      this.lowWaterPeriods -= 1;
      this.lastLateAt = performance.now();
      this.applyLowWater();
    }
    const starting = !this.refilledSinceStart;
    this.refilledSinceStart = true;
    const lowWater = this.lowWaterPeriods * this.periodFrames;
    // Steadily, audio is asked for when the ring is down to the low-water mark, with the device's
    // own buffer ahead of that: its due time, on the device's clock.
    const outputDelayMs = (lowWater + Math.max(0, read - playing)) / SAMPLES_PER_MS;
    const block = this.blockSamples;
    // Before the device starts, a whole frame goes in: it plays whole however late the service
    // answers for the next ones (a call's start-up work).
    while (write - read <= lowWater || (starting && write - read < this.frameSamples)) {
      const pcm = this.nextPlayback(nextFrame, { playoutAtMs: playoutAtMs(write), outputDelayMs, samples: block });
      const taken = this.native.writePlayback(pcm);
      this.samplesPlayed += taken;
      write += taken;
      if (taken < pcm.length) {
        // The ring is full: the rest goes in next time.
        this.heldPlayback = pcm.subarray(taken);
        break;
      }
    }
  }

  /**
   * What to play next: the rest of the service's last answer, or a new one. The service gives at
   * least a period, and all it has decoded with it (PlayoutTiming.samples), so the ring runs down
   * to the low-water mark, and the service is asked again, just when its next packet is due.
   */
  private nextPlayback(nextFrame: (timing: PlayoutTiming) => Int16Array, timing: PlayoutTiming & { samples: number }, logErrors = true): Int16Array {
    const held = this.heldPlayback;
    if (held) {
      this.heldPlayback = null;
      return held;
    }
    try {
      const answer = nextFrame(timing);
      if (answer.length > 0) return answer;
    } catch (error) {
      if (logErrors) this.logger.error({ err: error }, 'nextFrame threw; playing silence');
    }
    return new Int16Array(timing.samples);
  }

  private late(): void {
    if (performance.now() - this.startedAt < START_GRACE_MS) {
      this.startLateRefills += 1;
      return;
    }
    this.lateRefills += 1;
    this.lastLateAt = performance.now();
    if (this.lowWaterPeriods < MAX_LOW_WATER_PERIODS) {
      this.lowWaterPeriods += 1;
      this.applyLowWater();
    }
  }

  private applyLowWater(): void {
    this.native.setLowWater(this.lowWaterPeriods * this.periodFrames);
  }

  private readStatus(): Float64Array {
    this.native.playbackStatus(this.status);
    return this.status;
  }

  /** A running device that delivers nothing (a FIFO whose writer stalled, a wedged driver) has failed. */
  private checkProgress(): void {
    if (!this.active || this.closing) return;
    const stats = this.native.stats();
    const captureQuiet = this.captureDevice !== null && stats.capturePeriods === this.lastProgress.capture;
    const playbackQuiet = this.playbackDevice !== null && stats.playbackPeriods === this.lastProgress.playback;
    this.lastProgress = { capture: stats.capturePeriods, playback: stats.playbackPeriods, quietChecks: captureQuiet || playbackQuiet ? this.lastProgress.quietChecks + 1 : 0 };
    if (this.lastProgress.quietChecks >= 2) {
      const which = captureQuiet ? `capture device "${this.captureDevice}"` : `playback device "${this.playbackDevice}"`;
      this.fail(new Error(`the ${which} stopped moving (no audio for ${this.settings.stallMs} ms)`));
    }
  }

  private fail(error: Error): void {
    if (this.failed || this.closing) return;
    this.failed = true;
    clearInterval(this.watchdog);
    this.logger.warn({ err: error, stats: this.stats() }, 'ALSA engine failed');
    if (this.options.onError) this.options.onError(error);
    void this.close();
  }
}
