/**
 * Virtual sound cards for the load test: one microphone and one speaker per unit, each unit with
 * its own alsa-lib config (so a unit's PortAudio sees only its own two devices, not 40), all
 * clocked by one timer in this process.
 *
 * Same device shape and clock as test/support/virtual-alsa.ts (ALSA `file` PCMs over FIFOs held
 * read-write, one-page pipes, mics written 20 ms per 20 ms, speakers drained in 5 ms steps), but
 * built for long runs with many devices:
 *  - each microphone plays its unit's own sine tone continuously (phase-continuous), so any
 *    speaker's output says whose microphone it came from;
 *  - each speaker keeps only its last `historySeconds` of samples in a ring buffer (the general
 *    harness keeps everything, ~1.2 GB for 20 speakers over 10 minutes, and copies it on read).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PacedFifoReader, isWouldBlock } from '../support/paced-fifo-reader.js';
import { syllableSounds } from '../support/tone-check.js';

export const SAMPLE_RATE = 48_000;
const FRAME_SAMPLES = 960; // 20 ms: the period the file plugin reads cleanly
const FRAME_MS = 20;
const STEP_MS = 5;
const BYTES_PER_MS = (SAMPLE_RATE * 2) / 1000;
/** A speaker that had nothing to read catches up by at most this much, like a device that underran. */
const SPEAKER_MAX_CATCH_UP_MS = 20;
const F_SETPIPE_SZ = 1031;
const PIPE_BYTES = 4096;
const TONE_AMPLITUDE = 8000;

export interface ToneCardOptions {
  /** PCM-safe name (letters, digits, _). */
  name: string;
  /** The tone this card's microphone plays. */
  toneHz: number;
}

export interface ToneSpeaker {
  /** Samples read from the speaker FIFO so far (a running index, never reset). */
  readonly sampleCount: number;
  /** Samples [from, to) if still in the history, else undefined. */
  window(from: number, to: number): Int16Array | undefined;
  /** Resolves once `count` samples have been read in total; rejects after `timeoutMs`. */
  waitForSamples(count: number, timeoutMs?: number): Promise<void>;
}

export interface ToneCard {
  readonly name: string;
  readonly toneHz: number;
  /** Environment for the unit process (ALSA_CONFIG_PATH to this card's own config). */
  readonly env: { ALSA_CONFIG_PATH: string };
  readonly captureDevice: string;
  readonly playbackDevice: string;
  readonly speaker: ToneSpeaker;
  /** Mic frames dropped because nothing was reading the mic (FIFO full). */
  readonly micFramesDropped: number;
}

export interface ToneSoundCards {
  readonly dir: string;
  card(name: string): ToneCard;
  readonly cards: readonly ToneCard[];
  /** Longest gap between two clock ticks since the start or resetMaxTickGap(), ms: how responsive this process stayed. */
  readonly maxTickGapMs: number;
  resetMaxTickGap(): void;
  dispose(): void;
}

function holdFifo(fifoPath: string): number {
  return openSync(fifoPath, constants.O_RDWR | constants.O_NONBLOCK);
}


/** Frames a microphone keeps while its pipe is full: 100 ms, then it overruns. */
const MIC_PENDING_FRAMES = 5;

class ToneMic {
  framesDropped = 0;
  /**
   * Frames made late, not yet in the pipe. This process clocks forty devices: a tick of it that ran
   * late makes several frames at once, more than the one-page pipe holds; they wait for room (the
   * unit reads them within a period) instead of being lost, or the sending unit would run short,
   * as if its card's clock were slow, because this process was busy. A frame made on time that
   * finds the pipe full is dropped: nobody read the microphone in time (an overrun).
   */
  private readonly pending: Uint8Array[] = [];
  private phase = 0;
  /** In syllables, as speech comes: a steady tone is what the unit's noise suppression removes. */
  private sampleIndex = 0;
  private readonly frame = new Int16Array(FRAME_SAMPLES);
  private readonly frameBytes = new Uint8Array(this.frame.buffer);
  private readonly phaseStep: number;

