import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { copyFile, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createWriteStream, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { storePanelPassword } from '../../src/security/people-password.js';
import { TEST_PANEL_PASSWORD } from './people-session.js';
import { TEST_SITE_SECRET } from './test-site.js';
import type { LogLine, TeardownHost } from './unit-process.js';
import { sampleUnitProcess, summarise, windowBetween, type ProcSample, type SiteWindow } from './site-figures.js';

/**
 * A site of N real unit processes on one machine, with a real network between them: each unit in a
 * network namespace of its own, joined by a veth pair to one Linux bridge in a hub namespace, so
 * DNS-SD multicast flows between them for real, as on a LAN. Units run the compiled service
 * (dist/main.js, built once when stale) without sound devices, each with the default discovery
 * settings unless told otherwise. Their audio host cannot start (site-no-sound.mjs): the unit runs
 * without sound, as it does when naudiodon fails, instead of spawning a process per device retry.
 *
 *   const site = await startNetnsSite(t, { units: 10 });
 *   await site.untilAllSeeAll();                      // every unit lists every other one, online
 *   const idle = await site.measure(20_000);          // CPU, RSS, packets/s per unit over 20 s
 *   const join = await site.join();                   // a new unit: how long until all see it
 *   const gone = await site.vanish(site.units.slice(0, 3), 'unplug');   // how long until all notice
 *   await site.plug(site.units.slice(0, 3));  await site.grow(50);      // back, and a bigger site
 *   const { status, body } = await site.api(site.units[0], 'GET', '/api/peers');
 *
 * Nothing touches the machine's own network: the bridge lives in the hub namespace, and the test
 * reaches the units' HTTP APIs through a relay process in that namespace, over a unix socket.
 * Everything (processes, namespaces, veths, the bridge, data dirs) is removed by close(), which the
 * test's teardown calls; a process exit handler and a sweep of earlier runs' leftovers (namespaces
 * whose creating process is gone) catch what a crashed run left behind. Needs root and iproute2.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST_MAIN = path.join(REPO_ROOT, 'dist', 'main.js');
const SHIPPED_CONFIG_DIR = path.join(REPO_ROOT, 'config');
const RELAY = fileURLToPath(new URL('./site-relay.ts', import.meta.url));
const NO_SOUND = fileURLToPath(new URL('./site-no-sound.mjs', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');
/** Info lines of the units the site test keeps beside their warnings: its start, and what tells how presence words travel. */
const KEPT_INFO = new Set(['intercom ready', 'presence push not taken', "its view of the site has long differed from this unit's: comparing them", 'a unit this one never heard of is online for another: asking it']);
const run = promisify(execFile);

/** Namespace names: `icsite-<creator pid>-<site>-h` (hub) and `...-u<index>` (units). */
const NS_PREFIX = 'icsite-';
/** Units live on 10.99.0.0/16; the hub's bridge is .255.254, so the relay can reach every unit. */
const HUB_ADDRESS = '10.99.255.254';
const UNIT_HTTP_PORT = 5000;

/** One other unit as a unit's directory shows it (GET /api/peers, the `peers` event). */
interface PeerEntry {
  unitId: string;
  online: boolean;
}

export interface NetnsSiteOptions {
  /** How many units to start. */
  units: number;
  /** Config over the site's defaults for unit `index` (node-config merge), e.g. `{ discovery: { pollIntervalMs: 2000 } }`. */
  config?: (index: number) => Record<string, unknown>;
  /** Units started at once (default 8): a 2-core machine starts them fastest in small batches. */
  batchSize?: number;
  /** How long one unit may take to log "intercom ready" (default 240 s: a machine shared with other builds can be that slow). */
  readyTimeoutMs?: number;
  /** Build dist/ when it is older than src/ (default true). */
  build?: boolean;
  /**
   * 'none' (default): the units' audio host cannot start (site-no-sound.mjs), so a unit without a
   * sound card costs what it costs on a real one between calls, not a process per device retry.
   * 'retry': dist/main.js exactly as shipped, retrying the missing devices (children's CPU shows it).
   */
  sound?: 'none' | 'retry';
}

export interface SiteUnit {
  readonly index: number;
  readonly name: string;
  /** Its network namespace. */
  readonly namespace: string;
  /** Its IPv4 address on the bridge. */
  readonly address: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dataDir: string;
  /** Its unit id (from its "unit services started" line). */
  unitId: string;
  /** performance.now() when it was spawned, and Date.now() of its "intercom ready" log line. */
  readonly spawnedAt: number;
  readyAtEpochMs: number;
  /** Every log line, parsed. */
  readonly logs: LogLine[];
  /**
   * Who this unit sees, by unit id, with when (epoch ms) the test learnt of the last change: from
   * the unit's own event stream (`hello`, then a `peers` event at every change of its directory),
   * so whatever feeds the directory (polling today, a presence protocol later) is measured alike.
   */
  readonly view: Map<string, { online: boolean; atEpochMs: number }>;
  /** Running (not killed, not stopped). */
  alive: boolean;
  /** Its link to the bridge is down (unplug()). */
  unplugged: boolean;
}

export interface JoinResult {
  unit: SiteUnit;
  /** From the new unit's "intercom ready" until the last running unit showed it online (its event stream). */
  seenByAllAfterReadyMs: number;
  /** From spawning its process (includes Node's start-up). */
  seenByAllAfterSpawnMs: number;
  slowestViewer: string;
}

export interface VanishResult {
  how: 'unplug' | 'kill';
  vanished: string[];
  /** From the moment they vanished until every remaining unit showed each of them offline. */
  allNoticedAfterMs: number;
  /** Per vanished unit: when the last remaining unit noticed it. */
  perUnitMs: Record<string, number>;
  /** How the remaining units found them gone (the `why` each logged), and how many views each way. */
  byWhy: Record<string, number>;
  /** Views still showing a vanished unit online 10 s after they vanished, of all. */
  staleAfter10s: { views: number; of: number };
  /** The slowest views: who noticed whom when, and why. */
  slowest: string[];
  /** What else the remaining units warned of meanwhile, and the presence lines kept (message and result: times), 'peer offline' left out. */
  warnings: Record<string, number>;
}

export interface NetnsSite {
  readonly units: SiteUnit[];
  /** Units not killed or stopped. */
  running(): SiteUnit[];
  /** Which running, plugged-in unit does not (yet) see which other one online ("S3 does not see S7"). */
  missingViews(): string[];
  /** Resolves once every running, plugged-in unit sees every other one online (by their event streams). */
  untilAllSeeAll(timeoutMs?: number): Promise<number>;
  /** CPU, memory and packets per unit over `windowMs` (two /proc samples per unit); default: the running units still on the network. */
  measure(windowMs: number, units?: SiteUnit[]): Promise<SiteWindow>;
  /** Starts one more unit and measures how long until every running unit sees it. */
  join(timeoutMs?: number): Promise<JoinResult>;
  /** Starts more units (in batches) until the site has `total`: one site grown 10 -> 50 -> 100 costs one start of 100. */
  grow(total: number): Promise<SiteUnit[]>;
  /** Brings unplugged units' links back up. */
  plug(units: SiteUnit[]): Promise<void>;
  /** Takes `units` off the network at once (unplug: their link goes down; kill: SIGKILL) and measures how long until the rest notice. */
  vanish(units: SiteUnit[], how: 'unplug' | 'kill', timeoutMs?: number): Promise<VanishResult>;
  /** One JSON request to a unit's HTTP API, logged in with the panel password (through the relay). */
  api<T = any>(unit: SiteUnit, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', urlPath: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Stops every unit and the relay, deletes every namespace, veth and the bridge, removes the data dirs. Idempotent. */
  close(): Promise<void>;
}

// ---- leftovers ------------------------------------------------------------------------------

const liveNamespaces = new Set<string>();
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Every packet a unit sends into the bridge is handed to the other side of a veth through the
 * sending CPU's backlog queue (net.core.netdev_max_backlog, 1000 by default), and a multicast or
 * broadcast frame is copied to every port at once: one mDNS answer is 100 packets at 100 units, and
 * a burst of them overflowed the queue. At 80 units the kernel dropped ~20 000 packets while units
 * started (SYNs among them: every connection took 1-4 s, and a batch of 8 units two and a half
 * minutes). A switch has no such queue, so the site raises it while it runs (the setting is the
 * whole machine's) and puts the old value back.
 */
const BACKLOG_SETTING = '/proc/sys/net/core/netdev_max_backlog';
const SITE_BACKLOG = 100_000;
let backlogBefore: number | null = null;

/** Packets the kernel dropped so far because a CPU's backlog queue was full (/proc/net/softnet_stat, all CPUs). */
export function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .split('\n')
    .filter(Boolean)
    .reduce((sum, line) => sum + parseInt(line.trim().split(/\s+/)[1], 16), 0);
}

function raiseBacklog(): void {
  if (backlogBefore !== null) return;
  const current = Number(readFileSync(BACKLOG_SETTING, 'utf8').trim());
  if (current >= SITE_BACKLOG) return;
  writeFileSync(BACKLOG_SETTING, `${SITE_BACKLOG}\n`);
  backlogBefore = current;
}

function restoreBacklog(): void {
  if (backlogBefore === null) return;
  try {
    writeFileSync(BACKLOG_SETTING, `${backlogBefore}\n`);
  } finally {
    backlogBefore = null;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
    deleteNamespacesSync([...liveNamespaces]);
    restoreBacklog();
  });
}

function deleteNamespacesSync(names: string[]): void {
  if (names.length === 0) return;
  for (const name of names) killNamespaceProcessesSync(name);
  try {
    execFileSync('ip', ['-force', '-batch', '-'], { input: names.map((name) => `netns del ${name}\n`).join(''), stdio: ['pipe', 'ignore', 'ignore'] });
  } catch {
    // -force goes on past a name that is gone already
  }
}

function killNamespaceProcessesSync(name: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  } catch {
    // no such namespace
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Namespaces of site tests whose creating process is gone (a crashed or killed run): their processes are killed and they are deleted. */
export function sweepStaleSites(): string[] {
  let names: string[];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return [];
  }
  const stale = names.filter((name) => {
    const match = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(name);
    return match !== null && Number(match[1]) !== process.pid && !processAlive(Number(match[1]));
  });
  deleteNamespacesSync(stale);
  return stale;
}

/** The site test's namespaces that exist now (all runs), e.g. to check that a site cleaned up. */
export function siteNamespaces(): string[] {
  try {
    return readdirSync('/run/netns').filter((name) => name.startsWith(NS_PREFIX));
  } catch {
    return [];
  }
}

/** Whether this machine can run a site: root, iproute2, network namespaces. */
export async function netnsAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    await run('unshare', ['-n', 'ip', 'link', 'add', 'probe0', 'type', 'bridge']);
    return true;
  } catch {
    return false;
  }
}

