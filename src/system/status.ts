import type { GpioStatus } from '../gpio/gpio-status.js';
import type { AudioDeviceState } from '../calls/call-media.js';
import type { SecurityStatus, StatusReport } from '../signaling/schemas.js';
import type { CallSnapshot } from '../calls/call-service.js';
import type { PeerView } from '../peers/peer-directory.js';
import type { SystemFigures } from './system-sampler.js';
import type { Clock } from './clock.js';
import type { DoNotDisturbStatus } from '../calls/do-not-disturb.js';
import type { MqttStatus } from '../mqtt/mqtt-status.js';
import type { AudioLevelsStatus } from '../audio/audio-levels.js';
import type { StoredSelfTest } from '../selftest/unit-selftest.js';

export interface StatusSources {
  unitId: string;
  unitName: string;
  version: string;
  clock: Clock;
  /** Clock time the service started. */
  startedAt: number;
  audio: () => AudioDeviceState;
  currentCall: () => CallSnapshot | null;
  localUsers: () => string[];
  peers: () => PeerView[];
  /** Latest cached host figures (never sampled on demand). */
  system: () => SystemFigures;
  gpio: () => GpioStatus | null;
  /** Unit-to-unit authentication figures (absent: the unit does not authenticate peers). */
  security?: () => SecurityStatus;
  doNotDisturb: () => DoNotDisturbStatus;
  /** calls.autoAnswer when it is on (null: calls ring until a person answers). */
  autoAnswer?: () => { delayMs: number } | null;
  /** The MQTT / Home Assistant connection (its `configured: false` form when mqtt.url is not set). */
  mqtt: () => MqttStatus;
  /** Volume, microphone gain and mute (absent: the report has none). */
  levels?: () => AudioLevelsStatus;
  /** The last acoustic self-test (null: never run; absent: the unit has no such test). */
  selfTest?: () => StoredSelfTest | null;
}

/** Assembles GET /api/status from cached figures only, so a status request costs no I/O. */
export function buildStatus(sources: StatusSources): StatusReport {
  const peers = sources.peers();
  return {
    unit: { id: sources.unitId, name: sources.unitName, version: sources.version },
    uptimeS: Math.floor((sources.clock.now() - sources.startedAt) / 1000),
    audio: sources.audio(),
    call: sources.currentCall(),
    users: sources.localUsers(),
    peers: { known: peers.length, online: peers.filter((peer) => peer.online).length },
    system: sources.system(),
    gpio: sources.gpio(),
    security: sources.security?.() ?? { peerRequests: null },
    doNotDisturb: sources.doNotDisturb(),
    autoAnswer: sources.autoAnswer?.() ?? null,
    mqtt: sources.mqtt(),
    ...(sources.levels ? { levels: sources.levels() } : {}),
    ...(sources.selfTest ? { selfTest: sources.selfTest() } : {}),
  };
}