  constructor(
    readonly fd: number,
    toneHz: number,
  ) {
    this.phaseStep = (2 * Math.PI * toneHz) / SAMPLE_RATE;
  }

  writeFrame(madeLate: boolean): void {
    for (let i = 0; i < FRAME_SAMPLES; i += 1) {
      this.frame[i] = syllableSounds(this.sampleIndex) ? Math.round(TONE_AMPLITUDE * Math.sin(this.phase)) : 0;
      this.phase += this.phaseStep;
      this.sampleIndex += 1;
    }
    this.phase %= 2 * Math.PI;
    this.flush();
    if (this.pending.length === 0) {
      try {
        writeSync(this.fd, this.frameBytes); // <= PIPE_BUF: all or nothing
        return;
      } catch (error) {
        if (!isWouldBlock(error)) throw error;
      }
    }
    if (!madeLate || this.pending.length >= MIC_PENDING_FRAMES) {
      this.framesDropped += 1;
      return;
    }
    this.pending.push(this.frameBytes.slice());
  }

  /** Into the pipe, oldest first, as far as it has room. */
  flush(): void {
    while (this.pending.length > 0) {
      try {
        writeSync(this.fd, this.pending[0]); // <= PIPE_BUF: all or nothing
      } catch (error) {
        if (!isWouldBlock(error)) throw error;
        return;
      }
      this.pending.shift();
    }
  }
}

class RingSpeaker implements ToneSpeaker {
  sampleCount = 0;
  private readonly history: Int16Array;
  private readonly reader = new PacedFifoReader(BYTES_PER_MS, SPEAKER_MAX_CATCH_UP_MS, 8192);
  private oddByte: number | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly fd: number,
    historySamples: number,
  ) {
    this.history = new Int16Array(historySamples);
  }

  window(from: number, to: number): Int16Array | undefined {
    if (from < 0 || to > this.sampleCount || from < this.sampleCount - this.history.length || to < from) return undefined;
    const out = new Int16Array(to - from);
    for (let i = from; i < to; i += 1) out[i - from] = this.history[i % this.history.length];
    return out;
  }

  waitForSamples(count: number, timeoutMs = 10_000): Promise<void> {
    if (this.sampleCount >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.sampleCount < count) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`speaker: ${this.sampleCount} of ${count} samples after ${timeoutMs} ms (the unit stopped playing)`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  drain(now: number): void {
    this.reader.drain(this.fd, now, (bytes) => this.record(bytes));
    if (this.waiters.size > 0) for (const waiter of [...this.waiters]) waiter();
  }

  private record(bytes: Buffer): void {
    let offset = 0;
    if (this.oddByte !== undefined) {
      this.push((bytes[0] << 8) | this.oddByte);
      this.oddByte = undefined;
      offset = 1;
    }
    for (; offset + 1 < bytes.length; offset += 2) this.push(bytes.readInt16LE(offset));
    if (offset < bytes.length) this.oddByte = bytes[offset];
  }

  private push(sample: number): void {
    this.history[this.sampleCount % this.history.length] = sample;
    this.sampleCount += 1;
  }
}

