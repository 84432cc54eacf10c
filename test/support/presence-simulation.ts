import { pino } from 'pino';
import { PeerDirectory } from '../../src/peers/peer-directory.js';
import { PresenceService, wordsOf } from '../../src/peers/presence-service.js';
import type { PresenceTransport } from '../../src/peers/presence-prober.js';
import type { PeerResult, PeerTarget } from '../../src/peers/peer-client.js';
import type { PresencePush, UnitInfo } from '../../src/peers/peer-protocol.js';
import { FakeClock } from './fake-clock.js';
import { seededRandom } from './seeded-random.js';

/**
 * A site of N units in one process on a fake clock: each unit has the real PeerDirectory,
 * PresenceService and PresenceProber (real signed datagrams); between them an in-memory LAN that
 * delivers UDP datagrams after `latencyMs` and answers the directory's HTTP requests (info, push)
 * from the other unit's real objects. Every datagram and HTTP exchange is counted per unit, and a
 * unit can be unplugged (nothing in or out) or plugged back in. A unit can also sit behind a NAT
 * that forwards only its HTTP port (`behindNat`): datagrams sent to its probe port are lost, and
 * its own datagrams leave from another port (NAT_SOURCE_PORT), where answers do reach it; and its
 * HTTP alone can stop answering (`httpAnswers`). Each unit has its own `secret`: HTTP between two
 * units with different secrets is refused with an unsigned 401 (as a unit's routes refuse a request
 * not signed with its site's secret), and their datagrams fail the MAC check.
 */
export const SIM_SECRET = 'the-presence-simulation-site-secret';
const WALL_EPOCH = 1_790_000_000_000;
/** What a unit answers a request not signed with its site's secret: 401, unsigned (PeerClient cannot verify it). */
const NOT_SIGNED_WITH_ITS_SECRET = { kind: 'unreachable', message: 'not signed with this site\'s secret', unverified: { status: 401, error: 'unauthorized' } } as const;
/** The source port a NAT gives the datagrams of a unit behind it. */
export const NAT_SOURCE_PORT = 61_000;

export interface SimUnit {
  index: number;
  unitId: string;
  host: string;
  baseUrl: string;
  users: string[];
  inCall: boolean;
  plugged: boolean;
  /** Behind a NAT passing only its HTTP port: its probe port is out of reach, answers to its datagrams' source are not. */
  behindNat: boolean;
  /** Whether its HTTP API answers (false: as if it stopped listening; its prober goes on). */
  httpAnswers: boolean;
  /** Its site secret (SIM_SECRET): a unit given another one refuses the others' requests with 401 and their datagrams, as a rotation leaves a removed unit. */
  secret: string;
  directory: PeerDirectory;
  presence: PresenceService;
  /** Datagrams sent and received (UDP) by this unit. */
  datagrams: { sent: number; received: number };
  /** HTTP exchanges this unit made and served (each at least a request and its answer), and requests sent to it (answered or not). */
  http: { made: number; served: number; addressed: number };
  /** Pushes carrying words about other units (gone, back) that this unit made to a unit that took them, and the words in them. */
  wordPushes: { pushes: number; words: number };
  /** Its directory's and its prober's log lines (pino JSON, parsed). */
  logs: Array<{ level: number; msg: string; unitId?: string; refused?: number }>;
}

export interface SimOptions {
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
  indirectProbes?: number;
  pollIntervalMs?: number;
  latencyMs?: number;
  /** How long an HTTP request to a unit that does not answer takes to fail (discovery.requestTimeoutMs); default 0: at once. */
  httpTimeoutMs?: number;
  /**
   * Share of the pushes saying other units went or came back (`seen`, `words`) that are lost on the way
   * (0-1, seeded): the sender believes they arrived, as a request whose answer was lost.
   */
  seenPushLoss?: number;
  /**
   * Share of the pushes carrying words about other units (`seen`, `words`) that time out (0-1,
   * seeded): lost, and the sender knows it (a busy receiver, or the way to it).
   */
  seenPushTimeouts?: number;
  /**
   * Announcements lost both ways while the site starts: `unit` is not given the addresses of the
   * units in `to`, nor they its (as if neither heard the other's DNS-SD announcement).
   */
  lostAnnouncements?: { unit: number; to: number[] }[];
  seed?: number;
}

