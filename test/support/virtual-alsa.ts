/**
 * Virtual ALSA sound devices for integration tests on machines without a sound card.
 *
 * Each microphone and speaker is an ALSA `file` PCM over the `null` slave whose data goes
 * through a named pipe (FIFO) held by this harness, wrapped in a `plug` PCM fixed at S16_LE,
 * 48 kHz, mono. The harness plays the part of the sound card's clock:
 *  - it writes each microphone FIFO in real time, 960 samples (20 ms) per 20 ms, from the
 *    signals a test queues with `mic.play()`, and silence in between; after a stall of this
 *    process it catches up by two frames at most and skips the rest of the time, as the speakers
 *    do, so the two sides of a card keep one clock; the sound of the skipped time (queued signal,
 *    a room's echo) is lost, not delayed;
 *  - it reads each speaker FIFO at the real-time rate in 5 ms steps and records every sample
 *    with the time it was read. The speaker pipe is shrunk to one page (4096 bytes, 42.7 ms)
 *    so that a program writing ahead cannot hide hundreds of ms in the pipe.
 * The FIFOs are held open read-write from the start, because PortAudio opens every defined PCM
 * when it initialises and blocks on a FIFO nobody holds. Programs see the devices through the
 * environment in `env` (ALSA_CONFIG_PATH).
 *
 * Usage (ava):
 *
 *     const alsa = await createVirtualAlsa({ mics: ['mic_a'], speakers: ['spk_a'] });
 *     t.teardown(() => alsa.dispose());
 *     const child = spawn('node', ['dist/cli/intercom.js', 'recv'], { env: { ...process.env, ...alsa.env } });
 *     const sentAt = await alsa.mic('mic_a').play(testSignal(48_000));
 *     const heard = await alsa.speaker('spk_a').waitForSignal(testSignal(48_000).subarray(0, 4_800));
 *     t.true(heard.time - sentAt < 200);
 *
 * Two units: `createVirtualAlsa({ mics: ['mic_a', 'mic_b'], speakers: ['spk_a', 'spk_b'] })` and
 * give each unit its own names (the same env serves both). No sound card at all:
 * `createVirtualAlsa({ mics: [], speakers: [] })` (PortAudio then lists no device).
 *
 * Things to know:
 *  - Programs must read the mic in 2.5/5/10/20 ms periods (PortAudio: framesPerBuffer 960;
 *    arecord: --period-size=960 --buffer-size=3840); other sizes make the file plugin pad
 *    partial reads with silence and run unpaced.
 *  - PortAudio starts playback with ~1920 frames (40 ms) of silence: search for signals with
 *    waitForSignal() rather than expecting them at sample 0.
 *  - A mic nobody reads fills its 64 KiB pipe in ~0.7 s; then frames are dropped (counted) and
 *    play() rejects. A program that starts capturing later first reads that backlog in a burst.
 *  - The clock runs on this process's event loop: keep the process that owns the harness
 *    responsive (run a deliberately blocking "service" in a child process).
 *
 * Timestamps are performance.now() of the process that created the harness.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findSignal } from './alsa-signal.js';
import { PacedFifoReader, isWouldBlock } from './paced-fifo-reader.js';

export const SAMPLE_RATE = 48_000;
export const MIC_FRAME_SAMPLES = 960; // 20 ms: the period the file plugin reads cleanly
const BYTES_PER_SAMPLE = 2;
const MIC_PERIOD_MS = (MIC_FRAME_SAMPLES / SAMPLE_RATE) * 1000;
const STEP_MS = 5;
const BYTES_PER_MS = (SAMPLE_RATE * BYTES_PER_SAMPLE) / 1000;
/** A speaker that had nothing to read catches up by at most this much, like a device that underran. */
const SPEAKER_MAX_CATCH_UP_MS = 20;
/** Mic frames written at once to catch up on a late tick; beyond this the time is skipped. */
const MIC_MAX_FRAMES_BEHIND = Math.ceil(SPEAKER_MAX_CATCH_UP_MS / MIC_PERIOD_MS) + 1;
const F_SETPIPE_SZ = 1031;

