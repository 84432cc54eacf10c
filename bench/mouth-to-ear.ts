/**
 * Mouth-to-ear delay, quality, CPU and memory of a one-way audio link, ours beside trx (Debian's
 * `trx`, the peer to beat), through the same paced virtual sound card in the same run.
 *
 *   npx tsx bench/mouth-to-ear.ts [--repeat N] [--only label,...]
 *
 * Each contender is a sender on the card's microphone and a receiver on its speaker, on loopback,
 * directly or through the impairment proxy (test/support/impairment-proxy.ts). 29 s of speech-like
 * sentences, each led by a chirp, go into the microphone; see support/marked-speech.ts for what is
 * measured. CPU is utime+stime of the sender and receiver processes and all their children, per
 * second of audio, over the time the speech played; memory is the sum of their peak resident sets.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ImpairmentProxy, type ImpairmentOptions } from '../test/support/impairment-proxy.js';
import { SAMPLE_RATE, startPacedCard, type PacedCard } from '../test/support/paced-card.js';
import { analyse, markedSpeech, type MouthToEarResult } from './support/marked-speech.js';
import { sampleTree } from './support/process-tree.js';
import { WireTap } from './support/wire-tap.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const CLI = path.join(REPO, 'dist', 'cli', 'intercom.js');
const SENTENCES = 10;
/** After the programs start, before the speech: devices open, streams settle. */
const WARM_UP_MS = 3_000;

export interface LinkPrograms {
  /** Processes making up the link (sender, receiver); measured with their children. */
  processes: ChildProcess[];
  /** The receiver's own figures when it reports them (ours: underruns, concealment). */
  receiverFigures?: () => Record<string, unknown> | undefined;
  /** Every status it reported (ours: once a second), with when it came. */
  receiverStatuses?: () => { at: number; figures: Record<string, unknown> }[];
}

/** The paced card's clocks and the length of the speech (default: real time, SENTENCES). */
export interface CardSetup {
  micRate?: number;
  speakerRate?: number;
  sentences?: number;
}

export interface Contender {
  label: string;
  /** Starts receiver and sender on the card; `sendTo` is where the sender sends (proxy or receiver). */
  start(card: PacedCard, ports: { receiver: number }, sendTo: () => Promise<number>): Promise<LinkPrograms>;
}

export interface Condition {
  label: string;
  impairment?: Omit<ImpairmentOptions, 'target'>;
}

export interface LinkResult extends MouthToEarResult {
  contender: string;
  /** Median over sentences: microphone to the packet leaving for the receiver (capture, framing, codec lookahead, encoding). */
  senderMs: number;
  /** Median: the packet leaving for the receiver (after any network impairment) to the speaker (jitter buffer, decoding, output). */
  receiverMs: number;
  /** Median: the packet leaving for the receiver to the card playing it (receiverMs plus the speaker pipe). */
  receiverPlayedMs: number;
  /**
   * The same for each sentence found, with when its chirp played, and the receiver's share up to
   * writing the chirp into the card (`writtenMs`: the rest is the card's pipe).
   */
  receiverPlayedEach: { at: number; ms: number; writtenMs: number }[];
  /** The receiver's reported delays (ours: currentDelayMs, of which outputDelayMs the device's) while the speech played, with when. */
  reportedDelays: { at: number; ms: number; outputMs: number }[];
  condition: string;
  cpuSecondsPerSecond: number;
  peakRssMiB: number;
  processes: number;
  receiver?: Record<string, unknown>;
}

export function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)];
}

function spawnQuiet(command: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  // ALSA's "cannot find card" chatter goes to stderr: not wanted, not needed.
  return spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'ignore'] });
}

function freeUdpPort(): number {
  return 41_000 + Math.floor(Math.random() * 8_000);
}

export const trx = (label: string, tx: string[], rx: string[]): Contender => ({
  label,
  async start(card, ports, sendTo) {
    const receiver = spawnQuiet('trx-rx', ['-d', card.speakerName, '-h', '127.0.0.1', '-p', String(ports.receiver), '-c', '1', ...rx], card.env);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const port = await sendTo();
    const sender = spawnQuiet('trx-tx', ['-d', card.micName, '-h', '127.0.0.1', '-p', String(port), '-c', '1', ...tx], card.env);
    return { processes: [sender, receiver] };
  },
});