export class PresenceSimulation {
  readonly clock = new FakeClock();
  readonly units: SimUnit[] = [];
  private readonly byHost = new Map<string, SimUnit>();
  private readonly handlers = new Map<string, (bytes: Buffer, from: { host: string; port: number }) => void>();
  private readonly latencyMs: number;
  /** Its own sequence, so that losing pushes leaves every other seeded choice as it was. */
  private readonly pushLossRandom: () => number;

  constructor(
    count: number,
    private readonly options: SimOptions = {},
  ) {
    this.latencyMs = options.latencyMs ?? 1;
    this.pushLossRandom = seededRandom((options.seed ?? 7) + 1);
    const random = seededRandom(options.seed ?? 7);
    for (let index = 0; index < count; index++) this.units.push(this.makeUnit(index, random));
  }

  unitIdOf(index: number): string {
    return `unit-${String(index).padStart(4, '0')}-sim`;
  }

  /** Starts every unit, each knowing every other unit's address (as DNS-SD would give it), but for the lost announcements. */
  start(): void {
    const lost = new Set((this.options.lostAnnouncements ?? []).flatMap(({ unit, to }) => to.flatMap((other) => [`${unit}>${other}`, `${other}>${unit}`])));
    for (const unit of this.units) {
      for (const other of this.units) if (other !== unit && !lost.has(`${unit.index}>${other.index}`)) unit.directory.addCandidate({ host: other.host, port: 5000, source: 'dns-sd' });
      unit.directory.start();
      unit.presence.start();
    }
  }

  stop(): void {
    for (const unit of this.units) {
      unit.presence.prober.stop();
      unit.directory.stop();
    }
  }

  /** Whether every plugged unit sees every other unit as `online` says (true: plugged ones online, unplugged offline). */
  converged(): boolean {
    return this.units.every(
      (unit) =>
        !unit.plugged ||
        this.units.every((other) => other === unit || unit.directory.peer(other.unitId)?.online === other.plugged),
    );
  }

  /** Advances the fake clock in steps of `stepMs` until `condition` holds; the time it took, or null after `limitMs`. */
  async timeUntil(condition: () => boolean, limitMs: number, stepMs = 100): Promise<number | null> {
    const start = this.clock.now();
    while (!condition()) {
      if (this.clock.now() - start >= limitMs) return null;
      await this.clock.advance(stepMs);
    }
    return this.clock.now() - start;
  }

  resetCounts(): void {
    for (const unit of this.units) {
      unit.datagrams = { sent: 0, received: 0 };
      unit.http = { made: 0, served: 0, addressed: 0 };
      unit.wordPushes = { pushes: 0, words: 0 };
    }
  }

  /** Packets per second of each unit over `ms`: datagrams sent and received, and two per HTTP exchange made or served. */
  packetRates(ms: number): number[] {
    return this.units.map((unit) => (unit.datagrams.sent + unit.datagrams.received + 2 * (unit.http.made + unit.http.served)) / (ms / 1000));
  }

  private transportOf(unit: () => SimUnit, host: string): PresenceTransport {
    return {
      send: (bytes, host, port) => {
        const from = unit();
        if (!from.plugged) return;
        from.datagrams.sent += 1;
        const to = this.byHost.get(host);
        this.clock.setTimeout(() => {
          if (!to || !to.plugged || port !== (to.behindNat ? NAT_SOURCE_PORT : 5000)) return;
          to.datagrams.received += 1;
          this.handlers.get(to.host)?.(bytes, { host: from.host, port: from.behindNat ? NAT_SOURCE_PORT : 5000 });
        }, this.latencyMs);
      },
      onDatagram: (handler) => {
        this.handlers.set(host, handler);
      },
    };
  }

