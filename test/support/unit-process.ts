import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { storePanelPassword } from '../../src/security/people-password.js';
import { TEST_PANEL_PASSWORD, loginWithFetch, type SessionHeaders } from './people-session.js';
import { TEST_SITE_SECRET } from './test-site.js';

export { TEST_PANEL_PASSWORD } from './people-session.js';

/**
 * Launches real unit processes (`src/main.ts` through tsx, exactly what systemd runs) for
 * end-to-end tests: each gets its own temp data dir and config, is awaited until it logs
 * "intercom ready", and is stopped (SIGTERM, then SIGKILL) and cleaned up in teardown.
 *
 *   const [a, b] = await launchSite(t, [{ name: 'A' }, { name: 'B' }]);   // static peers of each other
 *   await a.api('POST', '/api/users/register', { name: 'Kitchen' });      // JSON in and out, logged in
 *   const response = await a.api('/api/status');                          // an authenticated fetch()
 *   await a.waitForLog((line) => line.msg === 'call state changed');
 *
 * Each unit gets the panel password TEST_PANEL_PASSWORD (option `password`), stored in its data
 * dir before it starts by the same code `intercom password` uses; `api` logs in on first use and
 * sends the session cookie (and the CSRF token on POST/PUT/PATCH/DELETE) with every request.
 *
 * The unit reads only the shipped config/default.json plus the config given here (never the
 * machine's /etc/intercom), so a developer's or CI's own unit config cannot leak into a test.
 */

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(REPO_ROOT, 'src', 'main.ts');
const COMPILED_MAIN = path.join(REPO_ROOT, 'dist', 'main.js');

/** The V8 flags systemd starts the service with (systemd/intercom.service's ExecStart), so a compiled unit here runs as on a unit. */
function serviceNodeFlags(): string[] {
  const unitFile = readFileSync(path.join(REPO_ROOT, 'systemd', 'intercom.service'), 'utf8');
  const execStart = /^ExecStart=\/usr\/bin\/env node (.*)@APP_DIR@\/dist\/main\.js$/m.exec(unitFile);
  if (!execStart) throw new Error('systemd/intercom.service has no ExecStart of node @APP_DIR@/dist/main.js');
  // INTERCOM_UNIT_NODE_FLAGS: more flags for a compiled unit (--cpu-prof, which NODE_OPTIONS refuses).
  return [...execStart[1].split(/\s+/), ...(process.env.INTERCOM_UNIT_NODE_FLAGS ?? '').split(/\s+/)].filter(Boolean);
}
const SHIPPED_CONFIG_DIR = path.join(REPO_ROOT, 'config');
const TSX_LOADER = import.meta.resolve('tsx');

export { TEST_SITE_SECRET } from './test-site.js';

/** One pino log line of the unit (the service prints nothing else on stdout). */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** The small part of ava's ExecutionContext the launchers need. */
export interface TeardownHost {
  teardown(fn: () => Promise<void> | void): void;
}

export interface UnitProcessOptions {
  /** unit.name; also names the temp data dir. */
  name: string;
  /** HTTP port; default 0 (the unit picks one; read it from `httpPort` once ready). */
  httpPort?: number;
  /** Static peers, "host:port" (default none). DNS-SD is off unless `config` turns it on. */
  peers?: string[];
  /**
   * Further configuration, merged over the test defaults by node-config (NODE_CONFIG): e.g.
   * `{ audio: { format: 'rtp-l16' }, calls: { ringTimeoutMs: 5000 } }`.
   */
  config?: Record<string, unknown>;
  /**
   * site.secret: default TEST_SITE_SECRET, so the units of one test form one site. Give one unit
   * another secret to make it a stranger; null leaves it to the stored or generated one.
   */
  siteSecret?: string | null;
  /**
   * Panel password, stored in the data dir before start (default TEST_PANEL_PASSWORD); null stores
   * none (the unit then keeps whatever its data dir holds, and `api` cannot log in).
   */
  password?: string | null;
  /**
   * false: log in with `password` but do not store it first (a restart on a kept data dir, which
   * must still hold the password it was given before). Default true.
   */
  storePassword?: boolean;
  /** Extra environment, e.g. ALSA_CONFIG_PATH for virtual sound devices. */
  env?: NodeJS.ProcessEnv;
  /** Data dir to use (kept afterwards); default: a fresh temp dir, removed on stop(). */
  dataDir?: string;
  /** How long to wait for "intercom ready" (default 30 s: the first tsx compile is slow on a Pi). */
  readyTimeoutMs?: number;
  /** Limit on open files (soft and hard, as `ulimit -n` sets them), e.g. 1024 as on a unit without LimitNOFILE. */
  openFileLimit?: number;
  /** Run dist/main.js with plain node, exactly as systemd does (build first); default: src through tsx. */
  compiled?: boolean;
}

