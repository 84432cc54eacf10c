/**
 * One virtual sound card clocked in real time outside Node (for the mouth-to-ear benchmark and
 * the tests that stall the service's event loop): a microphone and a speaker that alsa-lib
 * programs (ours, trx, arecord) open by name, clocked by paced-card.c, a small real-time process
 * that logs when every 20 ms of microphone input went in and when every byte came out of the
 * speaker. See paced-card.c for the device shape and the log.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const SAMPLE_RATE = 48_000;
const BYTES_PER_SAMPLE = 2;
export const MIC_CHUNK_SAMPLES = 960;

const SOURCE = fileURLToPath(new URL('./paced-card.c', import.meta.url));

/** Compiles paced-card.c once per source version (into the OS temp dir) and returns the binary. */
export function pacedCardBinary(): string {
  const stamp = statSync(SOURCE).mtimeMs.toFixed(0);
  const binary = path.join(os.tmpdir(), `intercom-paced-card-${stamp}`);
  if (!existsSync(binary)) execFileSync('cc', ['-O2', '-o', binary, SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
  return binary;
}

export interface MicChunkLog {
  /** performance.now() of the write. */
  at: number;
  /** Byte offset in the input, or -1 for silence. */
  inputOffset: number;
  written: boolean;
}

export interface SpeakerStep {
  at: number;
  /** Bytes the program had written into the speaker by then (read + waiting in the pipe). */
  writtenBytes: number;
  /** Bytes the card had read (played) by the end of this step. */
  readBytes: number;
  /** How late this process ran the step (ms): a late step is caught up at once, so it says nothing of the program. */
  lateMs: number;
  /**
   * Play time the card has skipped so far (ms): what a program left it owing for longer than 20 ms,
   * as a card that underran skips it. Its echo comes that much later; a device behind alsa-lib's
   * file plugin cannot report it, as a real card reports an xrun.
   */
  lostMs: number;
}

export interface CardRecording {
  mic: MicChunkLog[];
  speaker: SpeakerStep[];
  /** Everything the speaker played, from the card's start. */
  output: Int16Array;
}

export interface PacedCard {
  readonly name: string;
  readonly micName: string;
  readonly speakerName: string;
  /** Environment for the programs: ALSA_CONFIG_PATH to a config with this card's two PCMs. */
  readonly env: { ALSA_CONFIG_PATH: string };
  /** This card's PCM definitions, to combine several cards in one alsa-lib configuration. */
  readonly pcmDefinitions: readonly string[];
  /** Starts the input at the next 20 ms; resolves when its first chunk has been written. */
  play(): Promise<void>;
  /** Resolves when all of the input has been written. */
  readonly done: Promise<void>;
  /** Holds the card's process still for `ms` (as a log write held up by a busy disk does): the
   * card must keep its clock through it. Resolves when it runs again. */
  holdProcess(ms: number): Promise<void>;
  /** Stops the clock and returns what was logged. */
  stop(): Promise<CardRecording>;
  dispose(): void;
}

/** performance.now() for a CLOCK_MONOTONIC time in ns (Node's hrtime is CLOCK_MONOTONIC). */
function monotonicToPerformance(ns: bigint): number {
  const offsetMs = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  return Number(ns) / 1e6 - offsetMs;
}

export interface PacedCardOptions {
  /** The microphone also hears what the speaker plays. */
  echo?: boolean;
  /** The microphone's clock against real time: 0.9 delivers 20 ms every 22.2 ms (default 1). */
  micRate?: number;
  /** The speaker's: 0.75 plays 20 ms in 26.7 ms of real time (default 1). */
  speakerRate?: number;
}

/**
 * Starts a card whose microphone will play `input` (48 kHz mono S16) when play() is called.
 * Devices are named `<name>_mic` and `<name>_spk`. With `echo`, the microphone also hears what
 * the speaker plays (each byte read from the speaker is added into the next microphone chunks).
 */
export async function startPacedCard(name: string, input: Int16Array, options: PacedCardOptions = {}): Promise<PacedCard> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `intercom-card-${name}-`));
  const micFifo = path.join(dir, 'mic.fifo');
  const speakerFifo = path.join(dir, 'spk.fifo');
  execFileSync('mkfifo', ['-m', '600', micFifo, speakerFifo]);
  const micName = `${name}_mic`;
  const speakerName = `${name}_spk`;
  const configPath = path.join(dir, 'asoundrc');
  const pcmDefinitions = [
    `pcm.${micName}_raw { type file  slave.pcm "null"  file "/dev/null"  infile "${micFifo}"  format "raw" }`,
    `pcm.${micName} { type plug  slave { pcm "${micName}_raw"  format S16_LE  rate ${SAMPLE_RATE}  channels 1 } }`,
    `pcm.${speakerName}_raw { type file  slave.pcm "null"  file "${speakerFifo}"  format "raw" }`,
    `pcm.${speakerName} { type plug  slave { pcm "${speakerName}_raw"  format S16_LE  rate ${SAMPLE_RATE}  channels 1 } }`,
  ];
  writeFileSync(configPath, ['</usr/share/alsa/alsa.conf>', ...pcmDefinitions, ''].join('\n'));
  const inputPath = path.join(dir, 'input.raw');
  writeFileSync(inputPath, Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  const outputPath = path.join(dir, 'output.raw');
  const logPath = path.join(dir, 'card.log');
  const cardOptions = [
    ...(options.echo ? ['echo'] : []),
    ...(options.micRate !== undefined ? [`mic-rate=${options.micRate}`] : []),
    ...(options.speakerRate !== undefined ? [`speaker-rate=${options.speakerRate}`] : []),
  ];
  const child: ChildProcess = spawn(pacedCardBinary(), [micFifo, speakerFifo, inputPath, outputPath, logPath, ...cardOptions], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const waiters = new Map<string, () => void>();
  const seen = new Set<string>();
  lines.on('line', (line) => {
    seen.add(line);
    waiters.get(line)?.();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const when = (line: string) =>
    new Promise<void>((resolve, reject) => {
      if (seen.has(line)) resolve();
      else waiters.set(line, resolve);
      void exited.then(() => reject(new Error(`paced card ${name} exited before "${line}"`)));
    });
  await when('ready');
  const done = when('done');
  done.catch(() => undefined);

  const dispose = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    name,
    micName,
    speakerName,
    env: { ALSA_CONFIG_PATH: configPath },
    pcmDefinitions,
    play: () => {
      child.stdin!.write('play\n');
      return when('playing');
    },
    done,
    holdProcess: (ms) =>
      new Promise<void>((resolve) => {
        child.kill('SIGSTOP');
        setTimeout(() => {
          child.kill('SIGCONT');
          resolve();
        }, ms);
      }),
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const mic: MicChunkLog[] = [];
      const speaker: SpeakerStep[] = [];
      for (const line of readFileSync(logPath, 'utf8').split('\n')) {
        const [kind, t, a, b, late, lost] = line.split(' ');
        if (kind === 'M') mic.push({ at: monotonicToPerformance(BigInt(t)), inputOffset: Number(a), written: b === '1' });
        else if (kind === 'S') speaker.push({ at: monotonicToPerformance(BigInt(t)), writtenBytes: Number(a), readBytes: Number(b), lateMs: Number(late ?? 0) / 1e6, lostMs: Number(lost ?? 0) / ((SAMPLE_RATE * 2) / 1000) });
      }
      const bytes = readFileSync(outputPath);
      const output = new Int16Array(Math.floor(bytes.length / BYTES_PER_SAMPLE));
      new Uint8Array(output.buffer).set(bytes.subarray(0, output.length * BYTES_PER_SAMPLE));
      return { mic, speaker, output };
    },
    dispose,
  };
}
