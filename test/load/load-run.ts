/**
 * The load run shared by the CI load test (test/load/twenty-units.test.ts, ~1 minute) and the soak
 * (`npm run soak`, bench/soak.ts, 10 minutes or more).
 *
 * N real unit processes (src/main.ts, each with its two audio host child processes) on loopback,
 * each with its own virtual microphone (playing a tone only that unit plays) and speaker, and the
 * launcher's test panel password. They find each other through their static `peers` lists (as launchSite sets
 * them up): DNS-SD needs multicast, which the host loopback lacks, and 20 units in private network
 * namespaces would put their HTTP out of this process's reach. Then, round after round, up to N/2
 * calls at a time; the pairs rotate (round-robin schedule) so each unit talks to a different
 * partner each time. Every call: initiate, the callee rings, accept, both active, each speaker
 * plays the partner's tone and not its own, hang up, both ended with `hung-up`. After each round
 * no unit may have a live call.
 * Memory, file descriptors, sockets and CPU of every unit (with its audio hosts) are sampled from
 * /proc after each round and on a timer.
 */
import { freeTcpPort, launchUnit, type TeardownHost, type UnitProcess } from '../support/unit-process.js';
import { MIN_TONE_SHARE, MIN_WINDOW_RMS, WINDOW_SAMPLES, windowCarriesTone } from '../support/tone-check.js';
import { rms, toneShare } from '../support/audio-analysis.js';
import { createToneSoundCards, SAMPLE_RATE, type ToneCard, type ToneSpeaker } from './tone-sound-cards.js';
import { sampleUnit, type UnitFigures } from './process-sampler.js';
import { unitRequest } from './unit-request.js';
import os from 'node:os';
import { readFileSync } from 'node:fs';

export interface LoadRunOptions {
  /** Number of units (even). */
  units: number;
  /** Keep starting rounds until this much time has passed since the first round began... */
  durationMs: number;
  /** ...and at least this many rounds have run (default 0)... */
  minRounds?: number;
  /**
   * ...and every unit has had at least this many calls that went through (default 0), each with
   * another partner: calls that failed while other work kept the machine busy do not count.
   */
  minOkCallsPerUnit?: number;
  /** Stop starting rounds after this long in any case (default: no limit besides the above). */
  maxRunMs?: number;
  /** Stops the units and sound cards at the end (ava's t, or a plain collector). */
  host: TeardownHost;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Period of the timed resource samples (the time series in the report). Default 10 s. */
  sampleEveryMs?: number;
  /** Calls at the same time in each round (default units/2: every unit in a call); the other units sit the round out. */
  callsPerRound?: number;
  /** Seconds of an idle site measured before the first round (CPU of discovery alone). Default 10. */
  idleSeconds?: number;
  /**
   * discovery.pollIntervalMs of every unit (default: as shipped). Units that probe each other do
   * not poll at all; only an address with no probed unit behind it is polled this often.
   * offlineAfterMs is set to three polls.
   */
  discoveryPollMs?: number;
}

export interface CallRecord {
  round: number;
  caller: string;
  callee: string;
  ok: boolean;
  /** Why it failed (undefined when ok). */
  failure?: string;
  /**
   * Set when it failed while other work on the machine (not this site) took more than
   * BUSY_OTHERS_PERCENT of a core: the machine did not deliver what the site needs, so it does
   * not fail the run, which goes on until every unit has had its calls (minOkCallsPerUnit). Says
   * how busy.
   */
  excused?: string;
  /** Seconds of the partner's tone each speaker played (caller's, callee's) until it was heard (or the deadline). */
  partnerToneSeconds: [number, number];
  /** Seconds of its own unit's tone each speaker played meanwhile (must stay near 0: no echo path). */
  ownToneSeconds: [number, number];
  /** Initiate to both sides ended, ms. */
  durationMs: number;
  /** Initiate until both speakers had played the partner's tone, ms. */
  audioVerifiedAfterMs: number;
  /** Until then, the speakers' (caller's, callee's) 20 ms windows that did not carry the partner's tone, and why. */
  otherWindows?: [Heard['otherWindows'], Heard['otherWindows']];
}

export interface ResourceSample {
  /** Seconds since the first round began. */
  t: number;
  round: number;
  /** Per unit, in unit order (undefined if the process was gone). */
  units: (UnitFigures | undefined)[];
}