export interface VirtualAlsaOptions {
  /** Capture PCM names to define, e.g. ['mic_a', 'mic_b'] for two units. */
  mics?: string[];
  /** Playback PCM names to define. */
  speakers?: string[];
  /** What ALSA's "default" PCM captures from / plays to: the first mic and speaker unless given; null: no default. */
  defaultMic?: string | null;
  defaultSpeaker?: string | null;
  /** Speaker FIFO capacity in bytes (rounded up by Linux to a power-of-two number of pages). Default 4096. */
  speakerPipeBytes?: number;
  /**
   * An acoustic echo path: what `speaker` plays is fed into `mic` (added to what the mic plays),
   * as a speaker heard by the microphone beside it would be. Samples enter the mic queue when the
   * speaker's pipe is read, so they follow one mic period (<= 20 ms) later on average.
   */
  echo?: { speaker: string; mic: string };
}

export interface VirtualMic {
  readonly name: string;
  /** The FIFO behind it. */
  readonly fifoPath: string;
  /**
   * Queues `signal` behind anything still queued. Resolves with the time its first sample entered
   * the FIFO; rejects if that frame could not be written because nothing reads the mic (pipe full).
   */
  play(signal: Int16Array): Promise<number>;
  /** Frames written to the FIFO so far, and frames dropped because the FIFO was full. */
  readonly framesWritten: number;
  readonly framesDropped: number;
  /** Frames never written because this process stalled (its clock skipped them; nothing queued was lost). */
  readonly framesSkipped: number;
  /** Samples queued by play() and not yet written. */
  readonly queuedSamples: number;
  /** Stops feeding the FIFO (a stalled device: readers block) until resume(); no time passes for queued signals. */
  stall(): void;
  resume(): void;
  /**
   * Sound of the room around the mic: called with each 20 ms frame (already holding what play()
   * queued) just before it is written, to add into it, e.g. the echo of the unit's own speaker
   * (room-simulator/alsa-room.ts). null removes it.
   */
  setMixer(mixer: ((frame: Int16Array) => void) | null): void;
}

export interface SpeakerRead {
  /** performance.now() when these samples were read. */
  at: number;
  /** Index (into samples()) of the first sample of this read. */
  firstSample: number;
  count: number;
}

export interface VirtualSpeaker {
  readonly name: string;
  readonly fifoPath: string;
  /** Every sample read so far (a copy). */
  samples(): Int16Array;
  readonly sampleCount: number;
  /** Each read from the FIFO, in order. */
  readonly reads: readonly SpeakerRead[];
  /** When sample `index` was read from the FIFO (performance.now()), or undefined if not yet. */
  timeOfSample(index: number): number | undefined;
  /** Resolves once at least `count` samples have been read. */
  waitForSamples(count: number, timeoutMs?: number): Promise<void>;
  /** Stops reading the FIFO (a stalled device: writers block) until resume(). */
  stall(): void;
  resume(): void;
  /**
   * Resolves when `needle` has come out of the speaker (searching from sample `from`), with
   * where it starts and when its first sample was read.
   */
  waitForSignal(needle: Int16Array, options?: { from?: number; tolerance?: number; timeoutMs?: number }): Promise<{ index: number; time: number }>;
  /** Calls `listener` with the samples of every read from now on, as they are read; returns a function that stops it. */
  onSamples(listener: (samples: Int16Array, at: number) => void): () => void;
}

export interface VirtualAlsa {
  /** Temporary directory holding the config and the FIFOs. */
  readonly dir: string;
  /** The alsa-lib configuration file (includes the system's alsa.conf first). */
  readonly configPath: string;
  /** What a child process (or NaudiodonBackend's `env`) needs to see these devices. */
  readonly env: { ALSA_CONFIG_PATH: string };
  readonly micNames: readonly string[];
  readonly speakerNames: readonly string[];
  mic(name: string): VirtualMic;
  speaker(name: string): VirtualSpeaker;
  /** Stops the clock, closes the FIFOs and removes the directory. Safe to call twice. */
  dispose(): Promise<void>;
}

