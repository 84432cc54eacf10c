import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { IntercomConfig } from './config/schema.js';
import type { Logger } from './logging/logger.js';
import type { CallMedia } from './calls/call-media.js';
import { CallService } from './calls/call-service.js';
import { UserStore } from './users/user-store.js';
import { PeerClient } from './peers/peer-client.js';
import { PeerDirectory } from './peers/peer-directory.js';
import { PresenceService } from './peers/presence-service.js';
import { PresenceSocket } from './peers/presence-socket.js';
import { DnsSdDiscovery, parseStaticPeer } from './discovery/dns-sd.js';
import { SystemSampler } from './system/system-sampler.js';
import { UnitSelfTest } from './selftest/unit-selftest.js';
import { buildStatus } from './system/status.js';
import { loadOrCreateUnitId } from './system/unit-identity.js';
import { readPackageVersion } from './system/version.js';
import { systemClock, type Clock } from './system/clock.js';
import { buildApp, type AppDeps, type IntercomApp } from './signaling/app.js';
import { PeerRequestAuthenticator, createPeerClientAuth } from './security/peer-auth.js';
import { PeerClockOffsets } from './security/peer-clock-sync.js';
import { CallKeyExchange } from './security/call-key-exchange.js';
import { UNIT_PROTOCOL_VERSION } from './peers/peer-protocol.js';
import { loadSiteSecret, type SiteSecret } from './security/site-secret.js';
import { PeopleAccess } from './security/people-access.js';
import { GpioService, type GpioServiceOptions } from './gpio/gpio-service.js';
import { callControlForService } from './gpio/call-service-control.js';
import { siteCallTargets } from './gpio/call-targets.js';
import { createUnitMedia, type UnitMedia } from './streaming/unit-media.js';
import { DoNotDisturb } from './calls/do-not-disturb.js';
import { MqttBridge, type MqttBridgeOptions } from './mqtt/mqtt-bridge.js';
import { unconfiguredMqttStatus } from './mqtt/mqtt-status.js';
import { panelUrl } from './mqtt/panel-url.js';
import { CallHistory } from './history/call-history.js';
import { UnitSounds } from './sounds/unit-sounds.js';
import { loadRingTone } from './sounds/ring-tone.js';
import { CallSounds } from './sounds/call-sounds.js';
import { TONE_PLANS } from './sounds/tone-plan.js';
import { PeerDoor } from './calls/peer-door.js';
import { AutoAnswer } from './calls/auto-answer.js';
import { AudioLevels } from './audio/audio-levels.js';
import { AmixerFinder, type MixerFinder } from './audio/mixer.js';
import { GroupStore } from './groups/group-store.js';
import { GroupSync } from './groups/group-sync.js';
import { SiteMembership } from './site/site-membership.js';
import { RejoinList } from './site/rejoin-list.js';
import { createLocalApiToken } from './security/local-api-token.js';
import { PagingService } from './paging/paging-service.js';

/**
 * The composition root of a unit: everything a unit is (identity, users, the site directory and
 * discovery, calls bound to the media engine, GPIO, people's login, the HTTP API) is built here,
 * once, and handed its collaborators. src/main.ts runs one under systemd; every test harness
 * builds its units with the same function, replacing only what `UnitOverrides` names.
 */

const SHIPPED_WEB_ROOT = fileURLToPath(new URL('../web', import.meta.url));

export interface UnitOverrides {
  logger: Logger;
  clock?: Clock;
  version?: string;
  /**
   * The media engine; default: the sound devices through the audio backend and the UDP media
   * socket on audio.udpPort (opened by start()). Tests give a double.
   */
  media?: UnitMedia;
  /**
   * The site secret that signs and checks every unit-to-unit request; default: site.secret, else
   * `<dataDir>/site-secret`, else a new one stored there. There is no unauthenticated mode.
   */
  siteSecret?: SiteSecret;
  /** People's login; default: the panel password in `<dataDir>/panel-password`, on this clock. */
  people?: PeopleAccess;
  /** The web panel's directory; default: the shipped web/ when present. null: no panel. */
  webRoot?: string | null;
  /** How the GPIO reaches its pins (a fake sysfs tree and ports in tests); default: onoff on /sys. */
  gpio?: Pick<GpioServiceOptions, 'clock' | 'sysfsRoot' | 'chipLabels' | 'loadPorts'>;
  /** How often CPU, memory and temperature are sampled for /api/status (default 5 s). */
  systemSampleIntervalMs?: number;
  /** Keep-alive interval of /api/events (default 15 s). */
  eventsHeartbeatMs?: number;
  /**
   * Finds the sound card's mixer controls for volume and microphone gain; default: amixer on the
   * configured devices when the media is the real one, none (software levels) with a media double.
   */
  mixer?: MixerFinder | null;
  /** The MQTT bridge's timings (tests shorten them); used only when mqtt.url is set. */
  mqtt?: Pick<MqttBridgeOptions, 'reconnect' | 'keepaliveS' | 'connectTimeoutMs' | 'systemIntervalMs' | 'ringBacklogMs'>;
}

