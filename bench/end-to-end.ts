/**
 * End to end, beside trx, in one run (`npm run bench`, or `npx tsx bench/end-to-end.ts [--repeat N]
 * [--before <commit>] [--unit-call | --idle]`): mouth-to-ear delay, quality, CPU and memory of one-way links through
 * the same paced virtual sound card, clean and through the impairment proxy; each direction of an
 * SRTP call between two units started as systemd starts them; and a unit between calls (CPU, and
 * how soon its own sound reaches the speaker from idle). Prints Markdown and judges the targets
 * of docs/PERFORMANCE.md.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { buildCommit, buildDist, intercom, runLink, trx, type Condition, type Contender, type LinkResult } from './mouth-to-ear.js';
import { analyse, markedSpeech } from './support/marked-speech.js';
import { sampleTree } from './support/process-tree.js';
import { startPacedCard, type PacedCard } from '../test/support/paced-card.js';
import { launchSite, type UnitProcess } from '../test/support/unit-process.js';
import { eventually } from '../test/support/eventually.js';
import { AlsaEngineBackend } from '../src/audio/alsa-engine-backend.js';
import { CallAudio } from '../src/streaming/call-audio.js';
import { samplesSound } from '../src/streaming/local-sound.js';

const CLEAN: Condition = { label: 'clean' };
/** systemd/intercom.service's Nice=, given to the unit processes started here. */
const SYSTEMD_NICE = -5;
const LOSS_2: Condition = { label: '2% loss, 0-20 ms jitter', impairment: { lossRate: 0.02, jitterMs: 20, seed: 21 } };
const LOSS_5: Condition = { label: '5% loss, 0-60 ms jitter', impairment: { lossRate: 0.05, jitterMs: 60, seed: 22 } };

const median = (values: number[]) => {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor(sorted.length / 2)];
};
const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

interface Row {
  contender: string;
  condition: string;
  runs: LinkResult[];
}

/** The median over repeats of each figure. */
function summary(row: Row) {
  const of = (pick: (run: LinkResult) => number) => median(row.runs.map(pick));
  return {
    delayMs: of((run) => run.medianDelayMs),
    senderMs: of((run) => run.senderMs),
    receiverMs: of((run) => run.receiverMs),
    playedMs: of((run) => run.medianPlayedMs),
    envelope: of((run) => run.envelope),
    cpu: of((run) => run.cpuSecondsPerSecond),
    rss: of((run) => run.peakRssMiB),
    underruns: of((run) => Number(run.receiver?.underruns ?? Number.NaN)),
    concealedMs: of((run) => Number(run.receiver?.concealedMs ?? Number.NaN)),
    found: of((run) => run.found),
  };
}

export interface Target {
  what: string;
  value: string;
  met: boolean;
}

export async function runLinks(repeat: number, beforeCommit?: string): Promise<{ rows: Row[]; targets: Target[] }> {
  const plan: { contender: Contender; conditions: Condition[] }[] = [
    { contender: trx('trx (defaults)', ['-m', '20'], []), conditions: [CLEAN, LOSS_2, LOSS_5] },
    { contender: intercom('intercom (shipped defaults)'), conditions: [CLEAN, LOSS_2, LOSS_5] },
    { contender: trx('trx low-latency (5 ms frames)', ['-f', '240', '-m', '5'], ['-m', '5', '-j', '20']), conditions: [CLEAN] },
    { contender: intercom('intercom --frame-ms 10', ['--frame-ms', '10']), conditions: [CLEAN] },
    { contender: intercom('intercom --backend naudiodon (portable)', ['--backend', 'naudiodon']), conditions: [CLEAN] },
  ];
  if (beforeCommit) plan.push({ contender: intercom(`intercom before (${beforeCommit.slice(0, 7)})`, [], [], buildCommit(beforeCommit)), conditions: [CLEAN] });
  const rows: Row[] = [];
  for (let round = 0; round < repeat; round += 1) {
    for (const { contender, conditions } of plan) {
      for (const condition of conditions) {
        let row = rows.find((candidate) => candidate.contender === contender.label && candidate.condition === condition.label);
        if (!row) rows.push((row = { contender: contender.label, condition: condition.label, runs: [] }));
        row.runs.push(await runLink(contender, condition));
        process.stderr.write('.');
      }
    }
  }
  process.stderr.write('\n');
  const get = (contender: string, condition: string) => summary(rows.find((row) => row.contender.startsWith(contender) && row.condition === condition)!);
  const ours = get('intercom (shipped', CLEAN.label);
  const theirs = get('trx (defaults)', CLEAN.label);
  const ten = get('intercom --frame-ms 10', CLEAN.label);
  const lossy2 = get('intercom (shipped', LOSS_2.label);
  const lossy5 = get('intercom (shipped', LOSS_5.label);
  const targets: Target[] = [
    { what: 'clean, shipped defaults: mouth-to-ear <= 50 ms', value: `${fmt(ours.delayMs)} ms`, met: ours.delayMs <= 50 },
    { what: 'clean: 0 underruns, 0 concealed', value: `${fmt(ours.underruns, 0)} underruns, ${fmt(ours.concealedMs, 0)} ms concealed`, met: ours.underruns === 0 && ours.concealedMs === 0 },
    { what: '--frame-ms 10: <= 38 ms', value: `${fmt(ten.delayMs)} ms`, met: ten.delayMs <= 38 },
    { what: '2% loss + 0-20 ms jitter: <= 90 ms, envelope >= 0.97', value: `${fmt(lossy2.delayMs)} ms, ${fmt(lossy2.envelope, 3)}`, met: lossy2.delayMs <= 90 && lossy2.envelope >= 0.97 },
    { what: '5% loss + 0-60 ms jitter: <= 150 ms, envelope >= 0.95', value: `${fmt(lossy5.delayMs)} ms, ${fmt(lossy5.envelope, 3)}`, met: lossy5.delayMs <= 150 && lossy5.envelope >= 0.95 },
    { what: 'CPU sender + receiver <= 2x trx (clean)', value: `${fmt(ours.cpu, 4)} vs ${fmt(theirs.cpu, 4)} s/s = ${fmt(ours.cpu / theirs.cpu, 2)}x`, met: ours.cpu <= 2 * theirs.cpu },
  ];
  return { rows, targets };
}