const PCM_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

function alsaConfig(mics: readonly MicDevice[], speakers: readonly SpeakerDevice[], defaultMic: string | null, defaultSpeaker: string | null): string {
  const lines = ['</usr/share/alsa/alsa.conf>', ''];
  for (const mic of mics) {
    lines.push(`pcm.${mic.name}_raw { type file  slave.pcm "null"  file "/dev/null"  infile "${mic.fifoPath}"  format "raw" }`);
    lines.push(`pcm.${mic.name} { type plug  slave { pcm "${mic.name}_raw"  format S16_LE  rate ${SAMPLE_RATE}  channels 1 } }`);
  }
  for (const speaker of speakers) {
    lines.push(`pcm.${speaker.name}_raw { type file  slave.pcm "null"  file "${speaker.fifoPath}"  format "raw" }`);
    lines.push(`pcm.${speaker.name} { type plug  slave { pcm "${speaker.name}_raw"  format S16_LE  rate ${SAMPLE_RATE}  channels 1 } }`);
  }
  if (defaultMic && defaultSpeaker) {
    lines.push(`pcm.!default { type asym  playback.pcm "${defaultSpeaker}"  capture.pcm "${defaultMic}" }`);
  } else if (defaultMic || defaultSpeaker) {
    lines.push(`pcm.!default { type plug  slave.pcm "${defaultMic ?? defaultSpeaker}" }`);
  }
  return lines.join('\n') + '\n';
}

/** Opens a FIFO without blocking and without ever getting EOF: we are a reader and a writer. */
function holdFifo(fifoPath: string): number {
  return openSync(fifoPath, constants.O_RDWR | constants.O_NONBLOCK);
}


class MicDevice implements VirtualMic {
  framesWritten = 0;
  framesDropped = 0;
  framesSkipped = 0;
  private readonly queue: { signal: Int16Array; offset: number; started: { resolve(at: number): void; reject(error: Error): void } }[] = [];
  private readonly frame = new Int16Array(MIC_FRAME_SAMPLES);
  private readonly frameBytes = new Uint8Array(this.frame.buffer);
  fd = -1;
  stalled = false;
  private mixer: ((frame: Int16Array) => void) | null = null;

  constructor(
    readonly name: string,
    readonly fifoPath: string,
  ) {}

  setMixer(mixer: ((frame: Int16Array) => void) | null): void {
    this.mixer = mixer;
  }

  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
  }

  get queuedSamples(): number {
    return this.queue.reduce((sum, entry) => sum + entry.signal.length - entry.offset, 0);
  }

  /** Echo path input: samples heard from a speaker, mixed into the following mic frames. */
  readonly echoQueue: Int16Array[] = [];
  private echoOffset = 0;

  play(signal: Int16Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (signal.length === 0) {
        resolve(performance.now());
        return;
      }
      this.queue.push({ signal, offset: 0, started: { resolve, reject } });
    });
  }

  /** Writes the next 20 ms: queued signal samples, then silence. */
  writeFrame(): void {
    if (this.stalled) return;
    const starting = this.composeFrame();
    try {
      writeSync(this.fd, this.frameBytes); // <= PIPE_BUF: all or nothing
      this.framesWritten += 1;
      const at = performance.now();
      for (const started of starting) started.resolve(at);
    } catch (error) {
      if (!isWouldBlock(error)) throw error;
      this.framesDropped += 1;
      for (const started of starting) started.reject(new Error(`mic "${this.name}": FIFO full, nothing is capturing from it`));
    }
  }

  /**
   * 20 ms the card lost (its capture overran while the harness stalled): the sound of that time
   * (queued signal, the room's echo) is gone, not delayed, as in the air around a real card.
   */
  skipFrame(): void {
    if (this.stalled) return;
    const starting = this.composeFrame();
    this.framesSkipped += 1;
    const at = performance.now();
    for (const started of starting) started.resolve(at);
  }

  /** Fills `frame` with the next 20 ms of sound; returns the queued signals that start in it. */
  private composeFrame(): { resolve(at: number): void; reject(error: Error): void }[] {
    this.frame.fill(0);
    const starting: { resolve(at: number): void; reject(error: Error): void }[] = [];
    let filled = 0;
    while (filled < MIC_FRAME_SAMPLES && this.queue.length > 0) {
      const entry = this.queue[0];
      if (entry.offset === 0) starting.push(entry.started);
      const take = Math.min(MIC_FRAME_SAMPLES - filled, entry.signal.length - entry.offset);
      this.frame.set(entry.signal.subarray(entry.offset, entry.offset + take), filled);
      entry.offset += take;
      filled += take;
      if (entry.offset === entry.signal.length) this.queue.shift();
    }
    this.mixer?.(this.frame);
    for (let index = 0; index < MIC_FRAME_SAMPLES && this.echoQueue.length > 0; index += 1) {
      const head = this.echoQueue[0];
      const sum = this.frame[index] + head[this.echoOffset];
      this.frame[index] = Math.max(-32768, Math.min(32767, sum));
      this.echoOffset += 1;
      if (this.echoOffset === head.length) {
        this.echoQueue.shift();
        this.echoOffset = 0;
      }
    }
    return starting;
  }

  dispose(): void {
    this.mixer = null;
    for (const entry of this.queue.splice(0)) entry.started.reject(new Error(`mic "${this.name}" disposed`));
  }
}