export interface UnitProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly httpPort: number;
  readonly udpPort: number;
  /** http://127.0.0.1:<httpPort> */
  readonly baseUrl: string;
  /** "127.0.0.1:<httpPort>", the form the `peers` config takes. */
  readonly address: string;
  readonly dataDir: string;
  /** Every log line so far, parsed. */
  readonly logs: LogLine[];
  /** Everything the process wrote to stderr so far (ALSA noise lands here). */
  stderr(): string;
  /** Resolves with the first log line (past or future) that matches; rejects on timeout or exit. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** The panel password it was given (null: none was stored). */
  readonly password: string | null;
  /**
   * An authenticated fetch() of `urlPath` ("/api/..."): logs in once, sends the session cookie, and
   * the CSRF token with state-changing methods; logs in again once if the session has ended.
   */
  api(urlPath: `/${string}`, init?: RequestInit): Promise<Response>;
  /** One JSON request to the unit's HTTP API, authenticated the same way. */
  api<T = any>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', urlPath: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Logs in (again) and returns the session's cookie and CSRF headers. */
  login(): Promise<SessionHeaders>;
  /** Stops the unit (SIGTERM; SIGKILL after `graceMs`) and removes its temp data dir. Idempotent. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();
// A crashed or interrupted test run must not leave units behind holding ports.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A TCP port that was free a moment ago on `host` (to configure units that must know each other's ports). */
export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge as node-config does it (objects merge, everything else replaces). */
function mergeConfig(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? mergeConfig(current, value) : value;
  }
  return merged;
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