// ---- build ----------------------------------------------------------------------------------

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestMtime(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, (await stat(full)).mtimeMs);
  }
  return newest;
}

let building: Promise<void> | null = null;

/** Builds dist/ (npm run build) when dist/main.js is missing or older than any src/ file; once per process. */
export function ensureBuilt(): Promise<void> {
  building ??= (async () => {
    const built = existsSync(DIST_MAIN) ? (await stat(DIST_MAIN)).mtimeMs : 0;
    const newestSource = await newestMtime(path.join(REPO_ROOT, 'src'));
    if (built >= newestSource) return;
    await run('npm', ['run', 'build'], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
  })();
  return building;
}

// ---- the site -------------------------------------------------------------------------------

let siteCounter = 0;

function unitAddress(index: number): string {
  // index 0 -> 10.99.0.1 ... 253 -> 10.99.0.254, 254 -> 10.99.1.1
  return `10.99.${Math.floor(index / 254)}.${(index % 254) + 1}`;
}

/** A fixed, locally administered MAC per unit, so the hub can know it without asking. */
function unitMac(index: number): string {
  return `02:99:00:00:${((index >> 8) & 0xff).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mergeConfig(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = isPlainObject(merged[key]) && isPlainObject(value) ? mergeConfig(merged[key] as Record<string, unknown>, value) : value;
  return merged;
}

async function ipBatch(lines: string[], namespace?: string): Promise<void> {
  if (lines.length === 0) return;
  const args = [...(namespace ? ['-n', namespace] : []), '-batch', '-'];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('ip', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ip ${args.join(' ')} failed (${code}): ${stderr.trim()}\n${lines.join('\n')}`))));
    child.stdin.end(lines.map((line) => `${line}\n`).join(''));
  });
}

