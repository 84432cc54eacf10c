import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { validateConfig } from '../../src/config/validate.js';
import defaults from '../../config/default.json' with { type: 'json' };
import { createUnitServices, type UnitServices } from '../../src/signaling/unit-services.js';
import { buildApp, type IntercomApp } from '../../src/signaling/app.js';
import { FakeCallMedia } from '../calls/fake-call-media.js';
import type { CallSnapshot } from '../../src/calls/call-service.js';
import type { Clock } from '../../src/system/clock.js';
import { storePanelPassword } from '../../src/security/people-password.js';
import type { PeopleAccess } from '../../src/security/people-access.js';
import { TEST_PANEL_PASSWORD, loginWithInject, type SessionHeaders } from '../support/people-session.js';

export interface TestUnit {
  name: string;
  services: UnitServices;
  app: IntercomApp;
  media: FakeCallMedia;
  port: number;
  baseUrl: string;
  dataDir: string;
  /** A logged-in session's cookie and CSRF header (empty when the unit has no password). */
  auth: SessionHeaders | Record<string, never>;
  close(): Promise<void>;
}

let ssrcSeed = 1000;

/** A whole unit (services + HTTP API on an ephemeral loopback port) with a media double. */
export async function startUnit(
  name: string,
  options: {
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
  } = {},
): Promise<TestUnit> {
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), `intercom-${name}-`)));
  const password = options.password === undefined ? TEST_PANEL_PASSWORD : options.password;
  if (password !== null) await storePanelPassword(dataDir, password);
  const config = validateConfig({
    ...defaults,
    unit: { name },
    http: { host: '127.0.0.1', port: 0 },
    dataDir,
    calls: { ringTimeoutMs: options.ringTimeoutMs ?? 30_000, peerLostMs: options.peerLostMs ?? 4000 },
    discovery: { dnsSd: options.dnsSd ?? false, pollIntervalMs: 200, offlineAfterMs: 1000, requestTimeoutMs: 1000 },
  });
  const media = new FakeCallMedia(41000 + (ssrcSeed % 1000), ssrcSeed++);
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const services = await createUnitServices(config, { callMedia: media, logger, clock: options.clock, version: '0.0.0-test', people: options.people });
  const app = await buildApp({ ...services.appDeps, eventsHeartbeatMs: options.eventsHeartbeatMs });
  const auth = password === null ? {} : await loginWithInject(app, password);
  let port = 0;
  if (options.listen !== false) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
    await services.start({ httpPort: port });
  }
  return {
    name,
    services,
    app,
    media,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    auth,
    async close() {
      await services.stop();
      await app.close();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Makes each unit poll the others (as a static `peers` list would) and waits until all see each other. */
export async function connectUnits(...units: TestUnit[]): Promise<void> {
  for (const unit of units) {
    for (const other of units) {
      if (other !== unit) unit.services.directory.addCandidate({ host: '127.0.0.1', port: other.port, source: 'static' });
    }
  }
  await Promise.all(units.map((unit) => unit.services.directory.refresh()));
}

/** One JSON request to a listening unit, as its logged-in session. */
export async function api(unit: TestUnit, method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${unit.baseUrl}${url}`, {
    method,
    headers: { ...unit.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Resolves with the first call of `unit` (current or recent) that satisfies `match`, now or when one does. */
export function waitForCall(unit: Pick<TestUnit, 'name' | 'services'>, match: (call: CallSnapshot) => boolean, timeoutMs = 5000): Promise<CallSnapshot> {
  const { calls } = unit.services;
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
