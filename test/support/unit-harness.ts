import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { validateConfig } from '../../src/config/validate.js';
import defaults from '../../config/default.json' with { type: 'json' };
import { createUnit, type Unit, type UnitOverrides } from '../../src/unit.js';
import type { IntercomApp } from '../../src/signaling/app.js';
import type { GpioConfig } from '../../src/gpio/gpio-config.js';
import type { MqttConfig } from '../../src/mqtt/mqtt-config.js';
import { FakeCallMedia, RecordingSpeaker, unitMediaOf } from './fake-call-media.js';
import type { CallSnapshot } from '../../src/calls/call-service.js';
import type { Clock } from '../../src/system/clock.js';
import type { SiteSecret } from '../../src/security/site-secret.js';
import { storePanelPassword } from '../../src/security/people-password.js';
import type { PeopleAccess } from '../../src/security/people-access.js';
import { TEST_PANEL_PASSWORD, loginWithInject, type SessionHeaders } from './people-session.js';
import { testSiteSecret } from './test-site.js';

/**
 * Whole units in the test's own process, built by the same createUnit() as src/main.ts, with a
 * media double instead of sound devices and a UDP socket. Their HTTP APIs listen on loopback
 * (or not at all: `listen: false`, for app.inject()), and they sign their requests to each other
 * with the test run's site secret, as units of one site do.
 */

export interface TestUnit {
  name: string;
  unit: Unit;
  app: IntercomApp;
  media: FakeCallMedia;
  /** What the unit's own sounds (ring, ringback, busy, ...) play on its speaker. */
  speaker: RecordingSpeaker;
  port: number;
  baseUrl: string;
  dataDir: string;
  /** A logged-in session's cookie and CSRF header (empty when the unit has no password). */
  auth: SessionHeaders | Record<string, never>;
  close(): Promise<void>;
}

export interface TestUnitOptions {
  ringTimeoutMs?: number;
  peerLostMs?: number;
  clock?: Clock;
  listen?: boolean;
  dataDir?: string;
  dnsSd?: boolean;
  /** Panel password, stored before start (default TEST_PANEL_PASSWORD; null: none, and no session). */
  password?: string | null;
  /** People's access with its own policies (default: the unit's own). */
  people?: PeopleAccess;
  /** Keep-alive interval of /api/events (default 15 s). */
  eventsHeartbeatMs?: number;
  /** The site secret (default: the test run's, shared by every test unit); another one makes a stranger. */
  siteSecret?: SiteSecret;
  /** Serve the web panel from this directory (default: none). */
  webRoot?: string | null;
  /** calls.autoAnswer (default: absent, i.e. off). */
  autoAnswer?: { enabled: boolean; delayMs: number };
  /** GPIO settings over the shipped ones; GPIO stays off unless given (then enabled is forced on). */
  gpioConfig?: Partial<GpioConfig>;
  /** How the GPIO reaches its pins (fake sysfs and ports). */
  gpio?: UnitOverrides['gpio'];
  /** Discovery timings over the test defaults (poll 200 ms, offline after 1 s, requests time out after 1 s, probes every 250 ms waiting 250 ms). */
  discovery?: Partial<{ pollIntervalMs: number; offlineAfterMs: number; requestTimeoutMs: number; probeIntervalMs: number; probeTimeoutMs: number; indirectProbes: number }>;
  /** site.maxClockSkewMs (default: the shipped one). */
  maxClockSkewMs?: number;
  /** mqtt settings over the shipped ones (MQTT stays off unless `url` is given). */
  mqtt?: Partial<MqttConfig>;
  /** The MQTT bridge's timings (reconnection backoff, ring backlog). */
  mqttTimings?: UnitOverrides['mqtt'];
}

let ssrcSeed = 1000;

/** A whole unit (services + HTTP API on an ephemeral loopback port) with a media double. */
export async function startUnit(name: string, options: TestUnitOptions = {}): Promise<TestUnit> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), `intercom-${name}-`)));
  const password = options.password === undefined ? TEST_PANEL_PASSWORD : options.password;
  if (password !== null) await storePanelPassword(dataDir, password);
  const config = validateConfig({
    ...defaults,
    unit: { name },
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    calls: {
      ringTimeoutMs: options.ringTimeoutMs ?? 30_000,
      peerLostMs: options.peerLostMs ?? 4000,
      ...(options.autoAnswer ? { autoAnswer: options.autoAnswer } : {}),
    },
    discovery: {
      ...defaults.discovery,
      dnsSd: options.dnsSd ?? false,
      pollIntervalMs: 200,
      offlineAfterMs: 1000,
      requestTimeoutMs: 1000,
      probeIntervalMs: 250,
      probeTimeoutMs: 250,
      ...options.discovery,
    },
    site: { ...defaults.site, ...(options.maxClockSkewMs === undefined ? {} : { maxClockSkewMs: options.maxClockSkewMs }) },
    gpio: options.gpioConfig ? { ...defaults.gpio, ...options.gpioConfig, enabled: true } : { ...defaults.gpio, enabled: false },
    mqtt: { ...defaults.mqtt, ...options.mqtt },
  });
  const media = new FakeCallMedia(41000 + (ssrcSeed % 1000), ssrcSeed++);
  const speaker = new RecordingSpeaker();
  const unit = await createUnit(config, {
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    clock: options.clock,
    version: '0.0.0-test',
    media: unitMediaOf(media, speaker),
    siteSecret: options.siteSecret ?? testSiteSecret(),
    people: options.people,
    webRoot: options.webRoot ?? null,
    gpio: options.gpio,
    eventsHeartbeatMs: options.eventsHeartbeatMs,
    mqtt: options.mqttTimings,
  });
  const auth = password === null ? {} : await loginWithInject(unit.app, password);
  const port = options.listen === false ? 0 : (await unit.start()).httpPort;
  return {
    name,
    unit,
    app: unit.app,
    media,
    speaker,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    auth,
    async close() {
      await unit.stop();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Makes each unit poll the others (as a static `peers` list would) and waits until all see each other. */
export async function connectUnits(...units: TestUnit[]): Promise<void> {
  for (const unit of units) {
    for (const other of units) {
      if (other !== unit) unit.unit.directory.addCandidate({ host: '127.0.0.1', port: other.port, source: 'static' });
    }
  }
  await Promise.all(units.map((unit) => unit.unit.directory.refresh()));
}

/** One JSON request to a listening unit, as its logged-in session. */
export async function api(unit: TestUnit, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${unit.baseUrl}${url}`, {
    method,
    headers: { ...unit.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Resolves with the first call of `unit` (current or recent) that satisfies `match`, now or when one does. */
export function waitForCall(unit: Pick<TestUnit, 'name' | 'unit'>, match: (call: CallSnapshot) => boolean, timeoutMs = 5000): Promise<CallSnapshot> {
  const { calls } = unit.unit;
  const now = [calls.current(), ...calls.list()].find((call) => call !== null && match(call));
  if (now) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      calls.off('call', onCall);
      reject(new Error(`${unit.name}: no matching call within ${timeoutMs} ms; calls: ${JSON.stringify(calls.list())}`));
    }, timeoutMs);
    const onCall = (call: CallSnapshot) => {
      if (!match(call)) return;
      clearTimeout(timer);
      calls.off('call', onCall);
      resolve(call);
    };
    calls.on('call', onCall);
  });
}