/** Starts a site of `options.units` unit processes on a bridge, and closes it when the test ends. */
export async function startNetnsSite(t: TeardownHost, options: NetnsSiteOptions): Promise<NetnsSite> {
  installExitHook();
  sweepStaleSites();
  if (options.build !== false) await ensureBuilt();
  const site = new Site(options);
  t.teardown(() => site.close());
  try {
    await site.open();
    await site.spawnUnits(options.units);
  } catch (error) {
    // The start's own failure is what the test must see, not a failure of cleaning up after it.
    await site.close().catch((closeError: Error) => process.stderr.write(`site cleanup after a failed start: ${closeError.message}\n`));
    throw error;
  }
  return site;
}

class Site extends EventEmitter implements NetnsSite {
  readonly units: SiteUnit[] = [];
  private readonly id = `${NS_PREFIX}${process.pid}-${siteCounter++}`;
  private readonly hub = `${this.id}-h`;
  private root = '';
  private relay: ChildProcess | null = null;
  private relaySocket = '';
  private passwordTemplate = '';
  private closing: Promise<void> | null = null;
  private readonly sessions = new Map<SiteUnit, Promise<{ cookie: string; csrf: string }>>();
  /** The units' event streams, ended by close(). */
  private readonly streams = new Set<http.ClientRequest>();