export function linksMarkdown(rows: Row[]): string {
  const lines = [
    '| link | network | mouth-to-ear | of which sender / receiver | + speaker pipe | envelope corr. | receiver underruns / concealed | CPU s/s (send + recv) | peak RSS MiB (both) | vs trx, same network: delay / CPU |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const figures = summary(row);
    const trxRow = rows.find((candidate) => candidate.contender === 'trx (defaults)' && candidate.condition === row.condition);
    const baseline = trxRow ? summary(trxRow) : undefined;
    const ratio = baseline && !row.contender.startsWith('trx') ? `${fmt(figures.delayMs / baseline.delayMs, 2)}x / ${fmt(figures.cpu / baseline.cpu, 2)}x` : '';
    lines.push(
      `| ${row.contender} | ${row.condition} | ${fmt(figures.delayMs)} ms | ${fmt(figures.senderMs)} / ${fmt(figures.receiverMs)} ms | ${fmt(figures.playedMs - figures.delayMs)} ms | ${fmt(figures.envelope, 3)} | ` +
        `${Number.isFinite(figures.underruns) ? `${fmt(figures.underruns, 0)} / ${fmt(figures.concealedMs, 0)} ms` : '-'} | ${fmt(figures.cpu, 4)} | ${fmt(figures.rss, 0)} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

/** The environment a unit gets beyond its configuration (BENCH_UNIT_NODE_OPTIONS to try V8 flags). */
function unitEnv(): NodeJS.ProcessEnv {
  return process.env.BENCH_UNIT_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_UNIT_NODE_OPTIONS } : {};
}

/** Config of both units of the call beyond their devices (BENCH_UNIT_AUDIO: JSON merged into `audio`, to compare settings). */
function unitAudioConfig(): Record<string, unknown> {
  return process.env.BENCH_UNIT_AUDIO ? (JSON.parse(process.env.BENCH_UNIT_AUDIO) as Record<string, unknown>) : {};
}

/** An alsa-lib configuration with several cards' devices, for a program that uses more than one. */
function combinedConfig(dir: string, name: string, cards: PacedCard[]): string {
  const file = path.join(dir, `${name}.asoundrc`);
  writeFileSync(file, ['</usr/share/alsa/alsa.conf>', ...cards.flatMap((card) => card.pcmDefinitions), ''].join('\n'));
  return file;
}

export interface UnitCallResult {
  direction: string;
  delayMs: number;
  envelope: number;
  found: number;
  stats: Record<string, unknown>;
  /** The receiving unit's figures when the speech began: what the call's start left. */
  atStart: Record<string, unknown>;
}

/**
 * Two units (dist/main.js, shipped defaults: SRTP, Opus, 20 ms frames, the ALSA engine) in a call.
 * Card X is A's microphone and B's speaker, card Y the other way round: speech goes into both
 * microphones at once and each direction is measured like a one-way link.
 */
export async function runUnitCall(audio: Record<string, unknown> = {}): Promise<{ directions: UnitCallResult[]; cpu: number[]; rssInCall: number[]; peakRss: number[]; loopDelayMs: ({ p99: number; max: number } | null)[] }> {
  const speechAB = markedSpeech(10);
  const speechBA = markedSpeech(10);
  const x = await startPacedCard('x', speechAB.signal);
  const y = await startPacedCard('y', speechBA.signal);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'intercom-call-bench-'));
  const teardowns: (() => Promise<void> | void)[] = [];
  try {
    const host = { teardown: (fn: () => Promise<void> | void) => void teardowns.push(fn) };
    const [a, b] = await launchSite(host, [
      { name: 'A', compiled: true, env: { ALSA_CONFIG_PATH: combinedConfig(dir, 'a', [x, y]), ...unitEnv() }, config: { audio: { ...audio, ...unitAudioConfig(), captureDevice: x.micName, playbackDevice: y.speakerName } } },
      { name: 'B', compiled: true, env: { ALSA_CONFIG_PATH: combinedConfig(dir, 'b', [x, y]), ...unitEnv() }, config: { audio: { ...audio, ...unitAudioConfig(), captureDevice: y.micName, playbackDevice: x.speakerName } } },
    ]);
    // As systemd runs them (Nice=-5 in systemd/intercom.service).
    for (const unit of [a, b]) os.setPriority(unit.child.pid!, SYSTEMD_NICE);
    await a.api('POST', '/api/users/register', { name: 'Kitchen' });
    await b.api('POST', '/api/users/register', { name: 'Front door' });
    await eventually('A to see B', async () => (await a.api('GET', '/api/users')).body.users.some((user: { name: string; online: boolean }) => user.name === 'Front door' && user.online), 30_000);
    const callId = (await a.api('POST', '/api/signal/initiate', { from: 'Kitchen', to: 'Front door' })).body.call.id as string;
    await eventually('B to ring', async () => (await b.api('GET', `/api/signal/incoming?user=${encodeURIComponent('Front door')}`)).body.calls.length > 0, 15_000);
    await b.api('POST', '/api/signal/accept', { callId });
    const phase = async (unit: UnitProcess) => (await unit.api('GET', '/api/calls')).body.current?.phase;
    await eventually('both active', async () => (await phase(a)) === 'active' && (await phase(b)) === 'active', 15_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const pids = [a.child.pid!, b.child.pid!];
    // What the call's start left (underruns and concealment before the speech), apart from the speech.
    const [startA, startB] = await Promise.all([a, b].map(async (unit) => (await unit.api('GET', '/api/calls')).body.current?.stats ?? {}));
    const before = pids.map((pid) => sampleTree([pid]));
    const startedAt = performance.now();
    // Resident memory while the call runs (the lifetime peak also holds start-up and the 32 MiB
    // scrypt check of the panel login, which are over before a call).
    const rssInCall = pids.map(() => 0);
    const sampler = setInterval(() => pids.forEach((pid, index) => (rssInCall[index] = Math.max(rssInCall[index], sampleTree([pid]).rssMiB))), 500);
    await Promise.all([x.play(), y.play()]);
    await Promise.all([x.done, y.done]);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    clearInterval(sampler);
    const seconds = (performance.now() - startedAt) / 1000;
    const after = pids.map((pid) => sampleTree([pid]));
    // The call's figures first: a status answer stalls a unit's event loop while it compiles, and
    // that stall is no part of the call.
    const [statsA, statsB] = await Promise.all([a, b].map(async (unit) => (await unit.api('GET', '/api/calls')).body.current?.stats ?? {}));
    // How late each unit's event loop ran over its last status window (5 s) of the call.
    const loopDelayMs = await Promise.all(
      [a, b].map(async (unit) => ((await unit.api('GET', '/api/status')).body?.system?.eventLoopDelayMs ?? null) as { p99: number; max: number } | null),
    );
    await b.api('POST', '/api/signal/end', { callId });
    if (process.env.BENCH_DEBUG) for (const unit of [a, b]) for (const line of unit.logs) if ((line.level ?? 0) >= 40 || /audio/.test(String(line.msg))) console.error(unit.name, JSON.stringify(line).slice(0, 4000));
    const [recordingX, recordingY] = await Promise.all([x.stop(), y.stop()]);
    const ab = analyse(speechAB, recordingX);
    const ba = analyse(speechBA, recordingY);
    return {
      directions: [
        { direction: 'A -> B', delayMs: ab.medianDelayMs, envelope: ab.envelope, found: ab.found, stats: statsB, atStart: startB },
        { direction: 'B -> A', delayMs: ba.medianDelayMs, envelope: ba.envelope, found: ba.found, stats: statsA, atStart: startA },
      ],
      cpu: after.map((figures, index) => (figures.cpuSeconds - before[index].cpuSeconds) / seconds),
      rssInCall,
      peakRss: after.map((figures) => figures.peakRssMiB),
      loopDelayMs,
    };
  } finally {
    for (const teardown of teardowns.reverse()) await teardown();
    x.dispose();
    y.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A unit between calls: its CPU over 60 s (the devices are stopped), and how soon its own sound
 * (a ring) reaches the speaker device from idle: from CallAudio.setLocalSound to the card's log
 * of the first sample written into its speaker.
 */
export async function runIdle(seconds = 60): Promise<{ cpuPercent: number; soundAfterMs: number[] }> {
  const card = await startPacedCard('idle', new Int16Array(0));
  const teardowns: (() => Promise<void> | void)[] = [];
  try {
    const host = { teardown: (fn: () => Promise<void> | void) => void teardowns.push(fn) };
    const [unit] = await launchSite(host, [{ name: 'idle', compiled: true, env: card.env, config: { audio: { captureDevice: card.micName, playbackDevice: card.speakerName } } }]);
    os.setPriority(unit.child.pid!, SYSTEMD_NICE);
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const before = sampleTree([unit.child.pid!]);
    const startedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const after = sampleTree([unit.child.pid!]);
    const cpuPercent = ((after.cpuSeconds - before.cpuSeconds) / ((performance.now() - startedAt) / 1000)) * 100;
    for (const teardown of teardowns.reverse()) await teardown();
    teardowns.length = 0;

    // The engine in this process, idle, then a sound: ten times.
    process.env.ALSA_CONFIG_PATH = card.env.ALSA_CONFIG_PATH;
    const backend = new AlsaEngineBackend({ logger: pino({ level: 'silent' }) });
    const audio = new CallAudio({
      settings: { format: 'rtp-opus', frameMs: 20, bitrate: 32_000, minDelayMs: 5, maxDelayMs: 400 },
      captureDevice: card.micName,
      playbackDevice: card.speakerName,
      backend,
      logger: pino({ level: 'silent' }),
    });
    await audio.openDevices();
    const ring = new Int16Array(4_800).fill(6_000);
    const starts: number[] = [];
    for (let attempt = 0; attempt < 10; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      starts.push(performance.now());
      audio.setLocalSound(samplesSound(ring));
      await eventually('the sound to end', async () => !audio.localSoundPlaying, 5_000);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await audio.close();
    await backend.close();
    const recording = await card.stop();
    // The first step whose written bytes include a sample of the ring (6000), after each start.
    const soundAfterMs = starts.map((start) => {
      const firstAfter = recording.speaker.find((step) => step.at >= start);
      if (!firstAfter) return Number.NaN;
      const fromSample = firstAfter.writtenBytes / 2;
      let index = fromSample;
      while (index < recording.output.length && recording.output[index] !== 6_000) index += 1;
      const written = recording.speaker.find((step) => step.writtenBytes > index * 2);
      return written ? written.at - start : Number.NaN;
    });
    return { cpuPercent, soundAfterMs };
  } finally {
    for (const teardown of teardowns.reverse()) await teardown();
    card.dispose();
  }
}

export async function runEndToEndBench(options: { repeat?: number; before?: string } = {}): Promise<boolean> {
  buildDist();
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, load average ${os.loadavg().map((load) => load.toFixed(1)).join(' ')} at the start`;
  console.log(`## End to end beside trx (${new Date().toISOString()}, ${machine})\n`);
  console.log('29 s of chirp-marked speech-like sentences into a paced virtual microphone; delay = the chirp into the');
  console.log('microphone to the program writing it into the speaker device (median of 10 sentences; the speaker');
  console.log('pipe it then waits in is shown apart); envelope = correlation of 20 ms levels; CPU = utime+stime of');
  console.log(`sender and receiver with children per second of audio. Median of ${options.repeat ?? 1} run(s) each.\n`);
  const { rows, targets } = await runLinks(options.repeat ?? 1, options.before);
  console.log(linksMarkdown(rows));
  console.log('');

  // The engine's targets hold without the hands-free capture processing, which may add 10 ms (its
  // preprocessor's one-block overlap): the call is measured without it, then as shipped.
  const calls = [
    { label: 'without capture processing', allowedMs: 50, call: await runUnitCall({ processing: { enabled: false } }) },
    { label: 'shipped defaults (capture processing on)', allowedMs: 60, call: await runUnitCall() },
  ];
  console.log('\n### An SRTP call between two units (dist/main.js, the ALSA engine)\n');
  console.log('| settings | direction | mouth-to-ear | sentences found | envelope corr. | receiving unit: delay / target, underruns, concealed |');
  console.log('|---|---|---|---|---|---|');
  for (const { label, call } of calls) {
    for (const direction of call.directions) {
      const stats = direction.stats as Record<string, number>;
      console.log(`| ${label} | ${direction.direction} | ${fmt(direction.delayMs)} ms | ${direction.found} of 10 | ${fmt(direction.envelope, 3)} | ${fmt(stats.currentDelayMs)} / ${fmt(stats.targetDelayMs)} ms, ${stats.underruns ?? '-'}, ${fmt(stats.concealedMs, 0)} ms |`);
    }
  }
  for (const { label, call } of calls) {
    console.log(
      `\n${label}: each unit in the call (both directions, SRTP): CPU ${call.cpu.map((cpu) => fmt(cpu, 4)).join(' and ')} s/s; resident memory during the call (all its processes) ` +
        `${call.rssInCall.map((rss) => fmt(rss, 0)).join(' and ')} MiB, lifetime peak ${call.peakRss.map((rss) => fmt(rss, 0)).join(' and ')} MiB; ` +
        `event-loop delay over the call's last 5 s (p99 / max) ${call.loopDelayMs.map((delay) => (delay ? `${fmt(delay.p99, 0)} / ${fmt(delay.max, 0)} ms` : '-')).join(' and ')}.`,
    );
  }
  console.log('');
  for (const { label, allowedMs, call } of calls) {
    targets.push(
      ...call.directions.map((direction) => ({
        what: `unit call ${direction.direction}, ${label}: <= ${allowedMs} ms, 0 underruns, 0 concealed`,
        value: `${fmt(direction.delayMs)} ms, ${(direction.stats as Record<string, number>).underruns} underruns, ${fmt((direction.stats as Record<string, number>).concealedMs, 0)} ms concealed`,
        met: direction.delayMs <= allowedMs && (direction.stats as Record<string, number>).underruns === 0 && (direction.stats as Record<string, number>).concealedMs === 0,
      })),
      { what: `a unit in a call, ${label}: <= 100 MB RSS, all its processes`, value: `${call.rssInCall.map((rss) => fmt(rss * 1.048576, 0)).join(', ')} MB`, met: call.rssInCall.every((rss) => rss * 1.048576 <= 100) },
    );
  }

  const idle = await runIdle();
  console.log('### A unit between calls\n');
  console.log(`CPU over 60 s, all its processes: ${fmt(idle.cpuPercent, 2)}% of one core. Its own sound from idle (devices stopped) to the speaker device: ${idle.soundAfterMs.map((ms) => fmt(ms, 0)).join(', ')} ms.\n`);
  targets.push(
    { what: 'idle unit <= 0.5% of a core', value: `${fmt(idle.cpuPercent, 2)}%`, met: idle.cpuPercent <= 0.5 },
    { what: 'sound from idle within 100 ms', value: `median ${fmt(median(idle.soundAfterMs), 0)} ms, worst ${fmt(Math.max(...idle.soundAfterMs), 0)} ms`, met: Math.max(...idle.soundAfterMs) <= 100 },
  );

  console.log('### Targets\n');
  console.log('| target | this run | |');
  console.log('|---|---|---|');
  for (const target of targets) console.log(`| ${target.what} | ${target.value} | ${target.met ? 'met' : 'MISSED'} |`);
  console.log('');
  return targets.every((target) => target.met);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const repeat = process.argv.includes('--repeat') ? Number(process.argv[process.argv.indexOf('--repeat') + 1]) : 1;
  const before = process.argv.includes('--before') ? process.argv[process.argv.indexOf('--before') + 1] : undefined;
  if (process.argv.includes('--idle')) {
    // A unit between calls alone.
    buildDist();
    console.log(JSON.stringify(await runIdle(), null, 1));
  } else if (process.argv.includes('--unit-call')) {
    // The unit-to-unit call alone, to compare settings (BENCH_UNIT_AUDIO, BENCH_UNIT_NODE_OPTIONS).
    buildDist();
    console.log(JSON.stringify(await runUnitCall(), null, 1));
  } else {
    const ok = await runEndToEndBench({ repeat, before });
    process.exitCode = ok ? 0 : 1;
  }
}