  /** A request nobody answers fails after the client's timeout. */
  private async timedOut(): Promise<{ kind: 'unreachable'; message: string }> {
    const ms = this.options.httpTimeoutMs ?? 0;
    if (ms > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, ms));
    return { kind: 'unreachable', message: 'timeout' };
  }

  private reach(from: SimUnit, baseUrl: string): SimUnit | null {
    from.http.made += 1;
    const to = this.byHost.get(new URL(baseUrl).hostname);
    if (to && from.plugged) to.http.addressed += 1;
    if (!from.plugged || !to || !to.plugged || !to.httpAnswers) return null;
    to.http.served += 1;
    return to;
  }

  private makeUnit(index: number, random: () => number): SimUnit {
    const unitId = this.unitIdOf(index);
    const host = `10.0.${index >> 8}.${(index & 255) + 1}`;
    const o = this.options;
    // eslint-disable-next-line prefer-const
    let unit: SimUnit;
    const self = () => unit;
    const wallClock = () => WALL_EPOCH + this.clock.now();
    const logs: SimUnit['logs'] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const client = {
      info: async (baseUrl: string, expected: string | null): Promise<PeerResult<UnitInfo>> => {
        const to = this.reach(self(), baseUrl);
        if (!to) return this.timedOut();
        if (expected !== null && expected !== to.unitId) return { kind: 'unreachable', message: 'timeout' };
        if (to.secret !== self().secret) return NOT_SIGNED_WITH_ITS_SECRET;
        return { kind: 'ok', value: to.presence.info(), from: to.unitId };
      },
      pushPresence: async (target: PeerTarget, push: PresencePush): Promise<PeerResult<{ received: boolean }>> => {
        const to = this.reach(self(), target.baseUrl);
        if (!to) return this.timedOut();
        const words = wordsOf(push).filter((word) => word.unitId !== unitId).length;
        if (words > 0) {
          self().wordPushes.pushes += 1;
          self().wordPushes.words += words;
        }
        if (to.unitId !== target.unitId) return { kind: 'unreachable', message: 'timeout' };
        if (to.secret !== self().secret) return NOT_SIGNED_WITH_ITS_SECRET;
        if ((push.seen || push.words) && (o.seenPushLoss ?? 0) > 0 && this.pushLossRandom() < o.seenPushLoss!) return { kind: 'ok', value: { received: true }, from: to.unitId };
        if ((push.seen || push.words) && (o.seenPushTimeouts ?? 0) > 0 && this.pushLossRandom() < o.seenPushTimeouts!) return this.timedOut();
        const answer = to.presence.answer(push);
        void to.presence.receive(unitId, structuredClone(push), host);
        return { kind: 'ok', value: answer, from: to.unitId };
      },
    };
    const directory = new PeerDirectory({
      selfUnitId: unitId,
      selfName: `Unit ${index}`,
      client,
      localUsers: () => self().users,
      clock: this.clock,
      pollIntervalMs: o.pollIntervalMs ?? 10_000,
      offlineAfterMs: 3000,
      probed: () => true,
      logger,
    });
    const presence = new PresenceService({
      selfUnitId: unitId,
      directory,
      client,
      selfInfo: () => ({ unitId, name: `Unit ${index}`, version: '1.0.0', httpPort: 5000, users: [...self().users], inCall: self().inCall }),
      transport: this.transportOf(self, host),
      probePort: () => 5000,
      secret: () => self().secret,
      clock: this.clock,
      wallClock,
      periodMs: o.probeIntervalMs ?? 2500,
      timeoutMs: o.probeTimeoutMs ?? 500,
      indirectProbes: o.indirectProbes ?? 2,
      backstopIntervalMs: o.pollIntervalMs ?? 10_000,
      maxClockSkewMs: 30_000,
      // As in src/unit.ts: a unit whose HTTP API is gone neither answers nor sends probes.
      serving: () => self().httpAnswers,
      random,
      logger,
    });
    unit = {
      index,
      unitId,
      host,
      baseUrl: `http://${host}:5000`,
      users: [`Flat ${index}`],
      inCall: false,
      plugged: true,
      behindNat: false,
      httpAnswers: true,
      secret: SIM_SECRET,
      directory,
      presence,
      datagrams: { sent: 0, received: 0 },
      http: { made: 0, served: 0, addressed: 0 },
      wordPushes: { pushes: 0, words: 0 },
      logs,
    };
    this.byHost.set(host, unit);
    return unit;
  }
}