class SpeakerDevice implements VirtualSpeaker {
  readonly reads: SpeakerRead[] = [];
  private chunks: Int16Array[] = [];
  private count = 0;
  private oddByte: number | undefined;
  private readonly reader = new PacedFifoReader(BYTES_PER_MS, SPEAKER_MAX_CATCH_UP_MS, 65_536);
  private waiters = new Set<() => void>();
  private readonly listeners = new Set<(samples: Int16Array, at: number) => void>();
  private stalled = false;
  fd = -1;
  /** Where what this speaker plays is heard (an echo path), if anywhere. */
  echoTo: MicDevice | undefined;

  constructor(
    readonly name: string,
    readonly fifoPath: string,
  ) {}

  stall(): void {
    this.stalled = true;
  }

  resume(): void {
    this.stalled = false;
    this.reader.restart();
  }

  get sampleCount(): number {
    return this.count;
  }

  samples(): Int16Array {
    if (this.chunks.length > 1) {
      const joined = new Int16Array(this.count);
      let offset = 0;
      for (const chunk of this.chunks) {
        joined.set(chunk, offset);
        offset += chunk.length;
      }
      this.chunks = [joined];
    }
    return (this.chunks[0] ?? new Int16Array(0)).slice();
  }

  timeOfSample(index: number): number | undefined {
    let low = 0;
    let high = this.reads.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const read = this.reads[middle];
      if (index < read.firstSample) high = middle - 1;
      else if (index >= read.firstSample + read.count) low = middle + 1;
      else return read.at;
    }
    return undefined;
  }

  waitForSamples(count: number, timeoutMs = 10_000): Promise<void> {
    return this.waitUntil(() => this.count >= count, timeoutMs, () => `speaker "${this.name}": ${this.count} of ${count} samples after ${timeoutMs} ms`);
  }

  async waitForSignal(needle: Int16Array, options: { from?: number; tolerance?: number; timeoutMs?: number } = {}): Promise<{ index: number; time: number }> {
    let found = -1;
    let searchedUpTo = options.from ?? 0;
    const timeoutMs = options.timeoutMs ?? 10_000;
    await this.waitUntil(
      () => {
        if (this.count - searchedUpTo < needle.length) return false;
        const all = this.samples();
        found = findSignal(all, needle, { from: searchedUpTo, tolerance: options.tolerance });
        if (found < 0) searchedUpTo = Math.max(searchedUpTo, all.length - needle.length + 1);
        return found >= 0;
      },
      timeoutMs,
      () => `speaker "${this.name}": signal of ${needle.length} samples not heard within ${timeoutMs} ms (${this.count} samples read)`,
    );
    return { index: found, time: this.timeOfSample(found) ?? Number.NaN };
  }

  /** Reads what the real-time budget allows. */
  drain(now: number): void {
    if (this.stalled) return;
    this.reader.drain(this.fd, now, (bytes) => this.record(bytes, now));
    if (this.waiters.size > 0) for (const waiter of [...this.waiters]) waiter();
  }

  private record(bytes: Buffer, at: number): void {
    let data = bytes;
    if (this.oddByte !== undefined) {
      data = Buffer.concat([Buffer.from([this.oddByte]), bytes]);
      this.oddByte = undefined;
    }
    if (data.length % 2 === 1) {
      this.oddByte = data[data.length - 1];
      data = data.subarray(0, data.length - 1);
    }
    if (data.length === 0) return;
    const pcm = new Int16Array(data.length / 2);
    new Uint8Array(pcm.buffer).set(data);
    this.echoTo?.echoQueue.push(pcm);
    this.reads.push({ at, firstSample: this.count, count: pcm.length });
    this.chunks.push(pcm);
    this.count += pcm.length;
    for (const listener of this.listeners) listener(pcm, at);
  }

  onSamples(listener: (samples: Int16Array, at: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private waitUntil(done: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (done()) {
        resolve();
        return;
      }
      const check = () => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(describe()));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  dispose(): void {
    this.waiters.clear();
    this.listeners.clear();
  }
}

/** Creates the devices and starts their clock. Call dispose() when done (t.teardown). */
export async function createVirtualAlsa(options: VirtualAlsaOptions = {}): Promise<VirtualAlsa> {
  const micNames = options.mics ?? ['testmic'];
  const speakerNames = options.speakers ?? ['testspk'];
  const all = [...micNames, ...speakerNames];
  for (const name of all) {
    if (!PCM_NAME.test(name)) throw new Error(`PCM name "${name}" must be letters, digits and _`);
  }
  if (new Set(all).size !== all.length) throw new Error('mic and speaker names must be distinct');
  const defaultMic = options.defaultMic === undefined ? (micNames[0] ?? null) : options.defaultMic;
  const defaultSpeaker = options.defaultSpeaker === undefined ? (speakerNames[0] ?? null) : options.defaultSpeaker;

  const dir = mkdtempSync(path.join(os.tmpdir(), 'intercom-alsa-'));
  const mics = micNames.map((name) => new MicDevice(name, path.join(dir, `${name}.fifo`)));
  const speakers = speakerNames.map((name) => new SpeakerDevice(name, path.join(dir, `${name}.fifo`)));
  const configPath = path.join(dir, 'asoundrc');
  let timer: NodeJS.Timeout | undefined;
  let disposed = false;

  // If the test process ends without teardown (a crash, a timeout), still leave nothing behind.
  const removeOnExit = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeOnExit);

  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    process.off('exit', removeOnExit);
    clearTimeout(timer);
    for (const device of [...mics, ...speakers]) {
      device.dispose();
      if (device.fd >= 0) closeSync(device.fd);
      device.fd = -1;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const fifos = [...mics, ...speakers].map((device) => device.fifoPath);
    if (fifos.length > 0) execFileSync('mkfifo', ['-m', '600', ...fifos]);
    for (const device of [...mics, ...speakers]) device.fd = holdFifo(device.fifoPath);
    // The pipe's size belongs to the pipe, which lives as long as we hold it: set it once here.
    // Node has no fcntl; perl is part of every Debian system (perl-base is essential).
    // The microphones too: a real card's capture buffer holds tens of ms, and a default 64 KiB
    // pipe would hand a program that opens the mic late a 680 ms backlog in one burst.
    const pipeBytes = options.speakerPipeBytes ?? 4096;
    for (const speaker of [...mics, ...speakers]) {
      execFileSync('perl', [
        '-e',
        'open(my $f, "+<", $ARGV[0]) or die "open: $!"; fcntl($f, $ARGV[1] + 0, $ARGV[2] + 0) or die "F_SETPIPE_SZ: $!";',
        speaker.fifoPath,
        String(F_SETPIPE_SZ),
        String(pipeBytes),
      ]);
    }
    writeFileSync(configPath, alsaConfig(mics, speakers, defaultMic, defaultSpeaker));
    if (options.echo) {
      const from = speakers.find((speaker) => speaker.name === options.echo!.speaker);
      const to = mics.find((mic) => mic.name === options.echo!.mic);
      if (!from || !to) throw new Error(`echo path: no speaker "${options.echo.speaker}" or mic "${options.echo.mic}"`);
      from.echoTo = to;
    }
  } catch (error) {
    await dispose();
    throw error;
  }

  // Drift-free clock: every step is scheduled against the start time, not the previous step.
  const startedAt = performance.now();
  let step = 0;
  let micFramesDue = 0;
  const tick = () => {
    if (disposed) return;
    const now = performance.now();
    const framesDueNow = Math.floor((now - startedAt) / MIC_PERIOD_MS) + 1;
    // After a stall of this process, the time beyond the speakers' catch-up is lost on the mics
    // too, as on a card whose capture overran: a burst would hand a program more samples than
    // the time that passed, and its capture clock would run ahead of its playback for good.
    for (; framesDueNow - micFramesDue > MIC_MAX_FRAMES_BEHIND; micFramesDue += 1) for (const mic of mics) mic.skipFrame();
    for (; micFramesDue < framesDueNow; micFramesDue += 1) for (const mic of mics) mic.writeFrame();
    for (const speaker of speakers) speaker.drain(now);
    step = Math.max(step + 1, Math.floor((now - startedAt) / STEP_MS) + 1);
    timer = setTimeout(tick, Math.max(0, startedAt + step * STEP_MS - performance.now()));
  };
  tick();

  const byName = <T extends { name: string }>(devices: T[], kind: string, name: string): T => {
    const device = devices.find((candidate) => candidate.name === name);
    if (!device) throw new Error(`no virtual ${kind} "${name}" (have: ${devices.map((candidate) => candidate.name).join(', ') || 'none'})`);
    return device;
  };

  return {
    dir,
    configPath,
    env: { ALSA_CONFIG_PATH: configPath },
    micNames,
    speakerNames,
    mic: (name) => byName(mics, 'mic', name),
    speaker: (name) => byName(speakers, 'speaker', name),
    dispose,
  };
}