/** Creates one microphone + speaker per unit and starts their shared clock. Call dispose() when done. */
export function createToneSoundCards(options: ToneCardOptions[], historySeconds = 5): ToneSoundCards {
  for (const { name } of options) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new Error(`card name "${name}" must be letters, digits and _`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'intercom-load-alsa-'));
  const removeOnExit = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeOnExit);
  const fds: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    clearTimeout(timer);
    process.off('exit', removeOnExit);
    for (const fd of fds.splice(0)) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  };

  const mics: ToneMic[] = [];
  const speakers: RingSpeaker[] = [];
  const cards: ToneCard[] = [];
  try {
    const fifos = options.flatMap(({ name }) => [path.join(dir, `${name}_mic.fifo`), path.join(dir, `${name}_spk.fifo`)]);
    execFileSync('mkfifo', ['-m', '600', ...fifos]);
    // Held read-write before anything else: the pipe (and the size set below) lives as long as we hold it,
    // and PortAudio's open of a FIFO nobody holds would block.
    const held = new Map(fifos.map((fifo) => [fifo, holdFifo(fifo)]));
    fds.push(...held.values());
    // Node has no fcntl; perl (essential on Debian) sets every pipe to one page in one call.
    execFileSync('perl', [
      '-e',
      'my $size = 0 + shift; for my $p (@ARGV) { open(my $f, "+<", $p) or die "open $p: $!"; fcntl($f, ' + F_SETPIPE_SZ + ', $size) or die "F_SETPIPE_SZ: $!"; }',
      String(PIPE_BYTES),
      ...fifos,
    ]);
    for (const { name, toneHz } of options) {
      const micPath = path.join(dir, `${name}_mic.fifo`);
      const speakerPath = path.join(dir, `${name}_spk.fifo`);
      const micFd = held.get(micPath)!;
      const speakerFd = held.get(speakerPath)!;
      const mic = new ToneMic(micFd, toneHz);
      const speaker = new RingSpeaker(speakerFd, historySeconds * SAMPLE_RATE);
      mics.push(mic);
      speakers.push(speaker);
      const configPath = path.join(dir, `${name}.asoundrc`);
      const captureDevice = `${name}_mic`;
      const playbackDevice = `${name}_spk`;
      writeFileSync(
        configPath,
        [
          '</usr/share/alsa/alsa.conf>',
          `pcm.${captureDevice}_raw { type file  slave.pcm "null"  file "/dev/null"  infile "${micPath}"  format "raw" }`,
          `pcm.${captureDevice} { type plug  slave { pcm "${captureDevice}_raw"  format S16_LE  rate ${SAMPLE_RATE}  channels 1 } }`,
          `pcm.${playbackDevice}_raw { type file  slave.pcm "null"  file "${speakerPath}"  format "raw" }`,
          `pcm.${playbackDevice} { type plug  slave { pcm "${playbackDevice}_raw"  format S16_LE  rate ${SAMPLE_RATE}  channels 1 } }`,
          '',
        ].join('\n'),
      );
      cards.push({
        name,
        toneHz,
        env: { ALSA_CONFIG_PATH: configPath },
        captureDevice,
        playbackDevice,
        speaker,
        get micFramesDropped() {
          return mic.framesDropped;
        },
      });
    }
  } catch (error) {
    dispose();
    throw error;
  }

  // Drift-free clock: every step is scheduled against the start time, not the previous step.
  const startedAt = performance.now();
  let step = 0;
  let micFramesDue = 0;
  let lastTickAt = startedAt;
  let maxTickGapMs = 0;
  const tick = () => {
    if (disposed) return;
    const now = performance.now();
    maxTickGapMs = Math.max(maxTickGapMs, now - lastTickAt);
    lastTickAt = now;
    const framesDueNow = Math.floor((now - startedAt) / FRAME_MS) + 1;
    for (const mic of mics) mic.flush();
    for (; micFramesDue < framesDueNow; micFramesDue += 1) {
      const madeLate = now - (startedAt + micFramesDue * FRAME_MS) > STEP_MS;
      for (const mic of mics) mic.writeFrame(madeLate);
    }
    for (const speaker of speakers) speaker.drain(now);
    step = Math.max(step + 1, Math.floor((now - startedAt) / STEP_MS) + 1);
    timer = setTimeout(tick, Math.max(0, startedAt + step * STEP_MS - performance.now()));
  };
  tick();

  return {
    dir,
    cards,
    card(name) {
      const card = cards.find((candidate) => candidate.name === name);
      if (!card) throw new Error(`no card "${name}"`);
      return card;
    },
    get maxTickGapMs() {
      return maxTickGapMs;
    },
    resetMaxTickGap() {
      maxTickGapMs = 0;
    },
    dispose,
  };
}