/** Starts one unit process and resolves once it is ready. Prefer launchUnit(t, ...) in ava tests. */
export async function startUnitProcess(options: UnitProcessOptions): Promise<UnitProcess> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), `intercom-${options.name.replace(/[^A-Za-z0-9-]/g, '_')}-`)));
  const ownsDataDir = options.dataDir === undefined;
  const password = options.password === undefined ? TEST_PANEL_PASSWORD : options.password;
  if (password !== null && options.storePassword !== false) await storePanelPassword(dataDir, password);
  const config = mergeConfig(
    {
      unit: { name: options.name },
      http: { host: '127.0.0.1', port: options.httpPort ?? 0 },
      audio: { udpPort: 0 },
      dataDir,
      peers: options.peers ?? [],
      discovery: { dnsSd: false },
      site: { secret: options.siteSecret === undefined ? TEST_SITE_SECRET : options.siteSecret },
    },
    options.config ?? {},
  );
  const command = [process.execPath, ...(options.compiled ? [...serviceNodeFlags(), COMPILED_MAIN] : ['--import', TSX_LOADER, MAIN])];
  // The shell sets the limit and then becomes the unit (exec): the child is the unit process itself.
  const [program, ...args] = options.openFileLimit === undefined ? command : ['/bin/sh', '-c', `ulimit -n ${options.openFileLimit} && exec "$@"`, 'sh', ...command];
  const child = spawn(program, args, {
    // The data dir as working directory: anything a native module drops there (crash.log) is cleaned up with it.
    cwd: dataDir,
    env: {
      ...process.env,
      NODE_CONFIG_DIR: SHIPPED_CONFIG_DIR,
      NODE_CONFIG: JSON.stringify(config),
      SUPPRESS_NO_CONFIG_WARNING: 'y',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);

  const logs: LogLine[] = [];
  const watchers = new Set<(line: LogLine) => void>();
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text, notJson: true };
    }
    logs.push(line);
    for (const watcher of [...watchers]) watcher(line);
  });
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(child);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  void exited.then((info) => {
    exitInfo = info;
  });

  const tail = () =>
    `\n--- last log lines ---\n${logs
      .slice(-8)
      .map((line) => JSON.stringify(line))
      .join('\n')}\n--- stderr (end) ---\n${stderr.split('\n').filter((l) => !l.startsWith('ALSA lib')).slice(-15).join('\n')}`;

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        watchers.delete(watcher);
      };
      const watcher = (line: LogLine) => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`unit ${options.name}: no matching log line within ${timeoutMs} ms${tail()}`));
      }, timeoutMs);
      watchers.add(watcher);
      void exited.then((info) => {
        if (!watchers.has(watcher)) return;
        done();
        reject(new Error(`unit ${options.name} exited (${describeExit(info.code, info.signal)}) before the awaited log line${tail()}`));
      });
    });
  };

  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  const stop = (graceMs = 10_000) =>
    (stopping ??= (async () => {
      if (!exitInfo) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(killer);
      }
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
      return exitInfo ?? (await exited);
    })());

  let ready: LogLine;
  try {
    ready = await waitForLog((line) => line.msg === 'intercom ready', options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    await stop(2000);
    throw error;
  }
  const httpPort = Number(ready.httpPort);
  const udpPort = Number(ready.udpPort);
  const baseUrl = `http://127.0.0.1:${httpPort}`;

  let session: Promise<SessionHeaders> | null = null;
  const login = () => {
    if (password === null) return Promise.reject(new Error(`unit ${options.name} was started without a panel password`));
    session = loginWithFetch(baseUrl, password);
    // A failed login is not remembered: the next request tries again.
    session.catch(() => {
      session = null;
    });
    return session;
  };
  const authenticatedFetch = async (urlPath: string, init: RequestInit = {}): Promise<Response> => {
    const send = async (headers: SessionHeaders) => {
      const merged = new Headers(init.headers);
      merged.set('cookie', headers.cookie);
      if (!['GET', 'HEAD'].includes((init.method ?? 'GET').toUpperCase()) && !merged.has('x-csrf-token')) merged.set('x-csrf-token', headers['x-csrf-token']);
      return fetch(`${baseUrl}${urlPath}`, { ...init, headers: merged });
    };
    const response = await send(await (session ?? login()));
    if (response.status !== 401) return response;
    // The session ended (the unit restarted, or its password changed): log in again, once.
    await response.body?.cancel();
    return send(await login());
  };

  return {
    name: options.name,
    child,
    httpPort,
    udpPort,
    baseUrl,
    address: `127.0.0.1:${httpPort}`,
    dataDir,
    password,
    logs,
    stderr: () => stderr,
    waitForLog,
    login,
    api: (async (first: string, second?: unknown, third?: unknown) => {
      if (first.startsWith('/')) return authenticatedFetch(first, second as RequestInit | undefined);
      const response = await authenticatedFetch(second as string, {
        method: first,
        headers: third === undefined ? {} : { 'content-type': 'application/json' },
        body: third === undefined ? undefined : JSON.stringify(third),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    }) as UnitProcess['api'],
    stop,
  };
}

/** Starts one unit process and stops it (removing its data dir) when the test ends. */
export async function launchUnit(t: TeardownHost, options: UnitProcessOptions): Promise<UnitProcess> {
  const unit = await startUnitProcess(options);
  t.teardown(async () => {
    await unit.stop();
  });
  return unit;
}

/**
 * Starts a site of units on loopback that know each other as static peers (ports are picked
 * up front, since each unit's config must name the others'), waits until all are ready, and
 * stops them all when the test ends. Per-unit `peers` are added to the site's.
 */
export async function launchSite(t: TeardownHost, units: UnitProcessOptions[]): Promise<UnitProcess[]> {
  const ports = await Promise.all(units.map((unit) => (unit.httpPort ? Promise.resolve(unit.httpPort) : freeTcpPort())));
  const started = await Promise.allSettled(
    units.map((unit, index) =>
      launchUnit(t, {
        ...unit,
        httpPort: ports[index],
        peers: [...ports.filter((_, other) => other !== index).map((port) => `127.0.0.1:${port}`), ...(unit.peers ?? [])],
      }),
    ),
  );
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
  return started.map((result) => (result as PromiseFulfilledResult<UnitProcess>).value);
}