export interface LoadReport {
  unitNames: string[];
  startedAt: string;
  setupSeconds: number;
  runSeconds: number;
  rounds: number;
  calls: CallRecord[];
  /** Units that still had a live call after a round had ended (round, unit, phase). */
  stuckCalls: string[];
  /** Taken after each round, all units idle. */
  roundEndSamples: ResourceSample[];
  /** Taken every sampleEveryMs, in or between calls. */
  timedSamples: ResourceSample[];
  /** Longest stall of the virtual sound cards' clock (this process's event loop) during the rounds, ms. */
  maxClockGapMs: number;
  callsPerRound: number;
  /** discovery.pollIntervalMs of the units, or null for the shipped default. */
  discoveryPollMs: number | null;
  /** Per unit (with its audio hosts), % of one core, all units registered and idle, no calls. */
  idleCpuPercent: number[];
  /** What the machine was doing during the rounds, % of one core: everything, and what was not these units. */
  machineBusyPercent: number;
  othersBusyPercent: number;
  cores: number;
}

/**
 * A call counts as heard when a speaker has played this much of the partner's tone, in 20 ms
 * windows that clearly carry it (test/support/tone-check.ts), wherever they fall: on a starved
 * machine the tone comes out in pieces, which a person would still hear...
 */
const PARTNER_TONE_SECONDS = 1;
/** ...and no more than this of its own unit's tone, which must never come back. */
const MAX_OWN_TONE_SECONDS = 0.1;
/** Listened to in steps of this many samples (0.3 s). */
const LISTEN_STEP = (SAMPLE_RATE * 3) / 10;
/*
 * Deadlines. What is under test is that every call rings, connects, carries audio both ways and
 * ends, and that nothing leaks: not how fast (that is the benchmarks' business). The machine is
 * shared (other builds and tests beside this one; load averages of 8-19 on two cores measured),
 * and a busy machine makes everything slower, not wrong. So each step may take what a starved
 * machine needs (these deadlines only stop a run that would never end), runs count rounds
 * rather than only time, and a unit's silence counts as a lost peer only after 20 s (shipped:
 * 4 s), since a unit's processes can stall for seconds on such a machine. The report says how
 * busy the machine was, besides these units.
 */
/** How long a call may take to get the partner's tone to a speaker once both sides are active. */
const AUDIO_TIMEOUT_MS = 45_000;
const STEP_TIMEOUT_MS = 45_000;
const SITE_READY_TIMEOUT_MS = 600_000;
const UNIT_READY_TIMEOUT_MS = 300_000;
const PEER_LOST_MS = 20_000;
const UNIT_REQUEST_TIMEOUT_MS = 10_000;
/** After a round, each unit must be idle within this (a failed call's unit may take the liveness timeout). */
const IDLE_AFTER_ROUND_MS = PEER_LOST_MS + 10_000;
const STARTUP_BATCH = 4;
const CLOCK_PRIORITY = -10;
/**
 * The site under test runs above the machine's other work (nice 0: other builds and tests on a
 * shared machine), and below its sound cards' clock. Twenty units in five calls need about two
 * cores; at nice 0 on a machine whose other work took more than one (measured: load averages of
 * 50 and more), a call got under a second of its partner's tone in 45 s. The units and their
 * audio hosts inherit this from the process that starts them (Linux: nice is per thread, and a
 * child takes its parent thread's).
 */
const UNIT_PRIORITY = -5;
/**
 * Above this much of one core taken by other work during a round (everything but this site's
 * units, their audio hosts and this process), the machine did not deliver what twenty units in
 * five calls need (about 1.2-1.6 of its 2 cores): a failed call of that round is excused (the
 * run goes on until every unit has had its calls), and the next round places one call only. On
 * a dedicated machine (CI) other work is near 0 and every failure counts.
 */
const BUSY_OTHERS_PERCENT = 50;

/**
 * The site the CI test and the soak run on one 2-core machine. Twenty units cost about 1.2 cores
 * when idle (about 6% of a core each with its audio hosts, measured; more with the shipped 1 s
 * discovery poll, since every unit polls every other), so with ten calls at a time, or with the
 * shipped poll, the machine saturates, the units' audio threads starve and calls break up: a
 * limit of running twenty units on two cores, not of one unit. Half the units talk at a time and
 * discovery polls every 5 s; each unit still has a dozen calls a minute.
 */
export const TWO_CORE_SITE = { units: 20, callsPerRound: 5, discoveryPollMs: 5000 } as const;