  constructor(private readonly options: NetnsSiteOptions) {
    super();
    this.setMaxListeners(0);
  }

  running(): SiteUnit[] {
    return this.units.filter((unit) => unit.alive);
  }

  async open(): Promise<void> {
    this.root = await mkdtemp(path.join(os.tmpdir(), 'intercom-site-'));
    // One scrypt hash for every unit's panel password, copied into each data dir.
    this.passwordTemplate = path.join(this.root, 'password-template');
    await storePanelPassword(this.passwordTemplate, TEST_PANEL_PASSWORD);
    raiseBacklog();
    liveNamespaces.add(this.hub);
    await ipBatch([`netns add ${this.hub}`]);
    await ipBatch(['link set lo up', 'link add br0 type bridge mcast_snooping 0', `addr add ${HUB_ADDRESS}/16 dev br0`, 'link set br0 up'], this.hub);
    this.relaySocket = path.join(this.root, 'relay.sock');
    const relay = spawn('ip', ['netns', 'exec', this.hub, process.execPath, '--import', TSX_LOADER, RELAY, this.relaySocket], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.relay = relay;
    liveChildren.add(relay);
    relay.once('exit', () => liveChildren.delete(relay));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the site relay did not start within 60 s')), 60_000);
      createInterface({ input: relay.stdout! }).once('line', () => {
        clearTimeout(timer);
        resolve();
      });
      relay.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the site relay exited (${code})`));
      });
    });
  }

  /** Creates namespaces and links for `count` more units, then starts them in batches. */
  async spawnUnits(count: number): Promise<SiteUnit[]> {
    const first = this.units.length;
    const indexes = Array.from({ length: count }, (_, offset) => first + offset);
    const names = indexes.map((index) => `${this.id}-u${index}`);
    for (const name of names) liveNamespaces.add(name);
    await ipBatch([
      ...names.map((name) => `netns add ${name}`),
      ...indexes.map((index, offset) => `link add name vs${index} netns ${this.hub} type veth peer name eth0 address ${unitMac(index)} netns ${names[offset]}`),
    ]);
    // The hub (the test's relay and requests) knows every unit's MAC: its own ARP requests, broadcast
    // to every unit whenever an entry went stale, were most of the ARP an idle unit of 50 received.
    await ipBatch(
      indexes.flatMap((index) => [`link set vs${index} master br0 up`, `neigh replace ${unitAddress(index)} lladdr ${unitMac(index)} dev br0 nud permanent`]),
      this.hub,
    );
    // No IPv6 link-local address (addrgenmode none): only the units' own traffic is on the wire.
    await Promise.all(
      indexes.map((index, offset) =>
        ipBatch(
          [
            'link set lo up',
            'link set eth0 addrgenmode none',
            `addr add ${unitAddress(index)}/16 dev eth0`,
            'link set eth0 up',
            'route add 224.0.0.0/4 dev eth0',
          ],
          names[offset],
        ),
      ),
    );
    const batchSize = this.options.batchSize ?? 8;
    const started: SiteUnit[] = [];
    for (let start = 0; start < indexes.length; start += batchSize) {
      const batch = indexes.slice(start, start + batchSize);
      const results = await Promise.allSettled(batch.map((index, offset) => this.startUnit(index, names[start + offset])));
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      for (const result of results) if (result.status === 'fulfilled') started.push(result.value);
      if (failed) throw failed.reason;
    }
    return started;
  }

  private async startUnit(index: number, namespace: string): Promise<SiteUnit> {
    const name = `S${index}`;
    const dataDir = path.join(this.root, name);
    await mkdir(dataDir, { recursive: true });
    await copyFile(path.join(this.passwordTemplate, 'panel-password'), path.join(dataDir, 'panel-password'));
    const config = mergeConfig(
      {
        unit: { name },
        http: { host: '0.0.0.0', port: UNIT_HTTP_PORT },
        audio: { udpPort: 40000, captureDevice: 'site-test-no-sound-device', playbackDevice: 'site-test-no-sound-device' },
        dataDir,
        peers: [],
        discovery: { dnsSd: true },
        gpio: { enabled: false },
        site: { secret: TEST_SITE_SECRET },
        // INTERCOM_SITE_LOG_LEVEL=debug with INTERCOM_SITE_LOG_DIR: the presence words each unit got, too.
        log: { level: process.env.INTERCOM_SITE_LOG_LEVEL ?? 'info' },
      },
      this.options.config?.(index) ?? {},
    );
    const spawnedAt = performance.now();
    const preload = this.options.sound === 'retry' ? [] : ['--import', NO_SOUND];
    const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, ...preload, DIST_MAIN], {
      cwd: dataDir,
      env: { ...process.env, NODE_CONFIG_DIR: SHIPPED_CONFIG_DIR, NODE_CONFIG: JSON.stringify(config), SUPPRESS_NO_CONFIG_WARNING: 'y' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveChildren.add(child);
    const unit: SiteUnit = {
      index,
      name,
      namespace,
      address: unitAddress(index),
      child,
      pid: child.pid!,
      dataDir,
      unitId: '',
      spawnedAt,
      readyAtEpochMs: 0,
      logs: [],
      view: new Map(),
      alive: true,
      unplugged: false,
    };
    this.units.push(unit);
    let stderrTail = '';
    const recent: string[] = [];
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-4096);
    });
    child.once('exit', () => {
      liveChildren.delete(child);
      unit.alive = false;
      this.emit('change');
    });
    // INTERCOM_SITE_LOG_DIR: every unit's whole log in <dir>/<name>.log, to find out why a run failed.
    const fullLog = process.env.INTERCOM_SITE_LOG_DIR ? createWriteStream(path.join(process.env.INTERCOM_SITE_LOG_DIR, `${name}.log`), { flags: 'a' }) : null;
    if (fullLog) child.once('exit', () => fullLog.end());
    createInterface({ input: child.stdout! }).on('line', (text) => {
      fullLog?.write(`${text}\n`);
      recent.push(text.slice(0, 400));
      if (recent.length > 12) recent.shift();
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        return;
      }
      // Only what the site test reads is kept: its own start, and warnings.
      if (line.msg === 'unit services started' && typeof line.unitId === 'string') unit.unitId = line.unitId;
      if (line.msg === 'intercom ready') unit.readyAtEpochMs = Number(line.time);
      if (line.level !== undefined && (line.level >= 40 || KEPT_INFO.has(String(line.msg)))) unit.logs.push(line);
      this.emit('change');
    });
    const tail = () => `\n--- last log lines of ${name} ---\n${recent.join('\n')}\n--- stderr ---\n${stderrTail.split('\n').filter((l) => !l.startsWith('ALSA lib')).slice(-10).join('\n')}`;
    try {
      await this.until(
        () => {
          if (!unit.alive) throw new Error(`unit ${name} exited before it was ready`);
          return unit.readyAtEpochMs > 0 && unit.unitId !== '';
        },
        this.options.readyTimeoutMs ?? 240_000,
        `unit ${name} to log "intercom ready"`,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}${tail()}`);
    }
    // A unit that has just logged "ready" on a machine busy starting dozens more may drop the
    // connections the relay opens to it ("socket hang up" on the login or the event stream, seen
    // at 50 units with the load average above 50, after a minute of waiting); it is asked again
    // up to five times, and a unit that keeps dropping them fails the start.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.followEvents(unit);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        const dropped = code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE' || /socket hang up/.test((error as Error).message);
        if (!dropped || attempt >= 6) throw new Error(`following the events of ${name} (attempt ${attempt}): ${(error as Error).message}${tail()}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 1000 * attempt)));
      }
    }
    return unit;
  }

  /**
   * Keeps `unit.view` up to date from the unit's event stream (through the relay; no polling): the
   * `hello` and every `peers` event carry the whole peer list. Resolves once the hello has arrived.
   */
  private async followEvents(unit: SiteUnit): Promise<void> {
    const session = await this.session(unit);
    const apply = (peers: PeerEntry[]) => {
      const now = Date.now();
      const listed = new Set<string>();
      for (const peer of peers) {
        listed.add(peer.unitId);
        const known = unit.view.get(peer.unitId);
        if (known?.online !== peer.online) unit.view.set(peer.unitId, { online: peer.online, atEpochMs: now });
      }
      // A peer the directory dropped altogether is not seen either.
      for (const [unitId, known] of unit.view) if (!listed.has(unitId) && known.online) unit.view.set(unitId, { online: false, atEpochMs: now });
      this.emit('change');
    };
    await new Promise<void>((resolve, reject) => {
      const target = `${unit.address}:${UNIT_HTTP_PORT}`;
      const request = http.request(
        {
          method: 'GET',
          path: '/api/events',
          headers: { cookie: session.cookie, host: target, accept: 'text/event-stream' },
          createConnection: () => this.relayConnection(target),
        },
        (response) => {
          if (response.statusCode !== 200) {
            reject(new Error(`event stream of ${unit.name}: ${response.statusCode}`));
            response.resume();
            return;
          }
          let buffer = '';
          response.setEncoding('utf8').on('data', (chunk: string) => {
            buffer += chunk;
            for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const event = /^event: (.+)$/m.exec(block)?.[1];
              const data = /^data: (.+)$/m.exec(block)?.[1];
              if (!data || (event !== 'hello' && event !== 'peers')) continue;
              apply((JSON.parse(data) as { peers: PeerEntry[] }).peers);
              if (event === 'hello') resolve();
            }
          });
          response.on('error', () => undefined);
        },
      );
      request.on('error', (error) => reject(error));
      this.streams.add(request);
      request.end();
    });
  }

  private relayConnection(target: string): net.Socket {
    const socket = net.connect(this.relaySocket);
    socket.write(`${target}\n`);
    return socket;
  }

  /** Resolves when `done()` holds, re-checked on every log line, event and exit; rejects after `timeoutMs` or when `done` throws. */
  private until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok: boolean;
        try {
          ok = done();
        } catch (error) {
          finish();
          reject(error);
          return;
        }
        if (ok) {
          finish();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.off('change', check);
      };
      this.on('change', check);
      check();
    });
  }

  private reachable(): SiteUnit[] {
    return this.units.filter((unit) => unit.alive && !unit.unplugged);
  }

  missingViews(): string[] {
    const units = this.reachable();
    const missing: string[] = [];
    for (const viewer of units) {
      for (const other of units) {
        if (other !== viewer && viewer.view.get(other.unitId)?.online !== true) missing.push(`${viewer.name} does not see ${other.name}`);
      }
    }
    return missing;
  }

  async untilAllSeeAll(timeoutMs = 60_000): Promise<number> {
    const started = performance.now();
    try {
      await this.until(() => this.missingViews().length === 0, timeoutMs, 'every unit to see every other one');
    } catch (error) {
      const missing = this.missingViews();
      throw new Error(`${(error as Error).message}: ${missing.length} views missing, e.g. ${missing.slice(0, 5).join('; ')}`);
    }
    return performance.now() - started;
  }

  async measure(windowMs: number, units = this.reachable()): Promise<SiteWindow> {
    const before = new Map<SiteUnit, ProcSample | undefined>(units.map((unit) => [unit, sampleUnitProcess(unit.pid)]));
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    const windows = units.flatMap((unit) => {
      const first = before.get(unit);
      const last = sampleUnitProcess(unit.pid);
      return first && last ? [windowBetween(unit.name, first, last)] : [];
    });
    return summarise(windowMs / 1000, windows);
  }

  grow(total: number): Promise<SiteUnit[]> {
    return this.spawnUnits(Math.max(0, total - this.units.length));
  }

  async join(timeoutMs = 60_000): Promise<JoinResult> {
    const viewers = this.reachable();
    const [unit] = await this.spawnUnits(1);
    const seenAt = () => viewers.filter((viewer) => viewer.alive).map((viewer) => ({ viewer, at: viewer.view.get(unit.unitId)?.online ? viewer.view.get(unit.unitId)!.atEpochMs : null }));
    await this.until(() => seenAt().every((entry) => entry.at !== null), timeoutMs, `every unit to see the new unit ${unit.name}`);
    const last = seenAt().reduce((latest, entry) => (entry.at! > latest.at! ? entry : latest));
    const spawnedAtEpochMs = Date.now() - (performance.now() - unit.spawnedAt);
    return {
      unit,
      seenByAllAfterReadyMs: Math.max(0, last.at! - unit.readyAtEpochMs),
      seenByAllAfterSpawnMs: Math.max(0, Math.round(last.at! - spawnedAtEpochMs)),
      slowestViewer: last.viewer.name,
    };
  }

  async vanish(units: SiteUnit[], how: 'unplug' | 'kill', timeoutMs = 120_000): Promise<VanishResult> {
    const witnesses = this.reachable().filter((unit) => !units.includes(unit));
    const vanishedAtEpochMs = Date.now();
    if (how === 'unplug') {
      await ipBatch(units.map((unit) => `link set vs${unit.index} down`), this.hub);
      for (const unit of units) unit.unplugged = true;
    } else {
      for (const unit of units) unit.child.kill('SIGKILL');
      await Promise.all(units.map((unit) => (unit.alive ? once(unit.child, 'exit') : undefined)));
    }
    const noticed = () => units.every((gone) => witnesses.every((witness) => !witness.alive || witness.view.get(gone.unitId)?.online === false));
    try {
      await this.until(noticed, timeoutMs, `the remaining ${witnesses.length} units to notice ${units.length} units gone (${how})`);
    } catch (error) {
      // Who still shows whom online, and what those witnesses logged about them: what to look at first.
      const stale = witnesses.filter((witness) => witness.alive).flatMap((witness) => units.filter((gone) => witness.view.get(gone.unitId)?.online !== false).map((gone) => ({ witness, gone })));
      const lines = stale.slice(0, 6).map(({ witness, gone }) => {
        const said = witness.logs.filter((line) => JSON.stringify(line).includes(gone.unitId)).slice(-3).map((line) => line.msg);
        return `${witness.name} still shows ${gone.name} online (${said.length > 0 ? `it logged: ${said.join(' | ')}` : 'nothing logged about it'})`;
      });
      throw new Error(`${(error as Error).message}: ${stale.length} views still online, e.g. ${lines.join('; ')}`);
    }
    const perUnitMs: Record<string, number> = {};
    for (const gone of units) {
      const latest = Math.max(...witnesses.filter((witness) => witness.alive).map((witness) => witness.view.get(gone.unitId)!.atEpochMs));
      perUnitMs[gone.name] = Math.max(0, latest - vanishedAtEpochMs);
    }
    const views = witnesses.filter((witness) => witness.alive).flatMap((witness) =>
      units.map((gone) => {
        const offline = witness.logs.filter((line) => line.msg === 'peer offline' && line.unitId === gone.unitId && Number(line.time) >= vanishedAtEpochMs).at(-1);
        return { witness, gone, afterMs: witness.view.get(gone.unitId)!.atEpochMs - vanishedAtEpochMs, why: typeof offline?.why === 'string' ? offline.why : 'not logged' };
      }),
    );
    const byWhy: Record<string, number> = {};
    for (const view of views) byWhy[view.why] = (byWhy[view.why] ?? 0) + 1;
    const slowest = [...views].sort((a, b) => b.afterMs - a.afterMs).slice(0, 5).map((view) => `${view.witness.name} saw ${view.gone.name} gone after ${view.afterMs} ms (${view.why})`);
    const warnings: Record<string, number> = {};
    for (const witness of witnesses) {
      for (const line of witness.logs) {
        if (Number(line.time) < vanishedAtEpochMs || line.msg === 'peer offline' || typeof line.msg !== 'string') continue;
        const what = typeof line.result === 'string' ? `${line.msg}: ${line.result.slice(0, 60)}` : line.msg;
        warnings[what] = (warnings[what] ?? 0) + 1;
      }
    }
    return {
      how,
      warnings,
      vanished: units.map((unit) => unit.name),
      allNoticedAfterMs: Math.max(0, ...Object.values(perUnitMs)),
      perUnitMs,
      byWhy,
      staleAfter10s: { views: views.filter((view) => view.afterMs > 10_000).length, of: views.length },
      slowest,
    };
  }

  /** Brings an unplugged unit's link back up. */
  async plug(units: SiteUnit[]): Promise<void> {
    await ipBatch(units.map((unit) => `link set vs${unit.index} up`), this.hub);
    for (const unit of units) unit.unplugged = false;
  }

  async api<T = any>(unit: SiteUnit, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', urlPath: string, body?: unknown): Promise<{ status: number; body: T }> {
    const session = await this.session(unit);
    const headers: Record<string, string> = { cookie: session.cookie };
    if (method !== 'GET') headers['x-csrf-token'] = session.csrf;
    const answer = await this.request(unit, method, urlPath, headers, body);
    return { status: answer.status, body: answer.text ? (JSON.parse(answer.text) as T) : (undefined as T) };
  }

  private session(unit: SiteUnit): Promise<{ cookie: string; csrf: string }> {
    let session = this.sessions.get(unit);
    if (!session) {
      session = this.request(unit, 'POST', '/api/session', {}, { password: TEST_PANEL_PASSWORD }).then((answer) => {
        const cookie = [answer.headers['set-cookie'] ?? []].flat().map((header) => header.split(';')[0]).find((pair) => pair.startsWith('intercom_session='));
        if (answer.status !== 200 || !cookie) throw new Error(`login to ${unit.name} failed: ${answer.status} ${answer.text}`);
        return { cookie, csrf: (JSON.parse(answer.text) as { csrfToken: string }).csrfToken };
      });
      session.catch(() => this.sessions.delete(unit));
      this.sessions.set(unit, session);
    }
    return session;
  }

  private request(unit: SiteUnit, method: string, urlPath: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
    const target = `${unit.address}:${UNIT_HTTP_PORT}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          method,
          path: urlPath,
          headers: { ...headers, host: target, connection: 'close', ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) },
          createConnection: () => this.relayConnection(target),
          timeout: 30_000,
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text }));
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${method} ${urlPath} on ${unit.name}: no answer within 30 s`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const stream of this.streams) stream.destroy();
      this.streams.clear();
      // Units first, so none is left talking to a half-torn network; SIGKILL after a short grace.
      await Promise.all(
        this.units.map(async (unit) => {
          if (!unit.alive) return;
          unit.child.kill('SIGTERM');
          const killer = setTimeout(() => unit.child.kill('SIGKILL'), 3000);
          await once(unit.child, 'exit').catch(() => undefined);
          clearTimeout(killer);
        }),
      );
      if (this.relay && this.relay.exitCode === null && this.relay.signalCode === null) {
        this.relay.kill('SIGTERM');
        const killer = setTimeout(() => this.relay?.kill('SIGKILL'), 3000);
        await once(this.relay, 'exit').catch(() => undefined);
        clearTimeout(killer);
      }
      const names = [this.hub, ...this.units.map((unit) => unit.namespace)];
      // Deleting a namespace takes its end of each veth with it, and so the pair; the hub takes the bridge.
      deleteNamespacesSync(names);
      for (const name of names) liveNamespaces.delete(name);
      if (liveNamespaces.size === 0) restoreBacklog();
      if (this.root) await rm(this.root, { recursive: true, force: true });
      let left = siteNamespaces().filter((name) => name.startsWith(`${this.id}-`));
      if (left.length > 0) {
        // A namespace whose last process is still exiting can refuse to go: once more, a moment later.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        deleteNamespacesSync(left);
        left = siteNamespaces().filter((name) => name.startsWith(`${this.id}-`));
      }
      if (left.length > 0) throw new Error(`site namespaces left behind: ${left.join(', ')}`);
    })();
    return this.closing;
  }
}

/** The host's figures for the record: CPU model, cores, memory, load, kernel. */
export function machineDescription(): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((value) => value.toFixed(1)).join(' ');
  let model = cpus[0]?.model ?? 'unknown CPU';
  try {
    model = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // not Linux
  }
  return `${model}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}, Node ${process.versions.node}, load average ${load}`;
}