/** One unit's side of a conversation: its virtual mic and speaker, and what is said into the mic. */
export interface TalkingSide {
  mic: string;
  speaker: string;
  speech: Int16Array;
}

/**
 * Speaks into both microphones at once and waits until each speaker has played the other side's
 * speech and a second more. Returns what each speaker played from the moment the other side's
 * speech went in (at least the speech and that second).
 */
export async function speakBothWays(alsa: VirtualAlsa, a: TalkingSide, b: TalkingSide, timeoutMs = 30_000): Promise<{ onA: Int16Array; onB: Int16Array }> {
  const [speakerA, speakerB] = [alsa.speaker(a.speaker), alsa.speaker(b.speaker)];
  const [playedA, playedB] = await Promise.all([alsa.mic(a.mic).play(a.speech), alsa.mic(b.mic).play(b.speech)]);
  const startA = speakerA.reads.find((read) => read.at >= playedB)?.firstSample ?? speakerA.sampleCount;
  const startB = speakerB.reads.find((read) => read.at >= playedA)?.firstSample ?? speakerB.sampleCount;
  await Promise.all([
    speakerA.waitForSamples(startA + b.speech.length + SAMPLE_RATE, timeoutMs),
    speakerB.waitForSamples(startB + a.speech.length + SAMPLE_RATE, timeoutMs),
  ]);
  return { onA: speakerA.samples().subarray(startA), onB: speakerB.samples().subarray(startB) };
}