/**
 * Unit i's tone: 130 Hz apart, not 100. At 100 Hz two units' tones sat in neighbouring bins of the
 * echo canceller's 10 ms blocks (100 Hz each) with the same phase to each other in every block, and
 * the syllables are in step: the canceller learnt the mic's leakage from one bin into the other
 * as an echo path and sent the partner's tone back (a partner heard 0.16 s of its own tone, twice
 * in CI, both times between neighbouring units). Measured through CaptureProcessor alone: tones
 * 1750 / 1850 Hz in step, up to 23% of its output in the pauses was the far tone, and 47-91% with
 * the syllables apart; 1750 / 1880 Hz, none.
 */
export function toneOfUnit(index: number): number {
  return 350 + 130 * index;
}

/** Round-robin pairing (circle method): round r pairs every unit with a different partner for N-1 rounds. */
export function pairsForRound(units: number, round: number): [number, number][] {
  const others = Array.from({ length: units - 1 }, (_, index) => 1 + ((index + round) % (units - 1)));
  const seats = [0, ...others];
  const pairs: [number, number][] = [];
  for (let seat = 0; seat < units / 2; seat += 1) {
    const pair: [number, number] = [seats[seat], seats[units - 1 - seat]];
    // Alternate who calls, so every unit both places and answers calls.
    pairs.push(round % 2 === 0 ? pair : [pair[1], pair[0]]);
  }
  return pairs;
}

