import type { GpioStatus } from '../gpio/gpio-status.js';
import type { DoorPulseResult } from '../gpio/gpio-service.js';
import type { IntercomConfig } from '../config/schema.js';
import type { Logger } from '../logging/logger.js';
import type { CallMedia } from '../calls/call-media.js';
import { CallService } from '../calls/call-service.js';
import { UserStore } from '../users/user-store.js';
import { PeerClient } from '../peers/peer-client.js';
import { PeerDirectory } from '../peers/peer-directory.js';
import { DnsSdDiscovery, parseStaticPeer } from '../discovery/dns-sd.js';
import { SystemSampler } from '../system/system-sampler.js';
import { buildStatus } from '../system/status.js';
import { loadOrCreateUnitId } from '../system/unit-identity.js';
import { readPackageVersion } from '../system/version.js';
import { systemClock, type Clock } from '../system/clock.js';
import type { AppDeps } from './app.js';
import { PeerRequestAuthenticator, createPeerClientAuth } from '../security/peer-auth.js';
import { PeerClockOffsets } from '../security/peer-clock-sync.js';
import { CallKeyExchange } from '../security/call-key-exchange.js';
import { UNIT_PROTOCOL_VERSION } from '../peers/peer-protocol.js';
import type { SiteSecret } from '../security/site-secret.js';
import { PeopleAccess } from '../security/people-access.js';

export interface UnitServiceDeps {
  callMedia: CallMedia;
  logger: Logger;
  clock?: Clock;
  version?: string;
  /**
   * The site secret (see src/security/site-secret.ts): unit-to-unit requests are signed with it and
   * requests from other units must be signed with it. Without it every unit-to-unit request is
   * accepted (test doubles only; main.ts always passes one).
   */
  siteSecret?: SiteSecret;
  /**
   * People's login (default: the panel password in `<dataDir>/panel-password`, sessions and the
   * login limiter on this clock); tests pass one with their own policies.
   */
  people?: PeopleAccess;
  /** The web panel's directory, served at / when it exists. */
  webRoot?: string | null;
  /** The front-panel GPIO's state for /api/status (set up after the call service exists). */
  gpioStatus?: () => GpioStatus | null;
  /** Pulses the door relay; refuses outside a call. */
  openDoor?: () => DoorPulseResult;
  /** How often CPU, memory and temperature are sampled for /api/status. */
  systemSampleIntervalMs?: number;
}

export interface UnitServices {
  unitId: string;
  calls: CallService;
  users: UserStore;
  directory: PeerDirectory;
  people: PeopleAccess;
  /** Hand these to buildApp(). */
  appDeps: AppDeps;
  /** Call after the HTTP server listens: starts polling, sampling and DNS-SD with the real port. */
  start(listening: { httpPort: number }): Promise<void>;
  /** Hangs up a live call (telling the peer) and stops every timer and DNS-SD. */
  stop(): Promise<void>;
}

/**
 * Builds the unit's signaling side from config: identity, users, peer directory and discovery,
 * the call service bound to the media engine, and status. Nothing listens until start().
 */
export async function createUnitServices(config: IntercomConfig, deps: UnitServiceDeps): Promise<UnitServices> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger;
  const version = deps.version ?? readPackageVersion();
  const unitId = await loadOrCreateUnitId(config.dataDir, logger);
  const unitName = config.unit.name;
  let httpPort = 0;
  const startedAt = clock.now();

  const users = new UserStore(config.dataDir, logger);
  await users.load();
  const siteSecret = deps.siteSecret;
  const peerAuth = siteSecret
    ? new PeerRequestAuthenticator({ secret: siteSecret.secret, unitId, maxClockSkewMs: config.site.maxClockSkewMs, logger: logger.child({ module: 'peer-auth' }) })
    : null;
  const clockOffsets = siteSecret ? new PeerClockOffsets() : undefined;
  const client = new PeerClient({
    unitId,
    timeoutMs: config.discovery.requestTimeoutMs,
    auth: siteSecret ? createPeerClientAuth({ secret: siteSecret.secret, unitId }) : undefined,
    clockSync: clockOffsets,
  });
  const directory = new PeerDirectory({
    selfUnitId: unitId,
    selfName: unitName,
    client,
    localUsers: () => users.list().map((user) => user.name),
    clock,
    pollIntervalMs: config.discovery.pollIntervalMs,
    offlineAfterMs: config.discovery.offlineAfterMs,
    clockOffsetOf: (peerId) => clockOffsets?.known(peerId) ?? null,
    trustInboundAddresses: !siteSecret,
    logger,
  });
  for (const entry of config.peers) directory.addCandidate(parseStaticPeer(entry));

  const calls = new CallService({
    unitId,
    unitName,
    httpPort: () => httpPort,
    media: deps.callMedia,
    peers: directory,
    localUser: (name) => users.get(name)?.name,
    client,
    clock,
    logger,
    ringTimeoutMs: config.calls.ringTimeoutMs,
    peerLostMs: config.calls.peerLostMs,
    keyExchange: new CallKeyExchange(siteSecret?.secret ?? null),
  });
  const sampler = new SystemSampler({ clock, intervalMs: deps.systemSampleIntervalMs ?? 5000, logger });
  let discovery: DnsSdDiscovery | null = null;
  const people = deps.people ?? new PeopleAccess({ dataDir: config.dataDir, clock, logger: logger.child({ module: 'people-access' }) });

  const appDeps: AppDeps = {
    unit: { unitId, name: unitName, version },
    calls,
    users,
    directory,
    httpPort: () => httpPort,
    logger,
    people,
    peerAuth: peerAuth ?? undefined,
    http: config.http,
    webRoot: deps.webRoot,
    openDoor: deps.openDoor,
    status: () =>
      buildStatus({
        unitId,
        unitName,
        version,
        clock,
        startedAt,
        audio: () => deps.callMedia.audioState(),
        currentCall: () => calls.current(),
        localUsers: () => users.list().map((user) => user.name),
        peers: () => directory.peers(),
        system: () => sampler.latest(),
        gpio: () => deps.gpioStatus?.() ?? null,
        security: () => ({
          peerRequests:
            peerAuth && siteSecret
              ? { secretSource: siteSecret.source, maxClockSkewMs: config.site.maxClockSkewMs, protocolVersion: UNIT_PROTOCOL_VERSION, ...peerAuth.counters() }
              : null,
          people: people.counters(),
        }),
      }),
  };

  return {
    unitId,
    calls,
    users,
    directory,
    people,
    appDeps,
    async start(listening) {
      httpPort = listening.httpPort;
      await sampler.start();
      directory.start();
      if (config.discovery.dnsSd) {
        discovery = new DnsSdDiscovery({ unitId, unitName, version, httpPort, sink: directory, clock, logger });
        try {
          discovery.start();
        } catch (error) {
          logger.warn({ err: error }, 'DNS-SD could not start; static peers still work');
          discovery = null;
        }
      }
      logger.info({ unitId, unitName, httpPort, staticPeers: config.peers.length, dnsSd: config.discovery.dnsSd }, 'unit services started');
    },
    async stop() {
      await calls.stop();
      directory.stop();
      sampler.stop();
      await discovery?.stop();
      discovery = null;
    },
  };
}
