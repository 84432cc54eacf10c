import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Logger } from '../logging/logger.js';
import type { Clock, TimerHandle } from '../system/clock.js';
import type { CallMediaStats } from '../calls/call-media.js';
import { CallError, type CallSnapshot } from '../calls/call-service.js';
import type { DoNotDisturbSource, DoNotDisturbStatus } from '../calls/do-not-disturb.js';
import type { DoorPulseResult } from '../gpio/gpio-service.js';
import type { GpioStatus } from '../gpio/gpio-status.js';
import type { SystemFigures } from '../system/system-sampler.js';
import { brokerLabel, topicPrefixOf, type MqttConfig } from './mqtt-config.js';
import type { MqttConnectionState, MqttStatus } from './mqtt-status.js';
import { bridgeTopics, commandTopics, type BridgeTopics } from './bridge-topics.js';
import { parseCommand, type BridgeCommand } from './bridge-commands.js';
import { discoveryMessages } from './ha-discovery.js';
import { callAttributesOf, callStateOf, lastCallOf, ringEventOf, type RingEvent } from './bridge-payloads.js';
import { RingBacklog } from './ring-backlog.js';
import { ReconnectBackoff } from './reconnect-backoff.js';

/** The calls as the bridge sees them (CallService fits). */
export interface BridgeCalls {
  current(): CallSnapshot | null;
  initiate(from: string, to: string): Promise<CallSnapshot>;
  end(callId: string): CallSnapshot;
  on(event: 'call' | 'stats', listener: (call: CallSnapshot) => void): unknown;
  off(event: 'call' | 'stats', listener: (call: CallSnapshot) => void): unknown;
}

/** The front panel's door relay (GpioService fits). */
export interface BridgeDoor {
  status(): GpioStatus;
  pulseDoor(options?: { outsideCall?: boolean }): DoorPulseResult;
  on(event: 'status', listener: (status: GpioStatus) => void): unknown;
  off(event: 'status', listener: (status: GpioStatus) => void): unknown;
}

/** The do-not-disturb switch (DoNotDisturb fits). */
export interface BridgeDoNotDisturb {
  status(): DoNotDisturbStatus;
  set(enabled: boolean, by: DoNotDisturbSource): Promise<DoNotDisturbStatus>;
  on(event: 'changed', listener: (status: DoNotDisturbStatus) => void): unknown;
  off(event: 'changed', listener: (status: DoNotDisturbStatus) => void): unknown;
}

export interface MqttBridgeOptions {
  /** config.mqtt, with `url` set. */
  config: MqttConfig & { url: string };
  unit: { unitId: string; unitName: string; version: string };
  /** The panel's URL (known once HTTP listens): the device's link in Home Assistant. */
  panelUrl: () => string;
  calls: BridgeCalls;
  /** The user of this unit that calls are placed from (the CALL button's: the first one). */
  caller: () => string | undefined;
  /** Who the call button calls (gpio.callTarget). */
  callTarget: string;
  door: BridgeDoor;
  doNotDisturb: BridgeDoNotDisturb;
  /** Latest host figures (the status sampler's). */
  system: () => SystemFigures;
  clock: Clock;
  logger: Logger;
  wallClock?: () => Date;
  /** Delays between connection attempts (default 1 s doubling to 30 s). */
  reconnect?: { minMs: number; maxMs: number };
  /**
   * MQTT keep-alive (default 30 s): a connection that carries nothing back for about 1.5 times
   * this long (a network that silently dropped) is given up and reconnected.
   */
  keepaliveS?: number;
  /** How long a connection attempt may take up to the broker's answer (default 10 s). */
  connectTimeoutMs?: number;
  /** How often the CPU temperature is looked at and sent when it changed (default 30 s). */
  systemIntervalMs?: number;
  /** How long ring events are kept while disconnected (default 60 s). */
  ringBacklogMs?: number;
}

type BridgeEvents = { status: [status: MqttStatus] };

/** At most this many refused commands are logged one by one per minute; the rest are summed up. */
const REFUSAL_LOG_LIMIT = 20;
const REFUSAL_LOG_WINDOW_MS = 60_000;