export interface Unit {
  readonly unitId: string;
  readonly config: IntercomConfig;
  readonly calls: CallService;
  readonly users: UserStore;
  readonly directory: PeerDirectory;
  readonly people: PeopleAccess;
  readonly gpio: GpioService;
  readonly doNotDisturb: DoNotDisturb;
  /** Volume, microphone gain (kept in the data directory) and the microphone mute. */
  readonly levels: AudioLevels;
  /** Home Assistant over MQTT; null when mqtt.url is not set (then nothing connects anywhere). */
  readonly mqtt: MqttBridge | null;
  /** The last calls of this unit, persisted in the data directory. */
  readonly history: CallHistory;
  /** The site's call groups as this unit knows them (spread between units by GroupSync). */
  readonly groups: GroupStore;
  /** Which site the unit belongs to: join codes, joining, leaving. */
  readonly site: SiteMembership;
  /** Pages sent from this unit to a group, and pages it plays. */
  readonly paging: PagingService;
  readonly media: CallMedia;
  /** The HTTP API; usable with inject() before start(). */
  readonly app: IntercomApp;
  /** What the HTTP API was built with (tests build variants of it). */
  readonly appDeps: AppDeps;
  /**
   * Opens the media socket and devices, listens on HTTP, then starts discovery, status sampling and
   * GPIO. Throws naming the config key when a port cannot be had.
   */
  start(): Promise<{ httpPort: number; udpPort: number | null }>;
  /** Hangs up a live call (telling the peer), stops every timer, closes the HTTP server, GPIO and media. */
  stop(): Promise<void>;
}