/** Probes until `probe` gives a value; a probe request that timed out (a starved unit) counts as "not yet". */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = STEP_TIMEOUT_MS, everyMs = 200): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let timeouts = 0;
  for (;;) {
    let result: T | undefined | false;
    try {
      result = await probe();
    } catch (error) {
      if ((error as Error).name !== 'TimeoutError') throw error;
      timeouts += 1;
    }
    if (result) return result;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${timeouts > 0 ? ` (${timeouts} requests timed out)` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

interface Party {
  unit: UnitProcess;
  card: ToneCard;
  user: string;
}

/**
 * Listens to `speaker` until it has played PARTNER_TONE_SECONDS of `partnerHz`, in any pieces, or
 * AUDIO_TIMEOUT_MS passed; counts its own tone `ownHz` meanwhile.
 */
interface Heard {
  ok: boolean;
  partnerSeconds: number;
  ownSeconds: number;
  /** Why the other windows did not count: silent, the tone too quiet, or loud but not the tone. */
  otherWindows: { silent: number; quietTone: number; loudNotTone: number };
}

async function hearPartner(speaker: ToneSpeaker, partnerHz: number, ownHz: number): Promise<Heard> {
  const deadline = performance.now() + AUDIO_TIMEOUT_MS;
  let from = speaker.sampleCount;
  let partnerWindows = 0;
  let ownWindows = 0;
  const otherWindows = { silent: 0, quietTone: 0, loudNotTone: 0 };
  const seconds = (windows: number) => (windows * WINDOW_SAMPLES) / SAMPLE_RATE;
  const result = () => {
    const partnerSeconds = seconds(partnerWindows);
    const ownSeconds = seconds(ownWindows);
    return { ok: partnerSeconds >= PARTNER_TONE_SECONDS && ownSeconds <= MAX_OWN_TONE_SECONDS, partnerSeconds, ownSeconds, otherWindows };
  };
  while (performance.now() < deadline && seconds(partnerWindows) < PARTNER_TONE_SECONDS) {
    await speaker.waitForSamples(from + LISTEN_STEP, AUDIO_TIMEOUT_MS);
    const step = speaker.window(from, from + LISTEN_STEP);
    from += LISTEN_STEP;
    if (!step) continue;
    for (let start = 0; start + WINDOW_SAMPLES <= step.length; start += WINDOW_SAMPLES) {
      const window = step.subarray(start, start + WINDOW_SAMPLES);
      if (windowCarriesTone(window, partnerHz)) partnerWindows += 1;
      // Only once the partner is heard: before, the tail of the caller's ringback (440 + 480 Hz)
      // may still be playing, which is the own tone of the unit on 450 Hz.
      else if (partnerWindows > 0 && windowCarriesTone(window, ownHz)) ownWindows += 1;
      else if (rms(window) < 50) otherWindows.silent += 1;
      else if (toneShare(window, partnerHz, SAMPLE_RATE) >= MIN_TONE_SHARE) otherWindows.quietTone += 1;
      else if (rms(window) >= MIN_WINDOW_RMS) otherWindows.loudNotTone += 1;
    }
  }
  return result();
}

async function oneCall(round: number, caller: Party, callee: Party, hangUpByCaller: boolean): Promise<CallRecord> {
  const startedAt = performance.now();
  const record: CallRecord = {
    round,
    caller: caller.unit.name,
    callee: callee.unit.name,
    ok: false,
    partnerToneSeconds: [0, 0],
    ownToneSeconds: [0, 0],
    durationMs: 0,
    audioVerifiedAfterMs: 0,
  };
  let callId: string | undefined;
  try {
    const initiated = await unitRequest(caller.unit, 'POST', '/api/signal/initiate', { from: caller.user, to: callee.user });
    if (initiated.status !== 200 || initiated.body?.call?.phase !== 'ringing') throw new Error(`initiate: ${initiated.status} ${JSON.stringify(initiated.body)}`);
    const id: string = initiated.body.call.id;
    callId = id;
    await until(`${callee.unit.name} to ring`, async () => {
      const incoming = await unitRequest(callee.unit, 'GET', `/api/signal/incoming?user=${encodeURIComponent(callee.user)}`);
      return incoming.body?.calls?.some((call: { id: string }) => call.id === id);
    });
    const accepted = await unitRequest(callee.unit, 'POST', '/api/signal/accept', { callId: id });
    if (accepted.status !== 200) throw new Error(`accept: ${accepted.status} ${JSON.stringify(accepted.body)}`);
    await until('both sides active', async () => {
      const [onCaller, onCallee] = await Promise.all([unitRequest(caller.unit, 'GET', '/api/calls'), unitRequest(callee.unit, 'GET', '/api/calls')]);
      return [onCaller, onCallee].every((answer) => answer.body?.current?.id === id && answer.body.current.phase === 'active');
    });

    const [onCallerSpeaker, onCalleeSpeaker] = await Promise.all([
      hearPartner(caller.card.speaker, callee.card.toneHz, caller.card.toneHz),
      hearPartner(callee.card.speaker, caller.card.toneHz, callee.card.toneHz),
    ]);
    record.partnerToneSeconds = [onCallerSpeaker.partnerSeconds, onCalleeSpeaker.partnerSeconds];
    record.ownToneSeconds = [onCallerSpeaker.ownSeconds, onCalleeSpeaker.ownSeconds];
    record.audioVerifiedAfterMs = performance.now() - startedAt;
    record.otherWindows = [onCallerSpeaker.otherWindows, onCalleeSpeaker.otherWindows];
    const describe = (party: Party, heard: typeof onCallerSpeaker) =>
      `${party.unit.name}'s speaker played ${heard.partnerSeconds.toFixed(2)} s of the partner's tone (${PARTNER_TONE_SECONDS} s needed), ${heard.ownSeconds.toFixed(2)} s of its own; other 20 ms windows: ${JSON.stringify(heard.otherWindows)}; its microphone dropped ${party.card.micFramesDropped} frames so far`;
    if (!onCallerSpeaker.ok || !onCalleeSpeaker.ok) {
      // What each receiver made of the call (delay, loss, time-scaling, drops): why the tone did not come out.
      const figures = await Promise.all(
        [caller, callee].map(async (party) => {
          const answer = await unitRequest(party.unit, 'GET', `/api/calls/${id}`).catch((error: Error) => ({ body: { error: error.message } }));
          return `${party.unit.name} ${JSON.stringify(answer.body?.call?.stats ?? answer.body)}`;
        }),
      );
      throw new Error(`audio not heard within ${AUDIO_TIMEOUT_MS} ms: ${describe(caller, onCallerSpeaker)}; ${describe(callee, onCalleeSpeaker)}; receive figures: ${figures.join('; ')}`);
    }

    const hangingUp = hangUpByCaller ? caller : callee;
    const ended = await unitRequest(hangingUp.unit, 'POST', '/api/signal/end', { callId: id });
    if (ended.status !== 200) throw new Error(`end: ${ended.status} ${JSON.stringify(ended.body)}`);
    const finals = await until('both sides ended', async () => {
      const answers = await Promise.all([caller, callee].map((party) => unitRequest(party.unit, 'GET', `/api/calls/${id}`)));
      const calls = answers.map((answer) => answer.body?.call);
      return calls.every((call) => call?.phase === 'ended') && calls;
    });
    const reasons = finals.map((call: { endReason: string }) => call.endReason);
    if (reasons.some((reason: string) => reason !== 'hung-up')) throw new Error(`end reasons ${reasons.join(' / ')}, expected hung-up on both`);
    record.ok = true;
  } catch (error) {
    record.failure = `round ${round} ${caller.unit.name} -> ${callee.unit.name}: ${(error as Error).message}`;
    // Leave both units free for the next round; whether they got stuck anyway is checked after the round.
    if (callId) {
      await Promise.allSettled([caller, callee].map((party) => unitRequest(party.unit, 'POST', '/api/signal/end', { callId })));
    }
  }
  record.durationMs = performance.now() - startedAt;
  return record;
}

/** CPU seconds the whole machine has been busy since boot (/proc/stat: all but idle and iowait). */
function machineCpuSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) / 100;
}