export const intercom = (label: string, extra: string[] = [], receiverExtra: string[] = [], cli = CLI): Contender => ({
  label,
  async start(card, ports, sendTo) {
    // The CLI from dist, or from source (a .ts, as the tests run it) through tsx.
    const node = cli.endsWith('.ts') ? ['--import', 'tsx', cli] : [cli];
    const receiver = spawn(process.execPath, [...node, 'recv', String(ports.receiver), '--host', '127.0.0.1', '--device', card.speakerName, '--json', ...extra, ...receiverExtra], {
      env: { ...process.env, ...card.env },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let last: Record<string, unknown> | undefined;
    const statuses: { at: number; figures: Record<string, unknown> }[] = [];
    const listening = new Promise<void>((resolve) => {
      createInterface({ input: receiver.stdout! }).on('line', (line) => {
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed.type === 'listening') resolve();
          if (parsed.type === 'status' || parsed.type === 'summary') last = parsed;
          if (parsed.type === 'status') statuses.push({ at: performance.now(), figures: parsed });
        } catch {
          // not ours
        }
      });
    });
    await listening;
    const port = await sendTo();
    const sender = spawn(process.execPath, [...node, 'send', '127.0.0.1', String(port), '--mic', card.micName, '--json', ...extra], {
      env: { ...process.env, ...card.env },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    return { processes: [sender, receiver], receiverFigures: () => last, receiverStatuses: () => statuses };
  },
});

async function stopAll(processes: ChildProcess[]): Promise<void> {
  await Promise.all(
    processes.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/**
 * Resolves when the card has put all of the speech into the microphone; fails, instead of waiting
 * for ever, when a program exits first or the speech takes twice its length and 20 s more (a
 * program that stopped reading its microphone holds the card's writes).
 */
async function speechPlayed(card: PacedCard, processes: ChildProcess[], speechMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const listeners: Array<() => void> = [];
  try {
    await Promise.race([
      card.done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the speech (${Math.round(speechMs / 1000)} s) did not finish playing into the microphone within ${Math.round((speechMs * 2 + 20_000) / 1000)} s: has the sender stopped reading it?`)), speechMs * 2 + 20_000);
      }),
      ...processes.map(
        (child) =>
          new Promise<never>((_, reject) => {
            const exited = (code: number | null, signal: NodeJS.Signals | null) => reject(new Error(`${child.spawnfile} exited (${signal ?? `code ${code}`}) while the speech played`));
            if (child.exitCode !== null || child.signalCode !== null) exited(child.exitCode, child.signalCode);
            child.once('exit', exited);
            listeners.push(() => child.off('exit', exited));
          }),
      ),
    ]);
  } finally {
    clearTimeout(timer);
    for (const remove of listeners) remove();
  }
}

/** One contender over one condition: start, warm up, play the speech, measure, stop. */
export async function runLink(contender: Contender, condition: Condition, setup: CardSetup = {}): Promise<LinkResult> {
  const speech = markedSpeech(setup.sentences ?? SENTENCES);
  const card = await startPacedCard('e2e', speech.signal, { micRate: setup.micRate, speakerRate: setup.speakerRate });
  const receiverPort = freeUdpPort();
  let proxy: ImpairmentProxy | undefined;
  const tap = new WireTap();
  let programs: LinkPrograms | undefined;
  try {
    // Always through the proxy (unimpaired when the condition is clean): it is also the wire tap.
    programs = await contender.start(card, { receiver: receiverPort }, async () => {
      proxy = await ImpairmentProxy.start({ target: { address: '127.0.0.1', port: receiverPort }, ...condition.impairment, onForward: (datagram, at) => tap.record(datagram, at) });
      return proxy.port;
    });
    await new Promise((resolve) => setTimeout(resolve, WARM_UP_MS));
    const pids = programs.processes.map((child) => child.pid!).filter(Boolean);
    const before = sampleTree(pids);
    const startedAt = performance.now();
    await card.play();
    await speechPlayed(card, programs.processes, (speech.signal.length / SAMPLE_RATE) * 1000);
    const speechEndedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // the last sentence's tail plays out
    const after = sampleTree(pids);
    const seconds = (performance.now() - startedAt) / 1000;
    const receiver = programs.receiverFigures?.();
    await stopAll(programs.processes);
    const recording = await card.stop();
    const result = analyse(speech, recording);
    const departures = tap.chirpDepartures(result.sentences.map((sentence) => sentence.micAt));
    const senderMs = result.sentences.map((sentence, index) => departures[index] - sentence.micAt).filter(Number.isFinite);
    const receiverMs = result.sentences.map((sentence, index) => sentence.delayMs - (departures[index] - sentence.micAt)).filter(Number.isFinite);
    const receiverPlayedEach = result.sentences
      .map((sentence, index) => ({
        at: sentence.micAt + sentence.playedMs,
        ms: sentence.playedMs - (departures[index] - sentence.micAt),
        writtenMs: sentence.delayMs - (departures[index] - sentence.micAt),
      }))
      .filter((played) => Number.isFinite(played.ms));
    const reportedDelays = (programs.receiverStatuses?.() ?? [])
      .filter((status) => status.at >= startedAt && status.at <= speechEndedAt)
      .map((status) => ({ at: status.at, ms: Number(status.figures.currentDelayMs), outputMs: Number(status.figures.outputDelayMs ?? 0) }))
      .filter((reported) => Number.isFinite(reported.ms));
    return {
      ...result,
      senderMs: medianOf(senderMs),
      receiverMs: medianOf(receiverMs),
      receiverPlayedMs: medianOf(receiverPlayedEach.map((played) => played.ms)),
      receiverPlayedEach,
      reportedDelays,
      contender: contender.label,
      condition: condition.label,
      cpuSecondsPerSecond: (after.cpuSeconds - before.cpuSeconds) / seconds,
      peakRssMiB: after.peakRssMiB,
      processes: after.processes,
      receiver,
    };
  } finally {
    if (programs) await stopAll(programs.processes);
    await proxy?.close();
    card.dispose();
  }
}

export function buildDist(): void {
  execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(REPO, 'tsconfig.json')], { stdio: 'inherit' });
}

const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

export function describe(result: LinkResult): string {
  const receiver = result.receiver ? ` underruns ${result.receiver.underruns ?? '-'}, concealed ${fmt(Number(result.receiver.concealedMs ?? Number.NaN), 0)} ms` : '';
  return (
    `${result.contender} / ${result.condition}: delay ${fmt(result.medianDelayMs)} ms (sender ${fmt(result.senderMs)} + receiver ${fmt(result.receiverMs)}; played ${fmt(result.medianPlayedMs)}), ` +
    `envelope ${fmt(result.envelope, 3)}, ${result.found}/${result.sentences.length} found, speaker gaps ${fmt(result.speakerGapMs, 0)} ms, ` +
    `CPU ${fmt(result.cpuSecondsPerSecond, 4)} s/s, peak RSS ${fmt(result.peakRssMiB, 1)} MiB (${result.processes} processes)${receiver}`
  );
}

/**
 * The project as it was at `commit`, built in a temporary directory beside this checkout's
 * node_modules and native builds, for "before" figures in the same run. Returns its CLI.
 */
export function buildCommit(commit: string): string {
  const dir = path.join(os.tmpdir(), `intercom-before-${commit.slice(0, 12)}`);
  if (!existsSync(path.join(dir, 'dist', 'cli', 'intercom.js'))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git -C "${REPO}" archive "${commit}" | tar -x -C "${dir}"`]);
    symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
    cpSync(path.join(REPO, 'src/codec/opus-native/build'), path.join(dir, 'src/codec/opus-native/build'), { recursive: true });
    execFileSync(process.execPath, [path.join(REPO, 'node_modules/typescript/bin/tsc'), '-p', path.join(dir, 'tsconfig.json')], { stdio: 'inherit' });
  }
  return path.join(dir, 'dist', 'cli', 'intercom.js');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1].split(',') : undefined;
  const repeat = process.argv.includes('--repeat') ? Number(process.argv[process.argv.indexOf('--repeat') + 1]) : 1;
  buildDist();
  const contenders = [
    trx('trx', ['-m', '20'], []),
    trx('trx-low', ['-f', '240', '-m', '5'], ['-m', '5', '-j', '20']),
    intercom('intercom'),
    intercom('intercom-10ms', ['--frame-ms', '10']),
    intercom('intercom-naudiodon', ['--backend', 'naudiodon']),
  ].filter((contender) => !only || only.includes(contender.label));
  const conditions: Condition[] = [{ label: 'clean' }];
  for (let round = 0; round < repeat; round += 1) {
    for (const condition of conditions) {
      for (const contender of contenders) console.log(describe(await runLink(contender, condition)));
    }
  }
}