/** How a refused door opening is named in the command counters. */
const DOOR_REFUSALS: Record<Extract<DoorPulseResult, { ok: false }>['code'], string> = {
  'gpio-unavailable': 'gpio-unavailable',
  'no-relay': 'no-relay',
  'no-active-call': 'door-outside-call',
  'already-open': 'already-open',
};

/**
 * The unit in Home Assistant, over MQTT: announces the unit as a device with its entities (MQTT
 * discovery), publishes its doorbell events and states, and carries out Home Assistant's commands
 * the way the panel would. It connects only once started, keeps reconnecting with backoff while
 * the broker is out of reach, announces itself again after every reconnection and whenever Home
 * Assistant says it has (re)started, and sends the ring events of the last minute it could not
 * send at the time. Nothing it receives can stop it: a bad command is refused, logged and counted.
 */
export class MqttBridge extends EventEmitter<BridgeEvents> {
  readonly topics: BridgeTopics;
  readonly birthTopic: string;
  private readonly broker: string;
  private readonly wallClock: () => Date;
  private readonly backoff: ReconnectBackoff;
  private readonly backlog: RingBacklog<RingEvent>;
  private client: MqttClient | null = null;
  private state: MqttConnectionState = 'connecting';
  private stopping = false;
  private reconnectTimer: TimerHandle | null = null;
  private systemTimer: TimerHandle | null = null;
  /** Counts connections, so acknowledgements from a connection that has gone are told apart. */
  private generation = 0;
  private connectedSince: string | null = null;
  private lastError: string | null = null;
  private lastLoggedError: string | null = null;
  private connectionAttempts = 0;
  private connections = 0;
  private readonly ringCounts = { published: 0, delayed: 0 };
  /** Ring events sent on the current connection and not yet acknowledged by the broker. */
  private readonly unacknowledged = new Map<RingEvent, number>();
  private readonly commands = { accepted: 0, refused: 0, refusedByReason: {} as Record<string, number> };
  private refusalLog = { windowStart: 0, logged: 0, suppressed: 0 };
  /** Incoming calls already announced as rings (by call id), so each rings once. */
  private readonly rung = new Set<string>();
  private lastEnded: CallSnapshot | null = null;
  /** The last call's audio figures, once a call has ended here (sent again at every announcement). */
  private lastCall: string | null = null;
  private liveStats: { callId: string; stats: CallMediaStats } | null = null;
  /** What each state topic last carried on this connection, so unchanged states are not sent again. */
  private readonly sent = new Map<string, string>();
  private doorRelay = false;
  private readonly unsubscribers: Array<() => void> = [];

  constructor(private readonly options: MqttBridgeOptions) {
    super();
    const { config, unit } = options;
    this.topics = bridgeTopics(topicPrefixOf(config, unit.unitId));
    this.birthTopic = `${config.discoveryPrefix}/status`;
    this.broker = brokerLabel(config.url);
    this.wallClock = options.wallClock ?? (() => new Date());
    this.backoff = new ReconnectBackoff(options.reconnect?.minMs, options.reconnect?.maxMs);
    this.backlog = new RingBacklog(options.ringBacklogMs ?? 60_000);
  }

  status(): MqttStatus {
    const { config } = this.options;
    return {
      configured: true,
      state: this.state,
      broker: this.broker,
      tls: config.url.startsWith('mqtts://'),
      authenticated: config.username !== null,
      topicPrefix: topicPrefixOf(config, this.options.unit.unitId),
      discoveryPrefix: config.discoveryPrefix,
      connectedSince: this.connectedSince,
      lastError: this.lastError,
      connectionAttempts: this.connectionAttempts,
      connections: this.connections,
      ringEvents: { ...this.ringCounts, waiting: this.backlog.size + this.unacknowledged.size, dropped: this.backlog.dropped },
      commands: { accepted: this.commands.accepted, refused: this.commands.refused, refusedByReason: { ...this.commands.refusedByReason } },
    };
  }