/** CPU seconds of this site so far: its units with their audio hosts, and this process (the sound cards' clock). */
function siteCpuSeconds(units: UnitProcess[]): number {
  const own = process.cpuUsage();
  return units.reduce((sum, unit) => sum + (unit.child.pid === undefined ? 0 : (sampleUnit(unit.child.pid)?.totalCpuSeconds ?? 0)), (own.user + own.system) / 1e6);
}

/** What other work than this site took of the machine since `mark()`, % of one core. */
function othersMeter(units: UnitProcess[]) {
  const mark = () => ({ at: performance.now(), machine: machineCpuSeconds(), site: siteCpuSeconds(units) });
  return {
    mark,
    othersPercentSince(from: ReturnType<typeof mark>): number {
      const now = mark();
      return Math.max(0, (100 * (now.machine - from.machine - (now.site - from.site))) / ((now.at - from.at) / 1000));
    },
  };
}

function sampleAll(units: UnitProcess[], t: number, round: number): ResourceSample {
  return { t, round, units: units.map((unit) => (unit.child.pid === undefined ? undefined : sampleUnit(unit.child.pid))) };
}

/** Runs the whole load scenario and returns what happened; it throws only when the site cannot be set up. */
export async function runLoad(options: LoadRunOptions): Promise<LoadReport> {
  const log = options.log ?? (() => undefined);
  if (options.units < 2 || options.units % 2 !== 0) throw new Error('units must be an even number >= 2');
  const setupStartedAt = performance.now();
  const startedAt = new Date().toISOString();
  const names = Array.from({ length: options.units }, (_, index) => `U${String(index + 1).padStart(2, '0')}`);
  const cards = createToneSoundCards(names.map((name, index) => ({ name, toneHz: toneOfUnit(index) })));
  // Teardowns run last-registered first: the units stop before their sound cards go.
  options.host.teardown(() => cards.dispose());
  // Static peers: each unit's config names every other unit's port, so the ports are chosen first.
  const ports = await Promise.all(names.map(() => freeTcpPort()));
  const previousPriority = os.getPriority(0);
  try {
    os.setPriority(0, Math.min(previousPriority, UNIT_PRIORITY));
    options.host.teardown(() => os.setPriority(0, previousPriority));
  } catch {
    log('could not raise the priority of the units (not root?): on a busy machine they may starve');
  }
  // Started a few at a time: twenty units and forty audio hosts compiling through tsx at once
  // would swamp two cores for minutes.
  const units: UnitProcess[] = [];
  for (let first = 0; first < names.length; first += STARTUP_BATCH) {
    log(`starting units ${first + 1}-${Math.min(names.length, first + STARTUP_BATCH)} of ${names.length}`);
    const batch = names.slice(first, first + STARTUP_BATCH).map((name, offset) => {
      const index = first + offset;
      const card = cards.card(name);
      return launchUnit(options.host, {
        name,
        httpPort: ports[index],
        peers: ports.filter((_, other) => other !== index).map((port) => `127.0.0.1:${port}`),
        env: card.env,
        readyTimeoutMs: UNIT_READY_TIMEOUT_MS,
        config: {
          // What a unit runs (the ALSA engine, in the unit's own process). The tone cards speak in
          // syllables: with a steady tone, the units' noise suppression left no call any audio
          // (test/support/tone-check.ts).
          audio: { captureDevice: card.captureDevice, playbackDevice: card.playbackDevice, backend: 'alsa' },
          calls: { ringTimeoutMs: 120_000, peerLostMs: PEER_LOST_MS },
          // Every unit here connects from 127.0.0.1: the per-address cap (32) is made for one unit
          // per address, and 19 peers starting together hold more than that between them (it refused
          // the test's own registration in a run here).
          http: { maxConnectionsPerAddress: 32 * options.units },
          // A starved unit answers a ring request late: not unreachable.
          discovery: {
            requestTimeoutMs: UNIT_REQUEST_TIMEOUT_MS,
            ...(options.discoveryPollMs ? { pollIntervalMs: options.discoveryPollMs, offlineAfterMs: 3 * options.discoveryPollMs } : {}),
          },
        },
      });
    });
    units.push(...(await Promise.all(batch)));
  }
  // The sound cards' clock runs on this process's main thread and stands in for hardware, which
  // keeps time whatever the CPUs do: on a saturated machine it must not be starved by the very
  // units it clocks. (Linux applies this to the main thread only; needs root, else it stays as is.)
  // Raised only once the units run: children would inherit it.
  try {
    os.setPriority(0, Math.min(previousPriority, CLOCK_PRIORITY));
  } catch {
    log('could not raise the priority of the sound-card clock (not root?): it may stall under load');
  }

  const parties: Party[] = units.map((unit, index) => ({ unit, card: cards.card(names[index]), user: `Room ${names[index]}` }));
  for (const party of parties) {
    const registered = await unitRequest(party.unit, 'POST', '/api/users/register', { name: party.user });
    if (registered.status !== 201) throw new Error(`register ${party.user} on ${party.unit.name}: ${registered.status} ${JSON.stringify(registered.body)}`);
  }
  log('units up, users registered; waiting for every unit to see the whole site');
  const allUsers = parties.map((party) => party.user).sort();
  await until(
    'every unit to see the other units online and all users in the directory',
    async () => {
      const views = await Promise.all(
        parties.map(async (party) => {
          const [peers, users, status] = await Promise.all([
            unitRequest(party.unit, 'GET', '/api/peers'),
            unitRequest(party.unit, 'GET', '/api/users'),
            unitRequest(party.unit, 'GET', '/api/status'),
          ]);
          const onlinePeers = (peers.body?.peers ?? []).filter((peer: { online: boolean }) => peer.online).length;
          const onlineUsers = (users.body?.users ?? [])
            .filter((user: { online: boolean }) => user.online)
            .map((user: { name: string }) => user.name)
            .sort();
          return onlinePeers === parties.length - 1 && JSON.stringify(onlineUsers) === JSON.stringify(allUsers) && status.body?.audio?.available === true;
        }),
      );
      return views.every(Boolean);
    },
    SITE_READY_TIMEOUT_MS,
    500,
  );
  const setupSeconds = (performance.now() - setupStartedAt) / 1000;
  log(`site ready after ${setupSeconds.toFixed(1)} s`);

  const idleMs = (options.idleSeconds ?? 10) * 1000;
  const idleBefore = sampleAll(units, 0, 0);
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  const idleAfter = sampleAll(units, 0, 0);
  const idleCpuPercent = idleAfter.units.map((after, index) => {
    const before = idleBefore.units[index];
    return after && before ? (100 * (after.totalCpuSeconds - before.totalCpuSeconds)) / ((after.at - before.at) / 1000) : Number.NaN;
  });
  log(`idle site: ${idleCpuPercent.reduce((sum, value) => sum + value, 0).toFixed(0)}% of one core for all ${units.length} units with their audio hosts`);
  const callsPerRound = Math.min(options.callsPerRound ?? options.units / 2, options.units / 2);

  const report: LoadReport = {
    unitNames: names,
    startedAt,
    setupSeconds,
    runSeconds: 0,
    rounds: 0,
    calls: [],
    stuckCalls: [],
    roundEndSamples: [],
    timedSamples: [],
    maxClockGapMs: 0,
    callsPerRound,
    discoveryPollMs: options.discoveryPollMs ?? null,
    idleCpuPercent,
    machineBusyPercent: 0,
    othersBusyPercent: 0,
    cores: os.cpus().length,
  };
  cards.resetMaxTickGap();
  const machineBefore = machineCpuSeconds();
  const runStartedAt = performance.now();
  const elapsedSeconds = () => (performance.now() - runStartedAt) / 1000;
  report.roundEndSamples.push(sampleAll(units, 0, 0));
  report.timedSamples.push(sampleAll(units, 0, 0));
  const sampler = setInterval(() => report.timedSamples.push(sampleAll(units, elapsedSeconds(), report.rounds)), options.sampleEveryMs ?? 10_000);
  const meter = othersMeter(units);
  /** Partners each unit had a call with that went through. */
  const okPartners = new Map<string, Set<string>>(names.map((name) => [name, new Set<string>()]));
  const enoughOkCalls = () => [...okPartners.values()].every((partners) => partners.size >= (options.minOkCallsPerUnit ?? 0));
  const moreRounds = (round: number) =>
    performance.now() - runStartedAt < (options.maxRunMs ?? Number.POSITIVE_INFINITY) &&
    (performance.now() - runStartedAt < options.durationMs || round < (options.minRounds ?? 0) || !enoughOkCalls());
  let machineBusy = false;
  let callsPlaced = 0;
  try {
    for (let round = 0; moreRounds(round); round += 1) {
      // With fewer calls than pairs, a different slice of the pairs takes part each round; one call
      // only while other work keeps the machine busy.
      const concurrent = machineBusy ? 1 : callsPerRound;
      const allPairs = pairsForRound(parties.length, round);
      const offset = callsPlaced % allPairs.length;
      const pairs = [...allPairs.slice(offset), ...allPairs.slice(0, offset)].slice(0, concurrent);
      callsPlaced += pairs.length;
      const roundMark = meter.mark();
      const records = await Promise.all(pairs.map(([caller, callee], index) => oneCall(round, parties[caller], parties[callee], (round + index) % 2 === 0)));
      const othersPercent = meter.othersPercentSince(roundMark);
      machineBusy = othersPercent > BUSY_OTHERS_PERCENT;
      for (const record of records) {
        if (record.ok) {
          okPartners.get(record.caller)!.add(record.callee);
          okPartners.get(record.callee)!.add(record.caller);
        } else if (machineBusy) {
          record.excused = `other work took ${othersPercent.toFixed(0)}% of one core during the round`;
        }
      }
      report.calls.push(...records);
      report.rounds = round + 1;
      // No stuck call: once every call of the round has ended, no unit has a live one. A unit whose
      // call failed gets the liveness timeout (calls.peerLostMs, 4 s) to end it on its own.
      for (const party of parties) {
        try {
          await until(`${party.unit.name} idle`, async () => (await unitRequest(party.unit, 'GET', '/api/calls')).body?.current === null, IDLE_AFTER_ROUND_MS);
        } catch {
          const current = (await unitRequest(party.unit, 'GET', '/api/calls')).body?.current;
          report.stuckCalls.push(`round ${round}: ${party.unit.name} still has call ${current?.id} (${current?.phase})`);
        }
      }
      report.roundEndSamples.push(sampleAll(units, elapsedSeconds(), report.rounds));
      const failed = records.filter((record) => !record.ok);
      log(
        `round ${round + 1} at ${elapsedSeconds().toFixed(0)} s: ${records.length - failed.length}/${records.length} calls ok, other work ${othersPercent.toFixed(0)}% of one core` +
          (failed.length > 0 ? `; ${failed.map((record) => `${record.failure}${record.excused ? ` (excused: ${record.excused})` : ''}`).join('; ')}` : ''),
      );
    }
  } finally {
    clearInterval(sampler);
  }
  report.runSeconds = elapsedSeconds();
  report.timedSamples.push(sampleAll(units, report.runSeconds, report.rounds));
  const machineAfter = machineCpuSeconds();
  const unitsCpuSeconds = report.timedSamples.at(-1)!.units.reduce((sum, unit, index) => {
    const before = report.timedSamples[0]!.units[index];
    return sum + (unit && before ? unit.totalCpuSeconds - before.totalCpuSeconds : 0);
  }, 0);
  report.machineBusyPercent = (100 * (machineAfter - machineBefore)) / report.runSeconds;
  report.othersBusyPercent = Math.max(0, (100 * (machineAfter - machineBefore - unitsCpuSeconds)) / report.runSeconds);
  log(`during the rounds the machine was busy ${report.machineBusyPercent.toFixed(0)}% of one core (of ${report.cores * 100}%), ${report.othersBusyPercent.toFixed(0)}% of it not these units`);
  report.maxClockGapMs = cards.maxTickGapMs;
  return report;
}