export async function createUnit(config: IntercomConfig, overrides: UnitOverrides): Promise<Unit> {
  const { logger } = overrides;
  const clock = overrides.clock ?? systemClock;
  const version = overrides.version ?? readPackageVersion();
  // First, so an unusable secret stops the start before any device or port is opened.
  const siteSecret = overrides.siteSecret ?? (await loadSiteSecret({ configured: config.site.secret, dataDir: config.dataDir, logger }));
  const unitId = await loadOrCreateUnitId(config.dataDir, logger);
  const unitName = config.unit.name;
  const media = overrides.media ?? (await createUnitMedia(config, logger));
  let httpPort = 0;
  const startedAt = clock.now();

  const users = new UserStore(config.dataDir, logger);
  await users.load();
  const peerAuth = new PeerRequestAuthenticator({
    secret: siteSecret.secret,
    unitId,
    maxClockSkewMs: config.site.maxClockSkewMs,
    logger: logger.child({ module: 'peer-auth' }),
  });
  const clockOffsets = new PeerClockOffsets();
  const client = new PeerClient({
    unitId,
    timeoutMs: config.discovery.requestTimeoutMs,
    // Read at each request: joining or leaving a site changes the secret while the unit runs.
    auth: createPeerClientAuth({ secret: () => site.currentSecret(), unitId }),
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
    clockOffsetOf: (peerId) => clockOffsets.known(peerId),
    // Units are probed once this unit has its probe socket (see start()).
    probed: () => probePort !== null,
    logger,
  });
  let probePort: number | null = null;
  const presenceSocket = new PresenceSocket(logger.child({ module: 'presence' }));
  for (const entry of config.peers) directory.addCandidate(parseStaticPeer(entry));
  const keyExchange = new CallKeyExchange(siteSecret.secret);
  const rejoinList = new RejoinList(config.dataDir, logger.child({ module: 'site' }));
  await rejoinList.load();
  // A unit left behind by a rotation that answers with the site's secret again has re-joined.
  directory.on('changed', (peers) => {
    const back = peers.filter((peer) => rejoinList.has(peer.unitId)).map((peer) => peer.unitId);
    if (back.length > 0) rejoinList.drop(back).catch((error: Error) => logger.warn({ error: error.message }, 'cannot store the list of units that need re-joining'));
  });
  const site: SiteMembership = new SiteMembership({
    secret: siteSecret,
    dataDir: config.dataDir,
    unit: { unitId, name: unitName },
    httpPort: () => httpPort,
    directory,
    clock,
    logger: logger.child({ module: 'site' }),
    applySecret: (secret, refreshNow) => {
      peerAuth.setSecret(secret);
      keyExchange.setSiteSecret(secret);
      // Addresses that refused us are asked again at once with the new secret.
      if (refreshNow) void directory.refresh();
    },
    configuredSecret: config.site.secret ?? (siteSecret.source === 'config' ? siteSecret.secret : null),
    rotationClient: client,
    rejoinList,
  });

  const groups = new GroupStore({ dataDir: config.dataDir, unitId, logger: logger.child({ module: 'groups' }) });
  await groups.load();
  const groupSync = new GroupSync({ store: groups, directory, client, logger: logger.child({ module: 'group-sync' }) });

  const doNotDisturb = new DoNotDisturb(config.dataDir, logger.child({ module: 'do-not-disturb' }));
  await doNotDisturb.load();

  const levels = new AudioLevels({
    dataDir: config.dataDir,
    defaults: { volume: config.audio.volume, micGain: config.audio.micGain },
    mixer: overrides.mixer !== undefined ? overrides.mixer : overrides.media ? null : new AmixerFinder(),
    playbackDevice: config.audio.playbackDevice,
    captureDevice: config.audio.captureDevice,
    software: media.levels ?? null,
    logger: logger.child({ module: 'audio-levels' }),
  });
  await levels.load();
  // A card that appears (or comes back) after start gets the levels on its own mixer.
  media.onDevicesOpened?.(() => void levels.refresh());

  const calls = new CallService({
    unitId,
    unitName,
    httpPort: () => httpPort,
    media: media.callMedia,
    peers: directory,
    localUser: (name) => users.get(name)?.name,
    client,
    clock,
    logger,
    ringTimeoutMs: config.calls.ringTimeoutMs,
    peerLostMs: config.calls.peerLostMs,
    refuseOffer: () => doNotDisturb.refusesOffer(),
    keyExchange,
    groups,
  });
  // Pages: one-way audio to a group's units, over the same signed requests and media socket as calls.
  const paging = new PagingService({
    unitId,
    unitName,
    media: media.paging ?? null,
    groups,
    directory,
    client,
    keyExchange,
    unitState: () => {
      const phase = calls.current()?.phase;
      return { call: phase === 'active' ? 'in-call' : phase === 'ringing' ? 'ringing' : 'idle', doNotDisturb: doNotDisturb.enabled };
    },
    frameMs: config.audio.frameMs,
    bitrate: config.audio.bitrate,
    multicastGroup: config.paging.multicast ? { address: config.paging.multicastAddress, port: config.paging.port } : null,
    multicastAckMs: config.paging.multicastAckMs,
    logger: logger.child({ module: 'paging' }),
  });
  const presence = new PresenceService({
    selfUnitId: unitId,
    directory,
    client,
    selfInfo: () => ({ unitId, name: unitName, version, httpPort, users: users.list().map((user) => user.name), inCall: calls.inCall, groups: groups.digest() }),
    transport: presenceSocket,
    probePort: () => probePort,
    secret: () => site.currentSecret(),
    clock,
    clockOffsetMs: (peerId) => clockOffsets.offsetMs(peerId),
    periodMs: config.discovery.probeIntervalMs,
    timeoutMs: config.discovery.probeTimeoutMs,
    indirectProbes: config.discovery.indirectProbes,
    backstopIntervalMs: config.discovery.pollIntervalMs,
    maxClockSkewMs: config.site.maxClockSkewMs,
    // A unit whose HTTP API is gone cannot be called: it is not shown alive either.
    serving: () => app.server.listening,
    logger: logger.child({ module: 'presence' }),
  });
  // What other units show of this one moves with its users and whether it is in a call: pushed to them.
  let inCallBefore = calls.inCall;
  const pushWhenInCallChanges = () => {
    if (calls.inCall === inCallBefore) return;
    inCallBefore = calls.inCall;
    presence.changed();
  };
  const pushUsers = () => presence.changed();
  calls.on('call', pushWhenInCallChanges);
  users.on('changed', pushUsers);
  // Its groups' digest is in its info too: the units it sees then know whether they hold the same.
  groups.on('changed', pushUsers);
  // Attached before the HTTP app exists, so a call is in the history by the time its `call` event reaches the panel.
  const history = new CallHistory({ dataDir: config.dataDir, logger: logger.child({ module: 'call-history' }) });
  await history.load();
  const detachHistory = history.attach(calls);
  // OPEN during a call (panel, API, the OPEN button) opens the door of the other unit of the call;
  // this unit's own relay opens when the other unit of its active call asks for it.
  let gpioService: GpioService | null = null;
  const peerDoor = new PeerDoor({
    calls,
    baseUrlOf: (peerId) => directory.baseUrlOf(peerId),
    client,
    pulseOwnDoor: () => gpioService!.pulseDoor(),
    logger: logger.child({ module: 'peer-door' }),
  });
  // The acoustic self-test (POST /api/selftest) runs between calls; a call that starts stops it.
  // Listening before the call sounds do: the test lets go of the speaker before the ring takes it.
  const selfTest = media.selfTest
    ? new UnitSelfTest({
        audio: media.selfTest,
        dataDir: config.dataDir,
        inCall: () => {
          const call = calls.current();
          return call !== null && call.phase !== 'ended';
        },
        logger: logger.child({ module: 'selftest' }),
      })
    : null;
  if (selfTest) {
    await selfTest.load();
    calls.on('call', (call: { phase: string }) => {
      if (call.phase !== 'ended') selfTest.interrupt();
    });
  }
  // A mute lasts for the call it was set in: the next caller is heard.
  const unmuteAfterCall = (call: { phase: string }) => {
    if (call.phase === 'ended' && levels.isMuted) levels.setMuted(false);
  };
  calls.on('call', unmuteAfterCall);
  // The CALL button calls from the first user registered on this unit (a door unit has one).
  const gpio = new GpioService({
    config: config.gpio,
    calls: callControlForService(calls, () => users.list()[0]?.name),
    // A long press of ANSWER in a call mutes the microphone; the LED shows it.
    mute: levels,
    // The buttons, the flats' buttons and the keypad ring names through the site directory (groups plug in there).
    resolveTarget: siteCallTargets(directory, groups),
    openPeerDoor: () => peerDoor.open(),
    // gpio.pageButton: held, a live page of the microphone to its group.
    pressToTalk: paging,
    logger: logger.child({ module: 'gpio' }),
    ...overrides.gpio,
  });
  // The unit's own sounds on its speaker: a called unit rings, a caller hears ringback, then busy
  // or unreachable; a talk ends with a chime; the door relay chimes when it opens.
  let callSounds: CallSounds | null = null;
  if (media.speaker) {
    const ringTone = config.audio.ringTone === null ? null : await loadRingTone(config.audio.ringTone);
    const sounds = new UnitSounds({ frameSamples: (config.audio.frameMs * 48_000) / 1000, ringVolume: config.audio.ringVolume, ringTone });
    callSounds = new CallSounds(sounds, media.speaker);
    callSounds.attach(calls, gpio);
  }
  gpioService = gpio;
  // A door station answers by itself, never silently: without a speaker for its tone it does not.
  let autoAnswer: AutoAnswer | null = null;
  if (config.calls.autoAnswer?.enabled) {
    const sounds = callSounds;
    if (sounds) {
      autoAnswer = new AutoAnswer({
        calls,
        delayMs: config.calls.autoAnswer.delayMs,
        announce: (callId) => sounds.announceAutoAnswer(callId),
        toneMs: TONE_PLANS.autoAnswer.segments.reduce((sum, segment) => sum + segment.durationMs, 0),
        doNotDisturb: () => doNotDisturb.enabled,
        clock,
        logger: logger.child({ module: 'auto-answer' }),
      });
      autoAnswer.start();
    } else {
      logger.warn('calls.autoAnswer is on, but this unit has no speaker to play the auto-answer tone: calls are not answered by themselves');
    }
  }
  const sampler = new SystemSampler({ clock, intervalMs: overrides.systemSampleIntervalMs ?? 5000, logger });
  const people = overrides.people ?? new PeopleAccess({ dataDir: config.dataDir, clock, logger: logger.child({ module: 'people-access' }) });
  const mqttUrl = config.mqtt.url;
  const mqtt =
    mqttUrl === null
      ? null
      : new MqttBridge({
          config: { ...config.mqtt, url: mqttUrl },
          unit: { unitId, unitName, version },
          panelUrl: () => panelUrl(config.http.host, httpPort),
          calls,
          caller: () => users.list()[0]?.name,
          callTarget: config.gpio.callTarget,
          door: gpio,
          doNotDisturb,
          system: () => sampler.latest(),
          clock,
          logger: logger.child({ module: 'mqtt' }),
          ...overrides.mqtt,
        });
  const webRoot = overrides.webRoot === undefined ? (existsSync(SHIPPED_WEB_ROOT) ? SHIPPED_WEB_ROOT : null) : overrides.webRoot;

  const appDeps: AppDeps = {
    unit: { unitId, name: unitName, version },
    calls,
    users,
    directory,
    httpPort: () => httpPort,
    logger,
    people,
    peerAuth,
    http: config.http,
    webRoot,
    // The panel sees button, LED and relay changes as they happen (the `gpio` event), not at its next status poll.
    gpio,
    openDoor: () => gpio.pulseDoor(),
    peerDoor,
    doNotDisturb,
    eventsHeartbeatMs: overrides.eventsHeartbeatMs,
    history,
    levels,
    selfTest: selfTest ?? undefined,
    groups,
    groupSync,
    paging,
    presence,
    site,
    localApiToken: await createLocalApiToken(config.dataDir),
    now: () => clock.now(),
    status: () =>
      buildStatus({
        unitId,
        unitName,
        version,
        clock,
        startedAt,
        audio: () => media.callMedia.audioState(),
        currentCall: () => calls.current(),
        localUsers: () => users.list().map((user) => user.name),
        peers: () => directory.peers(),
        system: () => sampler.latest(),
        gpio: () => gpio.status(),
        security: () => ({
          peerRequests: { secretSource: site.source(), maxClockSkewMs: config.site.maxClockSkewMs, protocolVersion: UNIT_PROTOCOL_VERSION, ...peerAuth.counters() },
          people: people.counters(),
        }),
        doNotDisturb: () => doNotDisturb.status(),
        autoAnswer: () => (autoAnswer ? { delayMs: config.calls.autoAnswer!.delayMs } : null),
        mqtt: () => mqtt?.status() ?? unconfiguredMqttStatus(),
        levels: () => levels.status(),
        selfTest: () => selfTest?.latest() ?? null,
      }),
  };
  const app = await buildApp(appDeps);

  let discovery: DnsSdDiscovery | null = null;
  return {
    unitId,
    config,
    calls,
    users,
    directory,
    people,
    gpio,
    doNotDisturb,
    levels,
    mqtt,
    history,
    groups,
    site,
    paging,
    media: media.callMedia,
    app,
    appDeps,
    async start() {
      const { udpPort } = await media.start();
      await app.listen({ host: config.http.host, port: config.http.port }).catch((error: Error) => {
        throw new Error(`cannot listen on HTTP ${config.http.host}:${config.http.port} (http.port): ${error.message}`);
      });
      httpPort = (app.server.address() as AddressInfo).port;
      await sampler.start();
      // Before the directory's first answers: every unit it finds is then caught up on the groups.
      groupSync.start();
      try {
        probePort = await presenceSocket.bind(config.http.host, config.discovery.probePort ?? httpPort);
        presence.start();
      } catch (error) {
        logger.warn({ err: error }, 'presence: no UDP socket for probing; other units poll this one over HTTP instead');
      }
      directory.start();
      if (config.discovery.dnsSd) {
        discovery = new DnsSdDiscovery({
          unitId,
          unitName,
          version,
          httpPort,
          sink: directory,
          clock,
          logger,
          lastProbedByPeerAt: () => presence.prober.lastProbedByPeerAt(),
          seesAnyUnitOnline: () => directory.peers().some((peer) => peer.online),
        });
        try {
          discovery.start();
        } catch (error) {
          logger.warn({ err: error }, 'DNS-SD could not start; static peers still work');
          discovery = null;
        }
      }
      await gpio.start();
      // Last: Home Assistant is told about a unit whose GPIO (the door relay) is known.
      await mqtt?.start();
      logger.info({ unitId, unitName, httpPort, staticPeers: config.peers.length, dnsSd: config.discovery.dnsSd }, 'unit services started');
      return { httpPort, udpPort };
    },
    async stop() {
      autoAnswer?.stop();
      await calls.stop();
      // The call stop() just ended is recorded; it and every earlier one reach the disk before the process goes.
      detachHistory();
      calls.off('call', unmuteAfterCall);
      await history.flush();
      // After the calls: Home Assistant sees the last call end before the unit goes offline.
      await mqtt?.stop();
      groupSync.stop();
      calls.off('call', pushWhenInCallChanges);
      users.off('changed', pushUsers);
      // The units that see this one online are told it leaves (before the HTTP server closes).
      await presence.stop();
      await presenceSocket.close();
      probePort = null;
      directory.stop();
      sampler.stop();
      await discovery?.stop();
      discovery = null;
      await gpio.stop();
      paging.stop();
      callSounds?.stop();
      await app.close();
      await media.stop();
    },
  };
}