  /**
   * Starts listening to the unit and connecting (it does not wait for the broker: a unit whose
   * broker is away works on and connects when it can). Never throws: an unreadable mqtt.caFile
   * leaves the bridge in the `error` state, which the log and the status name.
   */
  async start(): Promise<void> {
    const { config, logger } = this.options;
    let ca: Buffer | undefined;
    if (config.caFile !== null) {
      try {
        ca = await readFile(config.caFile);
      } catch (error) {
        this.fail(`cannot read the broker's CA file (mqtt.caFile: ${config.caFile}): ${(error as Error).message}`);
        return;
      }
    }
    this.listen();
    this.doorRelay = this.hasDoorRelay(this.options.door.status());
    // Loaded only when MQTT is configured: a unit without it carries none of the client's code.
    const { connect } = await import('mqtt');
    if (this.stopping) return;
    const clientOptions: IClientOptions = {
      // 23 characters at most, as MQTT 3.1.1 requires brokers to accept.
      clientId: `intercom-${this.options.unit.unitId.replaceAll('-', '').slice(0, 14)}`,
      username: config.username ?? undefined,
      password: config.password ?? undefined,
      protocolVersion: 4,
      clean: true,
      keepalive: this.options.keepaliveS ?? 30,
      connectTimeout: this.options.connectTimeoutMs ?? 10_000,
      // Reconnection is ours (with backoff); so is the queue of what happens meanwhile.
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: this.topics.availability, payload: Buffer.from('offline'), qos: 1, retain: true },
      ...(ca ? { ca: [ca] } : {}),
      rejectUnauthorized: true,
    };
    logger.info({ broker: this.broker, topicPrefix: this.status().topicPrefix, tls: this.status().tls }, `MQTT: connecting to ${this.broker}`);
    this.connectionAttempts++;
    const client = connect(config.url, clientOptions);
    this.client = client;
    client.on('connect', this.guarded('the announcement', () => this.onConnect()));
    client.on('close', this.guarded('the reconnection', () => this.onClose()));
    client.on('error', this.guarded('the error', (error: Error) => this.onError(error)));
    client.on('message', this.guarded('the answer to a command', (topic: string, payload: Buffer, packet: { retain: boolean }) => this.onMessage(topic, payload, packet.retain)));
    this.systemTimer = this.options.clock.setInterval(() => this.publishTemperature(), this.options.systemIntervalMs ?? 30_000);
  }

  /** Says goodbye (offline, retained) when connected, and closes the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    const { clock } = this.options;
    if (this.reconnectTimer) clock.clearTimeout(this.reconnectTimer);
    if (this.systemTimer) clock.clearInterval(this.systemTimer);
    this.reconnectTimer = this.systemTimer = null;
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (client.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        client.publish(this.topics.availability, 'offline', { qos: 1, retain: true }, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      // A clean disconnect (the broker then keeps the will to itself: offline is already said).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => client.end(true, {}, () => resolve()), 2000);
        client.end(false, {}, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } else {
      await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    }
    this.setState('off');
    this.options.logger.info({ broker: this.broker }, 'MQTT: disconnected (the unit is stopping)');
  }

  // ---- the connection ------------------------------------------------------------------------

  private onConnect(): void {
    const { logger } = this.options;
    this.generation++;
    this.connections++;
    this.backoff.reset();
    this.connectedSince = this.wallClock().toISOString();
    this.lastError = null;
    this.lastLoggedError = null;
    this.sent.clear();
    logger.info({ broker: this.broker, connections: this.connections }, `MQTT: connected to ${this.broker}`);
    this.setState('connected');
    this.client?.subscribe([...commandTopics(this.topics), this.birthTopic], { qos: 1 }, (error) => {
      if (error) logger.warn({ err: error }, 'MQTT: could not subscribe to the command topics; Home Assistant cannot control this unit until the next connection');
    });
    this.announce();
    this.sendBacklog();
  }

  private onClose(): void {
    if (this.stopping) return;
    // What was sent but not acknowledged may never have arrived: it goes back to be sent again.
    for (const [event, at] of this.unacknowledged) this.backlog.add(event, at);
    this.unacknowledged.clear();
    const wasConnected = this.state === 'connected';
    this.connectedSince = null;
    if (wasConnected) this.options.logger.warn({ broker: this.broker, reason: this.lastError }, `MQTT: connection to ${this.broker} lost; reconnecting`);
    this.setState('reconnecting');
    if (this.reconnectTimer) return;
    const delayMs = this.backoff.next();
    this.reconnectTimer = this.options.clock.setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopping || !this.client) return;
      this.connectionAttempts++;
      this.client.reconnect();
    }, delayMs);
  }

  private onError(error: Error): void {
    this.lastError = error.message;
    // One line per kind of failure, not one per attempt while the broker stays away.
    if (error.message !== this.lastLoggedError) {
      this.lastLoggedError = error.message;
      this.options.logger.warn({ broker: this.broker, reason: error.message }, `MQTT: ${error.message}; retrying with backoff`);
    }
    this.emit('status', this.status());
  }

  private fail(reason: string): void {
    this.lastError = reason;
    this.options.logger.error({ broker: this.broker }, `MQTT is off: ${reason}`);
    this.setState('error');
  }

  private setState(state: MqttConnectionState): void {
    this.state = state;
    this.emit('status', this.status());
  }

  // ---- what the unit tells Home Assistant -----------------------------------------------------

  /**
   * A listener that cannot throw: the call service, the GPIO and do-not-disturb call these in
   * their own emit(), and nothing about MQTT may break a call or a door.
   */
  private guarded<Args extends unknown[]>(what: string, listener: (...args: Args) => void): (...args: Args) => void {
    return (...args: Args) => {
      try {
        listener(...args);
      } catch (error) {
        this.options.logger.error({ err: error }, `MQTT: could not publish ${what}`);
      }
    };
  }

  private listen(): void {
    const { calls, door, doNotDisturb } = this.options;
    const onCall = this.guarded('a call change', (call: CallSnapshot) => this.onCall(call));
    const onStats = this.guarded('call figures', (call: CallSnapshot) => this.noteStats(call));
    const onDoor = this.guarded('the door', (status: GpioStatus) => this.onDoor(status));
    const onDnd = this.guarded('do-not-disturb', () => this.publishDoNotDisturb());
    calls.on('call', onCall);
    calls.on('stats', onStats);
    door.on('status', onDoor);
    doNotDisturb.on('changed', onDnd);
    this.unsubscribers.push(
      () => calls.off('call', onCall),
      () => calls.off('stats', onStats),
      () => door.off('status', onDoor),
      () => doNotDisturb.off('changed', onDnd),
    );
  }

  private publish(topic: string, payload: string, options: { retain: boolean; qos: 0 | 1 }, done?: (error?: Error) => void): boolean {
    const client = this.client;
    if (!client?.connected) return false;
    client.publish(topic, payload, options, (error) => done?.(error));
    return true;
  }

  /** A retained state, sent only when it differs from what this connection last sent. */
  private publishState(topic: string, payload: string): void {
    if (this.sent.get(topic) === payload) return;
    if (this.publish(topic, payload, { retain: true, qos: 1 })) this.sent.set(topic, payload);
  }

  /** Everything Home Assistant needs to show the unit: availability, the discovery of each entity, every state. */
  private announce(): void {
    const { unit } = this.options;
    this.publish(this.topics.availability, 'online', { retain: true, qos: 1 });
    for (const message of discoveryMessages({
      unit: { ...unit, panelUrl: this.options.panelUrl() },
      discoveryPrefix: this.options.config.discoveryPrefix,
      topics: this.topics,
      doorRelay: this.doorRelay,
      callTarget: this.options.callTarget,
    })) {
      this.publish(message.topic, message.config ? JSON.stringify(message.config) : '', { retain: true, qos: 1 });
    }
    this.sent.clear();
    this.publishCallState();
    this.publishDoNotDisturb();
    this.publishDoor(this.options.door.status());
    this.publishTemperature();
    if (this.lastCall) this.publishState(this.topics.lastCall, this.lastCall);
  }

  private onCall(call: CallSnapshot): void {
    if (call.direction === 'incoming' && !this.rung.has(call.id) && (call.phase === 'ringing' || call.endReason === 'busy')) {
      this.rung.add(call.id);
      if (this.rung.size > 100) this.rung.delete(this.rung.values().next().value!);
      this.ring(ringEventOf(call));
    }
    this.noteStats(call);
    if (call.phase === 'ended') {
      this.lastEnded = call;
      const stats = this.liveStats?.callId === call.id ? this.liveStats.stats : null;
      if (stats && call.activeMs !== null) {
        this.lastCall = JSON.stringify(lastCallOf(call, stats, this.wallClock()));
        this.publishState(this.topics.lastCall, this.lastCall);
      }
      if (this.liveStats?.callId === call.id) this.liveStats = null;
    }
    this.publishCallState();
  }

  private noteStats(call: CallSnapshot): void {
    if (call.phase === 'active' && call.stats) this.liveStats = { callId: call.id, stats: call.stats };
  }

  private publishCallState(): void {
    const live = this.options.calls.current();
    // Attributes first: an automation triggered by the state change then reads the peer of this call.
    this.publishState(this.topics.callAttributes, JSON.stringify(callAttributesOf(live, this.lastEnded)));
    this.publishState(this.topics.callState, callStateOf(live));
  }

  private publishDoNotDisturb(): void {
    this.publishState(this.topics.dndState, this.options.doNotDisturb.status().enabled ? 'ON' : 'OFF');
  }

  private hasDoorRelay(status: GpioStatus): boolean {
    return status.available && status.doorRelay !== null;
  }

  private onDoor(status: GpioStatus): void {
    const relay = this.hasDoorRelay(status);
    if (relay !== this.doorRelay) {
      // GPIO came up (or went): the lock and the open button appear in (or leave) Home Assistant.
      this.doorRelay = relay;
      if (this.client?.connected) this.announce();
      return;
    }
    this.publishDoor(status);
  }

  private publishDoor(status: GpioStatus): void {
    if (!status.available || !status.doorRelay) return;
    this.publishState(this.topics.doorState, status.doorRelay.energised ? 'OPEN' : 'LOCKED');
  }

  private publishTemperature(): void {
    const celsius = this.options.system().temperatureC;
    this.publishState(this.topics.cpuTemperature, celsius === null ? 'None' : String(celsius));
  }

  /** A doorbell ring: sent now, or kept until the broker can be reached again. */
  private ring(event: RingEvent): void {
    const at = this.options.clock.now();
    this.options.logger.info({ callId: event.call_id, caller: event.caller, callee: event.callee, connected: this.state === 'connected' }, 'MQTT: doorbell ring');
    if (!this.sendRing(event, at)) {
      this.backlog.add(event, at);
      this.emit('status', this.status());
    }
  }

  private sendRing(event: RingEvent, at: number): boolean {
    const generation = this.generation;
    const sent = this.publish(this.topics.doorbell, JSON.stringify(event), { retain: false, qos: 1 }, (error) => {
      if (generation !== this.generation || !this.unacknowledged.has(event)) return;
      this.unacknowledged.delete(event);
      if (error) {
        this.backlog.add(event, at);
      } else {
        this.ringCounts.published++;
        if (event.delayed) this.ringCounts.delayed++;
      }
      this.emit('status', this.status());
    });
    if (sent) this.unacknowledged.set(event, at);
    return sent;
  }

  /** After a reconnection: the rings of the last minute, oldest first, marked delayed and with their own time. */
  private sendBacklog(): void {
    const { send, dropped } = this.backlog.take(this.options.clock.now());
    if (dropped > 0) this.options.logger.warn({ dropped }, `MQTT: ${dropped} ring event(s) older than ${this.backlog.maxAgeMs / 1000} s not sent`);
    if (send.length > 0) this.options.logger.info({ count: send.length }, `MQTT: sending ${send.length} ring event(s) from while the broker was out of reach`);
    for (const { item, at } of send) {
      if (!this.sendRing({ ...item, delayed: true }, at)) this.backlog.add(item, at);
    }
    this.emit('status', this.status());
  }

  // ---- what Home Assistant asks ----------------------------------------------------------------

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (topic === this.birthTopic) {
      // A retained birth message is Home Assistant's past, not a restart: everything was just announced.
      if (!retained && payload.length <= 16 && payload.toString('utf8') === 'online') {
        this.options.logger.info('MQTT: Home Assistant (re)started; announcing this unit again');
        this.announce();
      }
      return;
    }
    const parsed = parseCommand(this.topics, topic, payload, retained);
    if (!parsed.ok) {
      this.refuse(parsed.reason, topic, parsed.detail);
      return;
    }
    this.execute(parsed.command, topic).catch((error: Error) => this.refuse('failed', topic, error.message));
  }

  private async execute(command: BridgeCommand, topic: string): Promise<void> {
    const { calls, door, doNotDisturb, config } = this.options;
    switch (command.kind) {
      case 'open-door': {
        const result = door.pulseDoor({ outsideCall: config.allowDoorOpen });
        if (result.ok) return this.accept(topic, `door opened for ${result.pulseMs} ms`);
        const reason = DOOR_REFUSALS[result.code];
        const hint = result.code === 'no-active-call' ? ' (mqtt.allowDoorOpen is false: Home Assistant opens the door only during a call)' : '';
        return this.refuse(reason, topic, `${result.reason}${hint}`);
      }
      case 'lock-door':
        // A door strike locks by itself once the pulse ends; say how the door is.
        this.sent.delete(this.topics.doorState);
        this.publishDoor(door.status());
        return this.accept(topic, 'lock: the door locks by itself');
      case 'do-not-disturb': {
        const unchanged = doNotDisturb.status().enabled === command.enabled;
        try {
          await doNotDisturb.set(command.enabled, 'mqtt');
        } catch (error) {
          return this.refuse('storage-failed', topic, `do-not-disturb could not be stored: ${(error as Error).message}`);
        }
        if (unchanged) {
          // Nothing changed, so nothing was announced: the switch in Home Assistant is shown the truth again.
          this.sent.delete(this.topics.dndState);
          this.publishDoNotDisturb();
        }
        return this.accept(topic, `do-not-disturb ${command.enabled ? 'on' : 'off'}`);
      }
      case 'hang-up': {
        const live = calls.current();
        if (!live) return this.refuse('no-call', topic, 'there is no call to hang up');
        calls.end(live.id);
        return this.accept(topic, `call ${live.id} ended`);
      }
      case 'call-target': {
        const from = this.options.caller();
        if (!from) return this.refuse('no-local-user', topic, 'no user is registered on this unit to call from');
        try {
          const call = await calls.initiate(from, this.options.callTarget);
          return this.accept(topic, `calling ${this.options.callTarget} from ${from}: ${call.phase}${call.endReason ? ` (${call.endReason})` : ''}`);
        } catch (error) {
          if (error instanceof CallError) return this.refuse(error.code, topic, error.message);
          throw error;
        }
      }
    }
  }

  private accept(topic: string, what: string): void {
    this.commands.accepted++;
    this.options.logger.info({ topic }, `MQTT command: ${what}`);
    this.emit('status', this.status());
  }

  private refuse(reason: string, topic: string, detail: string): void {
    this.commands.refused++;
    this.commands.refusedByReason[reason] = (this.commands.refusedByReason[reason] ?? 0) + 1;
    const { clock, logger } = this.options;
    const now = clock.now();
    const log = this.refusalLog;
    if (now - log.windowStart >= REFUSAL_LOG_WINDOW_MS) {
      if (log.suppressed > 0) logger.warn({ suppressed: log.suppressed }, `MQTT: ${log.suppressed} more command(s) refused in the last minute (not logged one by one)`);
      this.refusalLog = { windowStart: now, logged: 0, suppressed: 0 };
    }
    if (this.refusalLog.logged < REFUSAL_LOG_LIMIT) {
      this.refusalLog.logged++;
      logger.warn({ topic, reason }, `MQTT command refused (${reason}): ${detail}`);
    } else {
      this.refusalLog.suppressed++;
    }
    this.emit('status', this.status());
  }
}
